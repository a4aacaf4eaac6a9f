/**
 * Output written as it is produced, with back-pressure, so memory stays bounded and a slow
 * reader never loses bytes:
 *
 *   streamTo(out)        raw bytes or text (dump, find): each write waits for "drain" when the
 *                        pipe is full; a reader that goes away (EPIPE) fails the next write
 *   createStreamOut(out) listings (ls, diff): text appended to a buffer; past FLUSH_BYTES the
 *                        buffer goes to the stream, and when the stream says it is full
 *                        (write() -> false) we wait for "drain" (or abort); either way one turn of
 *                        the event loop passes, so that SIGINT/SIGTERM are seen even while a walk
 *                        runs on cached listings (microtasks only); end() writes what is left
 *
 * A command that streams returns an Outcome with `streamed: true`: cli/main.ts prints nothing
 * more for it.
 */
import { EfsbakError } from "../errors.ts";
import type { Out } from "./context.ts";

interface Emitter {
  once(event: string, cb: (...args: unknown[]) => void): unknown;
  on(event: string, cb: (...args: unknown[]) => void): unknown;
  removeListener(event: string, cb: (...args: unknown[]) => void): unknown;
}

/** A writer over `out` whose promise resolves when more may be written. */
export function streamTo(out: Out): { write(chunk: Uint8Array | string): Promise<void> } {
  const em = typeof (out as Partial<Emitter>).once === "function" ? (out as unknown as Emitter) : null;
  let failed: Error | null = null;
  let wake: (() => void) | null = null;
  em?.on("error", (err) => {
    failed = err as Error;
    wake?.();
  });
  const check = () => {
    if (failed) throw new EfsbakError(`Cannot write to stdout: ${(failed as NodeJS.ErrnoException).code === "EPIPE" ? "the reader closed the pipe" : failed.message}`, { exitCode: 1 });
  };
  return {
    async write(chunk) {
      check();
      const ok = (out.write as (c: Uint8Array | string) => boolean | void)(chunk);
      if (ok === false && em) {
        await new Promise<void>((resolve) => {
          const done = () => {
            em.removeListener("drain", done);
            wake = null;
            resolve();
          };
          wake = done;
          em.once("drain", done);
        });
      }
      check();
    },
  };
}

/** Runs a streaming command body; when SIGINT/SIGTERM stopped it, says so plainly (exit 1) instead of an internal error. */
export async function untilInterrupted<T>(what: string, signal: AbortSignal | undefined, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (signal?.aborted && !(err instanceof EfsbakError)) throw interrupted(what, err);
    throw err;
  }
}

const FLUSH_BYTES = 64 * 1024;

/** A stream as Node and Bun have it: write() says whether to wait for "drain". */
interface Drainable {
  write(s: string): boolean | void;
  once?(event: "drain", listener: () => void): unknown;
  removeListener?(event: "drain", listener: () => void): unknown;
}

/** Buffered, back-pressured writes of a listing. */
export interface StreamOut {
  write(text: string): Promise<void>;
  end(): Promise<void>;
}

/** Writes to `out` as text comes; waiting for a full pipe stops when `signal` aborts. */
export function createStreamOut(out: Out, signal?: AbortSignal): StreamOut {
  const stream = out as Drainable;
  let buffer = "";

  async function flush(): Promise<void> {
    if (buffer === "") return;
    const text = buffer;
    buffer = "";
    if (stream.write(text) !== false || !stream.once) return new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => {
      const done = () => {
        stream.removeListener?.("drain", done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      stream.once!("drain", done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  return {
    async write(text) {
      buffer += text;
      if (buffer.length >= FLUSH_BYTES) await flush();
    },
    end: flush,
  };
}

/** Lets one turn of the event loop pass (signals, timers), at most every `every` calls. */
export function createTicker(every = 8192): () => Promise<void> | void {
  let n = 0;
  return () => {
    if (++n % every === 0) return new Promise<void>((resolve) => setImmediate(resolve));
  };
}

/** The error of a listing stopped by SIGINT/SIGTERM (exit 130, like a shell). */
export function interrupted(what: string, cause?: unknown): EfsbakError {
  return new EfsbakError(`Stopped ${what}: interrupted`, { exitCode: 130, hint: "the output above is incomplete", cause });
}
