/**
 * Backup worker: reads the small files of a slot, hashes chunk ranges of shared slots, and
 * compresses, seals and packs the new ones. Private to backup/ (started by pipeline.ts; an
 * extra entry point of the compiled binary).
 *
 * Protocol (main -> worker):
 *   init   { sab, keys, packBytes }
 *   hash   { slot, ranges: Int32Array [offset, length]*, paths, fileRange: Int32Array,
 *            expect: BigInt64Array [size, mtimeNs, ctimeNs]* }
 *          -> hashed { slot, ids, status: Int32Array, got: Int32Array, codes }
 *          Each path is read into its range (fileRange: index into ranges, -1 when empty) and
 *          checked against expect; status 0 ok, 1 changed (main reads it again), 2 vanished,
 *          3 error (codes[i]). A range that was not read cleanly is not hashed.
 *   store  { slot, ranges: Int32Array [offset, length]*, ids }    -> pack { buffer, length, entries }*, stored { slot }
 *   flush  {}                                                      -> pack?, flushed
 *   recycle{ buffer }  (a pack buffer main has saved, for reuse: fresh pages are slow to touch)
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { createBlobHasher, type BlobHasher } from "../chunk/hash.ts";
import { compress } from "../vault/compress.ts";
import { seal, type VaultKeys } from "../vault/crypto.ts";
import { BLOB_DATA, PACK_TARGET_BYTES, PackWriter } from "../vault/pack.ts";

declare var self: Worker;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;
const NOATIME = constants.O_NOATIME ?? 0;
/** Pack buffers kept for reuse (each is touched memory: more costs RSS, fewer costs page faults). */
const POOL_MAX = 2;
/**
 * Bytes of short-lived buffers (zstd output, sealed copies) after which the worker asks for
 * a collection. Its JS heap is tiny, so the engine would let tens of MiB of dead buffers
 * pile up before collecting them on its own (measured: ~90 MiB more peak RSS on 1 GiB).
 */
const GARBAGE_BEFORE_GC = 32 * 1024 * 1024;

let shared: Uint8Array;
let hasher: BlobHasher;
let writer: PackWriter;
let keys: VaultKeys | null = null;
let packBytes = 0;
let garbage = 0;
const pool: ArrayBuffer[] = [];
let current: ArrayBuffer;

function takeBuffer(): ArrayBuffer {
  return pool.pop() ?? new ArrayBuffer(packBytes);
}

function emitPack(): void {
  const { bytes, entries } = writer.finish();
  const buffer = bytes.buffer as ArrayBuffer;
  const length = bytes.length;
  // A pack that outgrew the buffer lives in a new one; either way hand the whole buffer over.
  self.postMessage({ t: "pack", buffer, length, entries }, [buffer]);
  current = takeBuffer();
  writer.useBuffer(new Uint8Array(current));
}

/** Bytes below which a blob is simply compressed (a sample would be most of it anyway). */
const SAMPLE_ALL_BELOW = 64 * 1024;
const SAMPLE_BYTES = 8 * 1024;
/** A sample that zstd -1 brings under this share says the blob is worth compressing. */
const SAMPLE_WORTH = 0.95;

/**
 * Whether zstd may shrink raw: three samples (start, middle, end) compressed at level 1. A
 * blob of random or already-compressed bytes costs ~1.5% of a full zstd -3 attempt this way;
 * any sample that shrinks sends the whole blob through compress(), which has the last word.
 */
function worthCompressing(raw: Uint8Array): boolean {
  if (raw.length < SAMPLE_ALL_BELOW) return true;
  for (const at of [0, (raw.length - SAMPLE_BYTES) >> 1, raw.length - SAMPLE_BYTES]) {
    const sample = raw.subarray(at, at + SAMPLE_BYTES);
    if (Bun.zstdCompressSync(sample, { level: 1 }).length < SAMPLE_BYTES * SAMPLE_WORTH) return true;
  }
  return false;
}

/** Compresses (when worth it), seals and appends one data blob, as PackWriter.add would. */
function addBlob(id: Uint8Array, raw: Uint8Array): void {
  const packed = worthCompressing(raw) ? compress(raw) : null;
  const stored = seal(keys, packed ?? raw, keys ? id : undefined);
  if (packed) garbage += packed.length;
  if (stored !== raw && stored !== packed) garbage += 2 * stored.length; // seal's output and its copy
  if (garbage >= GARBAGE_BEFORE_GC) {
    garbage = 0;
    Bun.gc(false);
  }
  const entry = { type: BLOB_DATA, compressed: packed !== null, rawLength: raw.length, storedLength: stored.length, crc: Bun.hash.crc32(stored), id };
  if (!writer.addStored(entry, stored)) {
    emitPack();
    writer.addStored(entry, stored);
  }
  if (writer.size >= PACK_TARGET_BYTES) emitPack();
}

/** Reads a small file into shared[at, at + size) and checks it against the walker's lstat. */
function readSmall(path: string, at: number, size: number, expect: BigInt64Array, e: number, flags = OPEN_FLAGS | NOATIME): { status: number; got: number; code: string } {
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    if (code === "ENOENT") return { status: 2, got: 0, code: "" };
    // O_NOATIME needs ownership of the file; without it, read it as everyone does.
    if (code === "EPERM" && flags !== OPEN_FLAGS) return readSmall(path, at, size, expect, e, OPEN_FLAGS);
    return { status: 3, got: 0, code };
  }
  try {
    let got = 0;
    while (got < size) {
      const n = readSync(fd, shared, at + got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    const after = fstatSync(fd, { bigint: true });
    const stable = after.size === expect[e] && after.mtimeNs === expect[e + 1] && after.ctimeNs === expect[e + 2];
    return { status: stable ? 0 : 1, got, code: "" };
  } catch (err) {
    return { status: 3, got: 0, code: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  } finally {
    closeSync(fd);
  }
}

self.onmessage = async (event: MessageEvent) => {
  const m = event.data;
  try {
    switch (m.t) {
      case "init": {
        shared = new Uint8Array(m.sab);
        packBytes = m.packBytes;
        keys = m.keys;
        hasher = await createBlobHasher(keys ? keys.idKey : undefined);
        current = takeBuffer();
        writer = new PackWriter(new Uint8Array(current), { keys, packType: BLOB_DATA });
        self.postMessage({ t: "ready" });
        break;
      }
      case "hash": {
        const ranges: Int32Array = m.ranges;
        const count = ranges.length / 2;
        const ids = new Uint8Array(count * 32);
        const paths: string[] = m.paths;
        const fileRange: Int32Array = m.fileRange;
        const status = new Int32Array(paths.length);
        const got = new Int32Array(paths.length);
        const codes: string[] = [];
        const done = paths.length > 0 ? new Uint8Array(count) : null;
        for (let f = 0; f < paths.length; f++) {
          const r = fileRange[f];
          const at = r >= 0 ? ranges[r * 2] : 0;
          const read = readSmall(paths[f], at, r >= 0 ? ranges[r * 2 + 1] : 0, m.expect, f * 3);
          status[f] = read.status;
          got[f] = read.got;
          codes[f] = read.code;
          if (r < 0) continue;
          done![r] = 1;
          // Hashed right after the read, while the bytes are in cache.
          if (read.status === 0 && read.got > 0) hasher.hash(shared.subarray(at, at + read.got), ids, r * 32);
        }
        for (let i = 0; i < count; i++) {
          if (done?.[i]) continue;
          hasher.hash(shared.subarray(ranges[i * 2], ranges[i * 2] + ranges[i * 2 + 1]), ids, i * 32);
        }
        self.postMessage({ t: "hashed", slot: m.slot, ids, status, got, codes }, [ids.buffer, status.buffer, got.buffer]);
        break;
      }
      case "store": {
        const ranges: Int32Array = m.ranges;
        const ids: Uint8Array = m.ids;
        for (let i = 0; i < ranges.length; i += 2) {
          const raw = shared.subarray(ranges[i], ranges[i] + ranges[i + 1]);
          addBlob(ids.subarray((i / 2) * 32, (i / 2) * 32 + 32), raw);
        }
        self.postMessage({ t: "stored", slot: m.slot });
        break;
      }
      case "flush": {
        if (writer.count > 0) emitPack();
        self.postMessage({ t: "flushed" });
        break;
      }
      case "recycle": {
        if ((m.buffer as ArrayBuffer).byteLength === packBytes && pool.length < POOL_MAX) pool.push(m.buffer);
        break;
      }
    }
  } catch (err) {
    self.postMessage({ t: "error", message: (err as Error)?.message ?? String(err) });
  }
};
