/**
 * Writing a new file in parts, with O_DIRECT where it pays (local storage only).
 *
 * A buffered write of a pack makes the kernel allocate and fill page-cache pages that the
 * fsync right after writes out anyway: measured here, 0.6–1.2 s of system CPU per GiB against
 * ~0.12 s with O_DIRECT, at the same disk throughput. A backup is CPU-bound, so that CPU is
 * time. Objects under DIRECT_MIN_BYTES are written buffered (nothing to gain).
 *
 * O_DIRECT needs the memory address, file offset and length of every write aligned to the
 * device's block size (4096 covers every common device). Parts that start at an aligned
 * address (pack pieces from alignedBuffer()) are written in place; anything else, and the
 * last partial block of each part, goes through an aligned staging buffer that carries over
 * to the next part. finish() pads the last block with zeros and truncates the file back.
 * File systems that refuse O_DIRECT (tmpfs, some FUSE and network file systems) answer
 * EINVAL: the file is then written buffered, and `onRefused` tells the storage to stop trying.
 */
import { ptr } from "bun:ffi";
import { constants } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { open, unlink } from "node:fs/promises";

/** Alignment of address, offset and length of direct writes. */
export const DIRECT_ALIGN = 4096;
/** Objects smaller than this are written buffered by save() (small files gain nothing). */
export const DIRECT_MIN_BYTES = 1024 * 1024;
/** Bytes per write call, and the size of a staging buffer. */
const PIECE = 4 * 1024 * 1024;
/** Staging buffers kept for reuse (fresh pages are slow to touch). */
const STAGING_KEPT = 2;

const staging: Uint8Array[] = [];

/** Whether the platform has O_DIRECT at all. Whether to use it is the caller's setting (EFSBAK_DIRECT_IO, read by cli/). */
export function directIoSupported(): boolean {
  return constants.O_DIRECT !== undefined;
}

/**
 * For backup/direct-read.ts only, until its caller passes the setting in: O_DIRECT exists and
 * EFSBAK_DIRECT_IO=0 does not turn it off. Storage writes take it as an option (local.ts `direct`).
 */
export function directWritesAvailable(): boolean {
  return directIoSupported() && process.env.EFSBAK_DIRECT_IO !== "0";
}

/** A view of `length` bytes of a new buffer that starts at an aligned address. */
export function alignedBuffer(length: number): Uint8Array {
  const raw = new Uint8Array(length + DIRECT_ALIGN);
  const skip = (DIRECT_ALIGN - (Number(ptr(raw)) % DIRECT_ALIGN)) % DIRECT_ALIGN;
  return raw.subarray(skip, skip + length);
}

function isAligned(bytes: Uint8Array): boolean {
  return bytes.length > 0 && Number(ptr(bytes)) % DIRECT_ALIGN === 0;
}

/** A new file (created O_EXCL, mode 0600) written in parts, then finished or aborted. */
export class FileWriter {
  #fh: FileHandle;
  #direct: boolean;
  readonly #path: string;
  readonly #onRefused: () => void;
  /** Bytes accepted so far (the file's length once finished). */
  #length = 0;
  /** Bytes on disk (a multiple of DIRECT_ALIGN while direct). */
  #written = 0;
  /** Direct mode: staged bytes not yet written (fewer than a block between parts). */
  #stage: Uint8Array | null = null;
  #staged = 0;

  private constructor(fh: FileHandle, path: string, direct: boolean, onRefused: () => void) {
    this.#fh = fh;
    this.#path = path;
    this.#direct = direct;
    this.#onRefused = onRefused;
  }

  /** Creates path; direct asks for O_DIRECT (falls back to buffered where refused). */
  static async create(path: string, direct: boolean, onRefused: () => void = () => {}): Promise<FileWriter> {
    // O_EXCL already refuses an existing link; O_NOFOLLOW says so (local storage follows nothing).
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    if (direct) {
      try {
        return new FileWriter(await open(path, flags | constants.O_DIRECT, 0o600), path, true, onRefused);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
        onRefused();
      }
    }
    return new FileWriter(await open(path, flags, 0o600), path, false, onRefused);
  }

  /** Appends part. */
  async write(part: Uint8Array): Promise<void> {
    this.#length += part.length;
    if (!this.#direct) {
      await this.#writeStaged();
      await this.#writeAt(part, this.#written);
      this.#written += part.length;
      return;
    }
    let at = 0;
    if (this.#staged === 0 && isAligned(part)) {
      const whole = part.length - (part.length % DIRECT_ALIGN);
      for (; at < whole; at += Math.min(PIECE, whole - at)) {
        await this.#writeDirect(part.subarray(at, at + Math.min(PIECE, whole - at)));
      }
    }
    const stage = (this.#stage ??= staging.pop() ?? alignedBuffer(PIECE));
    while (at < part.length) {
      const take = Math.min(PIECE - this.#staged, part.length - at);
      stage.set(part.subarray(at, at + take), this.#staged);
      this.#staged += take;
      at += take;
      const whole = this.#staged - (this.#staged % DIRECT_ALIGN);
      if (this.#staged === PIECE || (at === part.length && whole > 0)) {
        await this.#writeDirect(stage.subarray(0, whole));
        stage.copyWithin(0, whole, this.#staged);
        this.#staged -= whole;
      }
    }
  }

  /** Writes what is staged (the last block padded), truncates to length, fsyncs, closes. */
  async finish(): Promise<void> {
    try {
      if (this.#direct && this.#staged > 0) {
        const padded = Math.ceil(this.#staged / DIRECT_ALIGN) * DIRECT_ALIGN;
        this.#stage!.fill(0, this.#staged, padded);
        await this.#writeDirect(this.#stage!.subarray(0, padded));
        this.#staged = 0;
      }
      await this.#writeStaged();
      if (this.#written !== this.#length) await this.#fh.truncate(this.#length);
      await this.#fh.sync();
    } finally {
      await this.#close();
    }
  }

  /** Closes and removes the file. */
  async abort(): Promise<void> {
    await this.#close().catch(() => {});
    await unlink(this.#path).catch(() => {});
  }

  /** Buffered mode (after a refused direct write): writes what staging still holds. */
  async #writeStaged(): Promise<void> {
    if (this.#staged === 0) return;
    await this.#writeAt(this.#stage!.subarray(0, this.#staged), this.#written);
    this.#written += this.#staged;
    this.#staged = 0;
  }

  async #close(): Promise<void> {
    const stage = this.#stage;
    this.#stage = null;
    if (stage && staging.length < STAGING_KEPT) staging.push(stage);
    await this.#fh.close();
  }

  /** One aligned write; on the first EINVAL, reopens buffered and writes what it holds again. */
  async #writeDirect(bytes: Uint8Array): Promise<void> {
    try {
      await this.#writeAt(bytes, this.#written);
      this.#written += bytes.length;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EINVAL" || this.#written !== 0) throw err;
      // The file system took the O_DIRECT open but not the write: nothing is on disk yet.
      this.#onRefused();
      await this.#fh.close();
      this.#fh = await open(this.#path, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
      this.#direct = false;
      await this.#writeAt(bytes, 0);
      this.#written = bytes.length;
    }
  }

  async #writeAt(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.#fh.write(bytes, done, bytes.length - done, position + done);
      if (bytesWritten === 0) throw new Error("write made no progress");
      done += bytesWritten;
    }
  }
}
