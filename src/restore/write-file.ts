/**
 * Writes one file's content from its chunks into an open file descriptor.
 *
 *   layout(node)          chunk i -> [offset, offset + rawLength) from the index, before any load
 *   for each chunk:       take a load slot (shared by all files, FIFO, bounded)
 *     known zero chunk    -> nothing to load or write (a hole)
 *     load blob           -> all zero: leave a hole; else positional writeSync at its offset
 *     damage              -> leave a hole, record [offset, end) as missing
 *   ftruncate(size)       holes at the end stay holes (sparse files restored sparse)
 *   EFBIG                 (a size the file system cannot hold) the file only: what fits is written
 *
 * Loads of many chunks (of one file or of several) are in flight at once, which is what keeps
 * an S3 vault busy; writes are positional, so they land in place in whatever order loads end.
 * Damage (a missing or corrupt blob) is per chunk and never fatal; anything else (the vault
 * is unreachable, the disk is full) is thrown and ends the restore.
 */
import { fstatSync, ftruncateSync, writeSync } from "node:fs";
import { VaultDamageError } from "../errors.ts";
import { NotFoundError, StorageError } from "../storage/storage.ts";
import type { FileNode } from "../tree/node.ts";
import { fromHex } from "../vault/id.ts";
import { packKey } from "../vault/layout.ts";
import type { Vault } from "../vault/vault.ts";

/** What writing a file's content found. */
export interface ContentResult {
  /** [start, end) ranges that could not be restored, sorted and merged. */
  missing: [number, number][];
  /** Some chunk could not be loaded (missing or corrupt). */
  damaged: boolean;
  /** The chunk lengths do not add up to the recorded size. */
  sizeMismatch: boolean;
  /** The target file system cannot hold a file this large (EFBIG): what fits was written. */
  tooLarge: boolean;
}

/** Writes file content; one per restore, shared by all files so loads are bounded overall. */
export interface ContentWriter {
  write(fd: number, node: FileNode): Promise<ContentResult>;
  /**
   * True when an error of loading blob `id` is damage of that blob (missing, corrupt, or in a
   * truncated pack), false when it is about the vault as a whole (unreachable, access denied).
   */
  isDamage(err: unknown, id: Uint8Array): Promise<boolean>;
}

/** Options of a content writer. */
export interface ContentWriterOptions {
  /** Blob loads in flight at once, over all files. */
  concurrency: number;
  signal?: AbortSignal;
  /** Called with the byte count of each chunk as it is done (written, hole or missing). */
  onBytes?: (n: number) => void;
}

interface Placed {
  index: number;
  id: Uint8Array | null;
  hex: string;
  offset: number;
  length: number;
}

/** A FIFO counting semaphore. */
export interface Slots {
  take(): Promise<void>;
  give(): void;
}

/** Creates a semaphore with n slots. */
export function createSlots(n: number): Slots {
  let free = n;
  const waiting: (() => void)[] = [];
  return {
    take() {
      if (free > 0) {
        free--;
        return Promise.resolve();
      }
      return new Promise<void>((r) => waiting.push(r));
    },
    give() {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}

/** True when every byte is zero (word-wise where aligned). */
export function isZero(b: Uint8Array): boolean {
  let i = 0;
  const n = b.length;
  if ((b.byteOffset & 3) === 0 && n >= 16) {
    const words = new Uint32Array(b.buffer, b.byteOffset, n >>> 2);
    for (let w = 0; w < words.length; w++) if (words[w] !== 0) return false;
    i = words.length << 2;
  }
  for (; i < n; i++) if (b[i] !== 0) return false;
  return true;
}

/** Creates the content writer of one restore. */
export function createContentWriter(vault: Vault, options: ContentWriterOptions): ContentWriter {
  const slots = createSlots(Math.max(1, options.concurrency));
  const zeroChunks = new Set<string>(); // hex ids seen to be all zero: never loaded again
  const truncatedPacks = new Map<string, Promise<boolean>>();

  /** True when a load error is damage of that blob (as opposed to the vault being unreachable). */
  async function isDamage(err: unknown, id: Uint8Array): Promise<boolean> {
    if (err instanceof VaultDamageError || err instanceof NotFoundError) return true;
    if (err instanceof StorageError && err.permanent) {
      // A range past the end of a pack (a truncated pack) is damage; other permanent errors
      // (access denied…) are about the vault as a whole.
      const loc = vault.index.get(id);
      if (!loc) return true;
      const key = packKey(loc.packId);
      let p = truncatedPacks.get(key);
      if (!p) {
        p = vault.tierStorage(loc.tier).stat(key).then((s) => s === null || s.size < loc.offset + loc.storedLength, () => false);
        truncatedPacks.set(key, p);
      }
      return p;
    }
    return false;
  }

  function layout(node: FileNode): { placed: Placed[]; missing: [number, number][]; sizeMismatch: boolean } {
    const chunks = node.content.map((hex, index) => {
      const id = fromHex(hex, 32);
      const loc = id ? vault.index.get(id) : null;
      return { index, id, hex: hex.toLowerCase(), length: loc ? loc.rawLength : -1 };
    });
    const size = node.size;
    const unknown = chunks.filter((c) => c.length < 0);
    const known = chunks.reduce((s, c) => s + (c.length >= 0 ? c.length : 0), 0);
    const missing: [number, number][] = [];
    const placed: Placed[] = [];
    if (unknown.length === 0) {
      let at = 0;
      for (const c of chunks) {
        placed.push({ ...c, offset: at });
        at += c.length;
      }
      if (at < size) missing.push([at, size]);
      return { placed: placed.filter((p) => p.offset < size), missing, sizeMismatch: at !== size };
    }
    if (unknown.length === 1 && known <= size) {
      // The one chunk the index does not know fills exactly the gap.
      unknown[0].length = size - known;
      let at = 0;
      for (const c of chunks) {
        placed.push({ ...c, offset: at });
        at += c.length;
      }
      return { placed, missing, sizeMismatch: false };
    }
    // Several unknown lengths: place what precedes the first from the start and what follows
    // the last from the end; the middle cannot be placed and is missing.
    const first = unknown[0].index;
    const last = unknown[unknown.length - 1].index;
    let head = 0;
    for (const c of chunks.slice(0, first)) {
      placed.push({ ...c, offset: head });
      head += c.length;
    }
    const tailChunks = chunks.slice(last + 1);
    const tailLength = tailChunks.reduce((s, c) => s + c.length, 0);
    let tail = size - tailLength;
    if (tail >= head) {
      for (const c of tailChunks) {
        placed.push({ ...c, offset: tail });
        tail += c.length;
      }
      tail = size - tailLength;
    } else {
      tail = size;
    }
    if (head < tail) missing.push([head, tail]);
    return { placed: placed.filter((p) => p.offset < size), missing, sizeMismatch: head > size };
  }

  function writeAll(fd: number, data: Uint8Array, length: number, offset: number): void {
    let done = 0;
    while (done < length) done += writeSync(fd, data, done, length - done, offset + done);
  }

  return {
    isDamage,
    async write(fd, node) {
      const { placed, missing, sizeMismatch } = layout(node);
      let damaged = missing.length > 0 && !sizeMismatch;
      let tooLarge = false;
      let fatal: unknown = null;
      const tasks: Promise<void>[] = [];
      for (const p of placed) {
        if (fatal) break;
        if (options.signal?.aborted) {
          fatal = options.signal.reason ?? new Error("aborted");
          break;
        }
        if (p.length === 0) continue;
        const end = Math.min(p.offset + p.length, node.size);
        if (zeroChunks.has(p.hex)) {
          options.onBytes?.(end - p.offset);
          continue;
        }
        if (!p.id) {
          damaged = true;
          missing.push([p.offset, end]);
          options.onBytes?.(end - p.offset);
          continue;
        }
        await slots.take();
        const id = p.id;
        tasks.push((async () => {
          try {
            if (fatal) return;
            let data: Uint8Array;
            try {
              data = await vault.loadBlob(id);
              if (data.length !== p.length) throw new VaultDamageError(`blob ${p.hex}`, `length ${data.length}, expected ${p.length}`);
            } catch (err) {
              if (await isDamage(err, id)) {
                damaged = true;
                missing.push([p.offset, end]);
                options.onBytes?.(end - p.offset);
                return;
              }
              throw err;
            }
            if (isZero(data)) zeroChunks.add(p.hex);
            else {
              try {
                writeAll(fd, data, end - p.offset, p.offset);
              } catch (err) {
                // Past what the file system allows in one file: a problem of this file only.
                if ((err as NodeJS.ErrnoException).code !== "EFBIG") throw err;
                tooLarge = true;
                missing.push([p.offset, end]);
              }
            }
            options.onBytes?.(end - p.offset);
          } catch (err) {
            if (!fatal) fatal = err;
          } finally {
            slots.give();
          }
        })());
      }
      await Promise.all(tasks);
      if (fatal) throw fatal;
      try {
        ftruncateSync(fd, node.size);
      } catch (err) {
        // A declared size no file here can have (a hostile vault, or a small target file system).
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "EFBIG" && code !== "EINVAL" && code !== "ERR_OUT_OF_RANGE") throw err;
        tooLarge = true;
        missing.push([fstatSync(fd).size, node.size]);
      }
      return { missing: mergeRanges(missing), damaged, sizeMismatch, tooLarge };
    },
  };
}

/** Sorts and merges [start, end) ranges. */
export function mergeRanges(ranges: [number, number][]): [number, number][] {
  const sorted = ranges.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}
