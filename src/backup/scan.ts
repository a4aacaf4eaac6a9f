/**
 * A quick count of what a backup will see, for progress on a terminal (as restic's scanner
 * does): files and bytes under a directory, lstat only, many requests in flight, run beside
 * the backup. It does not apply excludes (the figure is an estimate: progress says "~"), never
 * follows symlinks, skips what it cannot read, and stops when asked.
 *
 *   queue = [root]; up to CONCURRENCY directories listed at once
 *   each entry: directory -> queue; regular file -> lstat, count its size
 *   done when the queue is empty and nothing is in flight
 */
import { lstat, readdir } from "node:fs/promises";

/** Directories listed (and their files stat'ed) at once. */
const CONCURRENCY = 16;

/** Running totals of a scan; `done` once every directory was listed. */
export interface ScanTotals {
  files: number;
  bytes: number;
  done: boolean;
  /** Stops the scan (its totals stay as they are, `done` false). */
  stop(): void;
  /** Resolves when the scan has ended (done or stopped). */
  readonly finished: Promise<void>;
}

/** Starts counting the files and bytes under `root` (a path the process can read). */
export function scanTotals(root: string | Buffer): ScanTotals {
  let stopped = false;
  const queue: Buffer[] = [typeof root === "string" ? Buffer.from(root) : root];
  let running = 0;
  let finish!: () => void;
  const totals: ScanTotals = {
    files: 0,
    bytes: 0,
    done: false,
    stop() {
      stopped = true;
    },
    finished: new Promise<void>((r) => (finish = r)),
  };

  async function list(dir: Buffer): Promise<void> {
    let names: Buffer[];
    try {
      names = await readdir(dir, { encoding: "buffer" });
    } catch {
      return;
    }
    for (const name of names) {
      if (stopped) return;
      const path = Buffer.concat([dir, Buffer.of(0x2f), name]);
      try {
        const st = await lstat(path);
        if (st.isDirectory()) queue.push(path);
        else if (st.isFile()) {
          totals.files++;
          totals.bytes += st.size;
        }
      } catch {
        // vanished or unreadable: the backup will say so
      }
    }
  }

  function pump(): void {
    while (!stopped && running < CONCURRENCY && queue.length > 0) {
      running++;
      void list(queue.pop()!).finally(() => {
        running--;
        pump();
      });
    }
    if (running === 0 && (stopped || queue.length === 0)) {
      totals.done = !stopped;
      finish();
    }
  }
  pump();
  return totals;
}
