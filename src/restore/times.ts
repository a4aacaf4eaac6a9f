/**
 * Setting restored files' times, fast on local disks and on network file systems alike.
 * Times must be nanosecond-exact, which only libc's futimens gives (fs.futimes takes seconds
 * as a double: ~240 ns steps), and bun:ffi calls are synchronous: on a mount where each
 * SETATTR is a 0.5 ms round trip, doing them on the main thread would cap a restore near
 * 2,000 files/s whatever else is in flight.
 *
 *   set(fd, t): inline futimens while calls are cheap (a local disk: a few µs each);
 *               once the running mean of inline calls passes SLOW_NS, every later call goes to
 *               a pool of POOL workers (started then), batched per turn of the event loop
 *               (_times-worker.ts), so up to POOL round trips overlap
 *   close():    stops the workers
 *
 * The caller keeps the descriptor open until set() has resolved.
 */
import type { TimesAnswer, TimesRequest } from "./worker-protocol.ts";

/** A parsed nanosecond timestamp (metadata.ts parseNs). */
export interface Timespec {
  sec: bigint;
  nsec: bigint;
}

const SLOW_NS = 150_000;
const POOL = 8;
/** Inline calls measured before deciding. */
const SAMPLE = 16;

/** Sets times of open descriptors. */
export interface TimesSetter {
  set(fd: number, t: Timespec): Promise<void>;
  close(): void;
}

function workerUrl(): string {
  return import.meta.url.includes("$bunfs") ? new URL("./restore/_times-worker.ts", import.meta.url).href : new URL("./_times-worker.ts", import.meta.url).href;
}

interface Pending {
  fd: number;
  t: Timespec;
  done: (err: unknown) => void;
}

/** Creates the times setter of one restore; `inline` sets times on this thread (metadata.ts setFdTimes). `options.pool` forces the pool (tests). */
export function createTimesSetter(inlineSet: (fd: number, t: Timespec) => void, options: { pool?: boolean } = {}): TimesSetter {
  let workers: Worker[] | null = null;
  let next = 0;
  let calls = 0;
  let totalNs = 0;
  let slow = options.pool === true;
  let queue: Pending[] = [];
  let scheduled = false;
  let batchId = 0;
  const waiting = new Map<number, Pending[]>();

  function start(): Worker[] | null {
    if (workers) return workers;
    try {
      workers = Array.from({ length: POOL }, () => {
        const w = new Worker(workerUrl());
        w.onmessage = (e: MessageEvent<TimesAnswer>) => {
          const batch = waiting.get(e.data.id);
          waiting.delete(e.data.id);
          batch?.forEach((p, i) => {
            const code = e.data.errors[i];
            p.done(code ? Object.assign(new Error(`${code}: futimens`), { code, syscall: "futimens" }) : null);
          });
        };
        w.unref();
        return w;
      });
    } catch {
      workers = null;
      slow = false; // no workers here: inline it is
    }
    return workers;
  }

  function flush(): void {
    scheduled = false;
    const ws = start();
    const items = queue;
    queue = [];
    if (!ws) {
      for (const p of items) inline(p);
      return;
    }
    // Spread the batch over the workers: each takes a share, all work at once.
    const per = Math.max(1, Math.ceil(items.length / ws.length));
    for (let i = 0; i < items.length; i += per) {
      const part = items.slice(i, i + per);
      const id = ++batchId;
      waiting.set(id, part);
      const times = new BigInt64Array(part.length * 2);
      part.forEach((p, k) => {
        times[2 * k] = p.t.sec;
        times[2 * k + 1] = p.t.nsec;
      });
      const request: TimesRequest = { id, fds: part.map((p) => p.fd), times };
      ws[next++ % ws.length]!.postMessage(request);
    }
  }

  function inline(p: Pending): void {
    try {
      inlineSet(p.fd, p.t);
      p.done(null);
    } catch (err) {
      p.done(err);
    }
  }

  return {
    set(fd, t) {
      return new Promise<void>((resolve, reject) => {
        const p: Pending = { fd, t, done: (err) => (err ? reject(err) : resolve()) };
        if (!slow) {
          const t0 = Bun.nanoseconds();
          inline(p);
          if (calls < SAMPLE || calls % 256 === 0) {
            calls++;
            totalNs += Bun.nanoseconds() - t0;
            if (calls >= SAMPLE && totalNs / calls > SLOW_NS) slow = true;
          } else calls++;
          return;
        }
        queue.push(p);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    close() {
      for (const w of workers ?? []) w.terminate();
      workers = null;
    },
  };
}
