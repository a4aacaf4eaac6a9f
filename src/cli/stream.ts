/**
 * Streaming to stdout with back-pressure: a command that writes as it goes (dump, find)
 * awaits "drain" whenever the pipe is full, so memory stays bounded and a slow reader never
 * loses bytes. A reader that goes away (EPIPE) fails the next write with a message.
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
    if (signal?.aborted && !(err instanceof EfsbakError)) throw new EfsbakError(`Stopped ${what}: interrupted`, { exitCode: 1, hint: "what was written to stdout is incomplete" });
    throw err;
  }
}
