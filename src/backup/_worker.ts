/**
 * Backup worker: reads the small files of a slot, hashes chunk ranges of shared slots, and
 * compresses, seals and packs the new ones. Private to backup/ (started by pipeline.ts; an
 * extra entry point of the compiled binary).
 *
 * Protocol (main -> worker):
 *   init   { sab, keys, packBytes, pieceBytes }   (pieceBytes 0: whole packs; else packs are
 *          streamed: a piece of whole blocks goes out each time pieceBytes have piled up)
 *   hash   { slot, ranges: Int32Array [offset, length]*, paths, fileRange: Int32Array,
 *            expect: BigInt64Array [size, mtimeNs, ctimeNs]* }
 *          -> hashed { slot, ids, status: Int32Array, got: Int32Array, codes }
 *          Paths are in tree/name.ts's lossless string form (opened by their exact bytes).
 *          Each path is read into its range (fileRange: index into ranges, -1 when empty) and
 *          checked against expect; status 0 ok, 1 changed (main reads it again), 2 vanished,
 *          3 error (codes[i]). A range that was not read cleanly is not hashed.
 *   store  { slot, ranges: Int32Array [offset, length]*, ids }    -> piece { buffer, offset, length }*, pack { buffer, offset, length, size, entries }*, stored { slot }
 *   flush  {}                                                      -> pack?, flushed
 *   recycle{ buffer, offset }  (a pack buffer main has saved, for reuse: fresh pages are slow to touch)
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { createBlobHasher, type BlobHasher } from "../chunk/hash.ts";
import { DIRECT_ALIGN, alignedBuffer } from "../storage/file-writer.ts";
import { fsPath } from "../tree/name.ts";
import type { VaultKeys } from "../vault/crypto.ts";
import { BLOB_DATA, PACK_TARGET_BYTES, PackWriter } from "../vault/pack.ts";

declare var self: Worker;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;
const NOATIME = constants.O_NOATIME ?? 0;
/** Pack buffers kept for reuse (each is touched memory: more costs RSS, fewer costs page faults). */
const POOL_MAX = 8;
/**
 * Bytes of short-lived buffers (zstd and cipher output) after which the worker asks for a
 * collection. Its JS heap is tiny, so the engine would let tens of MiB of dead buffers pile
 * up before collecting them on its own. Measured on 1 GiB encrypted: an eden collection every
 * 8 MiB, 230 MB peak RSS, 130k page faults, 0.9 s of system CPU; a full one, 205 MB, 300k
 * faults, 1.5 s (it hands memory back that the next blobs fault in again). Same wall time.
 */
const GARBAGE_BEFORE_GC = 8 * 1024 * 1024;

let shared: Uint8Array;
let hasher: BlobHasher;
let writer: PackWriter;
let keys: VaultKeys | null = null;
let packBytes = 0;
let pieceBytes = 0;
let garbage = 0;
const pool: Uint8Array[] = [];

/** A pack buffer, aligned so local storage can write it with O_DIRECT in place. */
function takeBuffer(): Uint8Array {
  return pool.pop() ?? alignedBuffer(packBytes);
}

/** Hands the pack's bytes so far to main (streamed packs), keeping the last partial block. */
function emitPiece(): void {
  const packId = writer.packId;
  const piece = writer.cut(takeBuffer());
  const buffer = piece.buffer as ArrayBuffer;
  self.postMessage({ t: "piece", packId, buffer, offset: piece.byteOffset, length: piece.length }, [buffer]);
}

function emitPack(): void {
  const { bytes, size, entries, packId } = writer.finish();
  const buffer = bytes.buffer as ArrayBuffer;
  // A pack that outgrew the buffer lives in a new one; either way hand the whole buffer over.
  self.postMessage({ t: "pack", packId, buffer, offset: bytes.byteOffset, length: bytes.length, size, entries }, [buffer]);
  writer.useBuffer(takeBuffer());
}

/** Compresses (when worth it), seals and appends one data blob. */
function addBlob(id: Uint8Array, raw: Uint8Array): void {
  if (!writer.add(BLOB_DATA, id, raw)) {
    emitPack();
    writer.add(BLOB_DATA, id, raw);
  }
  garbage += writer.lastGarbage;
  if (garbage >= GARBAGE_BEFORE_GC) {
    garbage = 0;
    Bun.gc(false);
  }
  if (writer.size >= PACK_TARGET_BYTES) emitPack();
  else if (pieceBytes > 0 && writer.pending >= pieceBytes) emitPiece();
}

/** Reads a small file into shared[at, at + size) and checks it against the walker's lstat. */
function readSmall(path: string, at: number, size: number, expect: BigInt64Array, e: number, flags = OPEN_FLAGS | NOATIME): { status: number; got: number; code: string } {
  let fd: number;
  try {
    fd = openSync(fsPath(path), flags);
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

/**
 * Messages are handled one after another, in order: main posts work right after "init",
 * without waiting for "ready", and init is asynchronous (the hasher's module is compiled).
 */
let queue: Promise<void> = Promise.resolve();
self.onmessage = (event: MessageEvent) => {
  queue = queue.then(() => handle(event.data));
};

async function handle(m: any): Promise<void> {
  try {
    switch (m.t) {
      case "init": {
        shared = new Uint8Array(m.sab);
        packBytes = m.packBytes;
        pieceBytes = m.pieceBytes;
        keys = m.keys;
        hasher = await createBlobHasher(keys ? keys.idKey : undefined);
        writer = new PackWriter(takeBuffer(), { keys, packType: BLOB_DATA });
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
        if ((m.buffer as ArrayBuffer).byteLength === packBytes + DIRECT_ALIGN && pool.length < POOL_MAX) pool.push(new Uint8Array(m.buffer, m.offset, packBytes));
        break;
      }
    }
  } catch (err) {
    self.postMessage({ t: "error", message: (err as Error)?.message ?? String(err) });
  }
}
