/**
 * Reading a large file for the main thread's chunker, with reads in flight ahead of it.
 *
 * A file is read in PIECE_BYTES pieces at aligned offsets, up to AHEAD pieces at once, on the
 * I/O thread pool, into reused staging buffers; the caller copies out of them in order. On a
 * network mount every read is a round trip: one read at a time leaves the link idle while the
 * chunker works, and reads of the next pieces overlap those of this one (measured on latfs at
 * 500 µs: docs/performance.md). On a local disk the kernel's readahead does the same for the
 * buffered reads, and the pieces cost a copy.
 *
 * Past the page cache (O_DIRECT): a buffered read of a file that is not cached makes the
 * kernel allocate and fill a page-cache page for every 4 KiB, on the reading thread. On the
 * VMs we measured that costs more system CPU than everything else the read does, and a backup
 * reads each byte once, so the cache buys nothing. Files of DIRECT_READ_MIN bytes and more are
 * opened with O_DIRECT; direct reads have no kernel readahead, so the pieces in flight are
 * the readahead. A file system that refuses O_DIRECT (at open or at the first read: tmpfs,
 * some FUSE and network file systems) is read the ordinary way; the backup's `directReads`
 * option (cli: EFSBAK_DIRECT_IO=0) turns it off.
 */
import { close, constants, open, read } from "node:fs";
import { DIRECT_ALIGN, alignedBuffer, directIoSupported } from "../fs/direct-io.ts";
import { fsPath } from "../tree/name.ts";

/** Files smaller than this are read through the page cache. */
export const DIRECT_READ_MIN = 16 * 1024 * 1024;
/** One read's length (a multiple of DIRECT_ALIGN). */
const PIECE_BYTES = 1024 * 1024;
/** Reads in flight ahead of the caller, at most (staging memory: AHEAD × PIECE_BYTES for the file being read, one piece for each opened ahead). */
const AHEAD = 8;

/** Staging buffers not in use (fresh pages are slow to touch). */
const idle: Uint8Array[] = [];

/** One piece: the file's bytes [base, base + held) once `ready` settles. */
interface Piece {
  buf: Uint8Array;
  base: number;
  held: number;
  ready: Promise<void>;
}

/**
 * An open file, read by position (in order: a jump back or ahead starts the window anew);
 * direct when it could be.
 */
export class FileSource {
  #fd: number;
  #direct: boolean;
  /** Pieces started, in file order: window[0] holds the caller's position (or is ahead of it). */
  #window: Piece[] = [];
  /** Where the next piece to start begins, and the end of the file as lstat saw it. */
  #next = 0;
  #size: number;
  /** Pieces kept in flight: one while the file waits for its turn, AHEAD once it is being read. */
  #ahead: number;

  private constructor(fd: number, direct: boolean, size: number, ahead: number) {
    this.#fd = fd;
    this.#direct = direct;
    this.#size = size;
    this.#ahead = ahead;
    if (ahead > 0) this.#fillWindow(0);
  }

  /**
   * Opens path with `flags` (O_DIRECT added when size >= DIRECT_READ_MIN and the file system
   * takes it), on the thread pool. `path` is in tree/name.ts's lossless form (opened by its
   * exact bytes). Rejects with what open fails with. `size` (the walker's lstat) bounds the
   * reads started ahead. `waiting`: the file is opened ahead of its turn, so only its first
   * piece is read until `reading()` says the turn has come. `direct`: false never tries O_DIRECT.
   */
  static async open(name: string, flags: number, size: number, options: { waiting?: boolean; direct?: boolean } = {}): Promise<FileSource> {
    const path = fsPath(name);
    const ahead = options.waiting ? 1 : AHEAD;
    if (size >= DIRECT_READ_MIN && options.direct !== false && directIoSupported()) {
      try {
        return new FileSource(await openAt(path, flags | constants.O_DIRECT), true, size, ahead);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
      }
    }
    return new FileSource(await openAt(path, flags), false, size, ahead);
  }

  /** The file's turn has come: keep AHEAD reads in flight from now on. */
  reading(): void {
    this.#ahead = AHEAD;
  }

  /** The file descriptor (for fstat). */
  get fd(): number {
    return this.#fd;
  }

  /** Reads up to length bytes at file position pos into dst[at…]; fewer only at the end of a piece or of the file. */
  async read(dst: Uint8Array, at: number, length: number, pos: number): Promise<number> {
    let piece: Piece;
    try {
      piece = await this.#pieceAt(pos);
    } catch (err) {
      if (!this.#direct || (err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
      await this.#undirect();
      piece = await this.#pieceAt(pos);
    }
    if (pos >= piece.base + piece.held) return 0; // end of file
    const n = Math.min(length, piece.base + piece.held - pos);
    dst.set(piece.buf.subarray(pos - piece.base, pos - piece.base + n), at);
    return n;
  }

  /** Waits for reads under way, then closes the file and gives the buffers back. */
  async close(): Promise<void> {
    await this.#drop();
    await closeAt(this.#fd);
  }

  /** The piece holding pos, once read; pieces before it are given back and the window refilled. */
  async #pieceAt(pos: number): Promise<Piece> {
    const base = pos - (pos % PIECE_BYTES);
    const w = this.#window;
    if (w.length === 0 || base < w[0].base || base >= this.#next) {
      await this.#drop();
      this.#next = base;
    }
    while (w.length > 0 && w[0].base < base) this.#giveBack(w.shift()!);
    this.#fillWindow(base);
    await w[0].ready;
    return w[0];
  }

  /** Starts reads until AHEAD are under way or the file's known end is covered. */
  #fillWindow(from: number): void {
    const w = this.#window;
    if (w.length === 0) this.#next = from;
    while (w.length < this.#ahead && (this.#next < this.#size || w.length === 0)) {
      w.push(this.#start(this.#next));
      this.#next += PIECE_BYTES;
    }
  }

  /** Starts reading PIECE_BYTES at base (aligned) into a staging buffer, on the thread pool. */
  #start(base: number): Piece {
    const buf = idle.pop() ?? alignedBuffer(PIECE_BYTES);
    const piece: Piece = { buf, base, held: 0, ready: Promise.resolve() };
    const fd = this.#fd;
    piece.ready = (async () => {
      while (piece.held < PIECE_BYTES) {
        const r = await readAt(fd, buf, piece.held, PIECE_BYTES - piece.held, base + piece.held);
        if (r === 0) break;
        piece.held += r;
        if (this.#direct && piece.held % DIRECT_ALIGN !== 0) break; // a short direct read ends only at the end of the file
      }
    })();
    piece.ready.catch(() => {}); // awaited by whoever needs it; not an unhandled rejection meanwhile
    return piece;
  }

  #giveBack(piece: Piece): void {
    piece.ready.then(() => idle.length < AHEAD * 2 && idle.push(piece.buf), () => {});
  }

  /** Waits for every read under way and gives their buffers back. */
  async #drop(): Promise<void> {
    const w = this.#window.splice(0);
    await Promise.all(w.map((p) => p.ready.catch(() => {})));
    for (const p of w) if (idle.length < AHEAD * 2) idle.push(p.buf);
  }

  /** The file system took O_DIRECT at open but not for reads: reopen the same file the ordinary way. */
  async #undirect(): Promise<void> {
    await this.#drop();
    const fd = await openAt(`/proc/self/fd/${this.#fd}`, constants.O_RDONLY);
    await closeAt(this.#fd);
    this.#fd = fd;
    this.#direct = false;
  }
}

function openAt(path: string | Buffer, flags: number): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function closeAt(fd: number): Promise<void> {
  return new Promise((resolve) => close(fd, () => resolve()));
}

/** fs.read as a promise (runs on the thread pool). */
function readAt(fd: number, buf: Uint8Array, at: number, length: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, at, length, pos, (err, n) => (err ? reject(err) : resolve(n))));
}
