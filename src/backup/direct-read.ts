/**
 * Reading large files past the page cache (O_DIRECT), for the main thread's reads.
 *
 * A buffered read of a file that is not cached makes the kernel allocate and fill a
 * page-cache page for every 4 KiB, on the reading thread. On the VMs we measured that costs
 * more system CPU than everything else the read does, and a backup reads each byte once, so
 * the cache buys nothing. Files of DIRECT_READ_MIN bytes and more are opened with O_DIRECT
 * and read in aligned 8 MiB steps into a reused aligned staging buffer, then copied where
 * the caller wants them (slots are not aligned: chunks carry over between them). A file
 * system that refuses O_DIRECT (at open or at the first read: tmpfs, some FUSE and network
 * file systems) is read the ordinary way; EFSBAK_DIRECT_IO=0 turns it off.
 */
import { closeSync, constants, openSync, read, readSync } from "node:fs";
import { DIRECT_ALIGN, alignedBuffer, directIoAvailable } from "../fs/direct-io.ts";
import { fsPath } from "../tree/name.ts";

/** Files smaller than this are read through the page cache. */
export const DIRECT_READ_MIN = 16 * 1024 * 1024;
const STAGE_BYTES = 8 * 1024 * 1024;

/** Staging buffers not in use (a read takes two; fresh pages are slow to touch). */
const idle: Uint8Array[] = [];

/** What one staging buffer holds: the file's bytes [base, base + held) once `ready` settles. */
interface Staged {
  buf: Uint8Array;
  base: number;
  held: number;
  ready: Promise<void>;
}

/**
 * An open file, read by position; direct when it could be. Direct reads have no kernel
 * readahead, so this does its own: while the caller copies out of one staging buffer, the
 * next 8 MiB is read into the other on the thread pool.
 */
export class FileSource {
  #fd: number;
  #current: Staged | null = null;
  #next: Staged | null = null;
  #spare: Uint8Array[];
  #direct: boolean;

  private constructor(fd: number, direct: boolean) {
    this.#fd = fd;
    this.#direct = direct;
    this.#spare = direct ? [idle.pop() ?? alignedBuffer(STAGE_BYTES), idle.pop() ?? alignedBuffer(STAGE_BYTES)] : [];
  }

  /**
   * Opens path with `flags` (O_DIRECT added when size >= DIRECT_READ_MIN and the file system
   * takes it). `path` is in tree/name.ts's lossless form (opened by its exact bytes). Throws
   * what openSync throws.
   */
  static open(name: string, flags: number, size: number): FileSource {
    const path = fsPath(name);
    if (size >= DIRECT_READ_MIN && directIoAvailable()) {
      try {
        return new FileSource(openSync(path, flags | constants.O_DIRECT), true);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
      }
    }
    return new FileSource(openSync(path, flags), false);
  }

  /** The file descriptor (for fstat). */
  get fd(): number {
    return this.#fd;
  }

  /** Reads up to length bytes at file position pos into dst[at…]; fewer only at the end of the file. */
  async read(dst: Uint8Array, at: number, length: number, pos: number): Promise<number> {
    if (!this.#direct) return readSync(this.#fd, dst, at, length, pos);
    let cur = this.#current;
    if (!cur || pos < cur.base || pos >= cur.base + cur.held) {
      try {
        cur = await this.#stage(pos);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
        await this.#undirect();
        return readSync(this.#fd, dst, at, length, pos);
      }
      if (pos >= cur.base + cur.held) return 0; // end of file
    }
    const n = Math.min(length, cur.base + cur.held - pos);
    dst.set(cur.buf.subarray(pos - cur.base, pos - cur.base + n), at);
    return n;
  }

  /** Waits for reads under way, then closes the file and gives the buffers back. */
  async close(): Promise<void> {
    for (const s of [this.#current, this.#next]) {
      if (!s) continue;
      await s.ready.catch(() => {});
      this.#spare.push(s.buf);
    }
    this.#current = this.#next = null;
    if (this.#direct) idle.push(...this.#spare.splice(0));
    closeSync(this.#fd);
  }

  /** The file system took O_DIRECT at open but not for reads: reopen the same file the ordinary way. */
  async #undirect(): Promise<void> {
    const fd = openSync(`/proc/self/fd/${this.#fd}`, constants.O_RDONLY);
    await this.close();
    this.#fd = fd;
    this.#direct = false;
  }

  /** Makes the staging buffer holding pos current (the prefetched one if it does), and prefetches the one after. */
  async #stage(pos: number): Promise<Staged> {
    const base = pos - (pos % DIRECT_ALIGN);
    if (this.#current) this.#spare.push(this.#current.buf);
    let cur = this.#next;
    this.#next = null;
    if (cur && cur.base !== base) {
      await cur.ready.catch(() => {});
      this.#spare.push(cur.buf);
      cur = null;
    }
    cur ??= this.#fill(base);
    this.#current = cur;
    await cur.ready;
    if (cur.held === STAGE_BYTES) this.#next = this.#fill(base + STAGE_BYTES);
    return cur;
  }

  /** Starts reading STAGE_BYTES at base (aligned) into a spare buffer, on the thread pool. */
  #fill(base: number): Staged {
    const buf = this.#spare.pop()!;
    const staged: Staged = { buf, base, held: 0, ready: Promise.resolve() };
    staged.ready = (async () => {
      while (staged.held < STAGE_BYTES) {
        const r = await readAt(this.#fd, buf, staged.held, STAGE_BYTES - staged.held, base + staged.held);
        if (r === 0) break;
        staged.held += r;
        if (staged.held % DIRECT_ALIGN !== 0) break; // a short read ends only at the end of the file
      }
    })();
    return staged;
  }
}

/** fs.read as a promise (runs on the thread pool). */
function readAt(fd: number, buf: Uint8Array, at: number, length: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, at, length, pos, (err, n) => (err ? reject(err) : resolve(n))));
}
