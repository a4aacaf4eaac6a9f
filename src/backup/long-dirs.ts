/**
 * Descriptors of directories whose paths are long (source-fs.ts: their entries are reached
 * as /proc/self/fd/<fd>/<name>), for the walker. A descriptor stays open until every read
 * under its directory is done, so the walk bounds how many finished walks still hold one:
 * at MAX_OPEN_DIRS it sends the current slot (their reads must reach a worker) and waits.
 */
import { type SourceDir, closeSourceDir, openSourceDir } from "./source-fs.ts";
import type { Pipeline } from "./pipeline.ts";

/** Directory descriptors (long paths) open at once, beyond those of the directories being walked. */
const MAX_OPEN_DIRS = 64;

/** An open directory descriptor and whether its directory is still being walked. */
interface OpenDir {
  walking: boolean;
  closed: Promise<void>;
}

/** A directory opened for its walk: call `walked` once the walk is done, with what its entries still wait for. */
export interface HeldDir {
  dir: SourceDir;
  walked(pending: Promise<unknown>): void;
}

/** The long-path directories of one walk. */
export class LongDirs {
  readonly #open = new Set<OpenDir>();
  readonly #pipeline: Pick<Pipeline, "dispatch" | "until">;

  constructor(pipeline: Pick<Pipeline, "dispatch" | "until">) {
    this.#pipeline = pipeline;
  }

  /** Opens the directory at `path` once there is room; an errno code when it cannot be opened. */
  async open(path: string): Promise<HeldDir | { error: string }> {
    await this.#room();
    let dir: SourceDir;
    try {
      dir = openSourceDir(path);
    } catch (err) {
      return { error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
    }
    let release!: () => void;
    const open: OpenDir = { walking: true, closed: new Promise<void>((r) => (release = r)) };
    this.#open.add(open);
    return {
      dir,
      walked: (pending) => {
        open.walking = false;
        const close = () => {
          closeSourceDir(dir);
          this.#open.delete(open);
          release();
        };
        pending.then(close, close);
      },
    };
  }

  /** Waits until fewer than MAX_OPEN_DIRS descriptors of finished walks are open. */
  async #room(): Promise<void> {
    for (;;) {
      const waiting = [...this.#open].filter((d) => !d.walking);
      if (waiting.length < MAX_OPEN_DIRS) return;
      this.#pipeline.dispatch();
      await this.#pipeline.until(Promise.race(waiting.map((d) => d.closed)));
    }
  }
}
