/**
 * An exclusive queue: tasks that run one after another, each with the pipeline's slots to
 * itself (main-thread reads, small-file reservations that had to wait). While any is pending,
 * small-file reservations queue behind it instead of taking the fast path (pipeline.ts).
 */

/** Runs tasks one at a time, in the order given. */
export interface ExclusiveQueue {
  /** Runs f once every task given before it has settled; resolves or rejects as f does. */
  run<T>(f: () => Promise<T>): Promise<T>;
  /** Tasks given and not yet settled (0: nothing runs or waits). */
  readonly pending: number;
}

/** Creates an empty queue. */
export function createExclusiveQueue(): ExclusiveQueue {
  let pending = 0;
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run<T>(f: () => Promise<T>): Promise<T> {
      pending++;
      const run = tail.then(f);
      tail = run.then(noop, noop);
      return run.finally(() => pending--);
    },
    get pending() {
      return pending;
    },
  };
}

function noop(): void {}
