/**
 * Bounded concurrency for the backup's file system requests (pure scheduling, no I/O).
 *
 * On a network file system every lstat, readdir, open, read and close is a round trip of
 * 0.2–1 ms; only many requests in flight make a walk fast (Little's law: 6,000 files/s at
 * ~3 ms of round trips per file needs ~20 files in flight). A Limiter lets at most `limit`
 * tasks run at once and queues the rest. Queued tasks start newest first (LIFO) when
 * `lifo` is set: for the walk that keeps it close to depth first, so the directories whose
 * trees are pending (their nodes in memory) stay few.
 *
 * A task holds its place only while its own I/O runs: tasks never wait on other tasks of
 * the same limiter, so the limiter cannot deadlock.
 */
export class Limiter {
  readonly limit: number;
  readonly #lifo: boolean;
  readonly #queue: (() => void)[] = [];
  #running = 0;
  /** Most tasks seen running at once (for tests and figures). */
  peak = 0;

  constructor(limit: number, options: { lifo?: boolean } = {}) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`Limiter: limit must be a positive integer, got ${limit}`);
    this.limit = limit;
    this.#lifo = options.lifo ?? false;
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /** Tasks waiting for a place. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Runs f once a place is free; resolves or rejects as f does. */
  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.#running >= this.limit) await new Promise<void>((r) => this.#queue.push(r));
    else this.#running++;
    if (this.#running > this.peak) this.peak = this.#running;
    try {
      return await f();
    } finally {
      const next = this.#lifo ? this.#queue.pop() : this.#queue.shift();
      if (next) next(); // the place passes on: running stays the same
      else this.#running--;
    }
  }
}
