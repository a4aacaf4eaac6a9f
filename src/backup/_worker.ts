/**
 * Backup worker: hashes chunk ranges of shared slots, and compresses, seals and packs the new
 * ones (main reads every file into the slots: small ones asynchronously, small-read.ts).
 * Private to backup/ (started by pipeline.ts; an extra entry point of the compiled binary).
 * The messages both ways are typed and documented in worker-protocol.ts.
 */
import { createBlobHasher, type BlobHasher } from "../chunk/hash.ts";
import { DIRECT_ALIGN, alignedBuffer } from "../fs/direct-io.ts";
import type { VaultKeys } from "../vault/crypto.ts";
import { BLOB_DATA, PACK_TARGET_BYTES, PackWriter } from "../vault/pack.ts";
import type { FromWorker, ToWorker } from "./worker-protocol.ts";

declare var self: Worker;

/** Pack buffers kept for reuse (each is touched memory: more costs RSS, fewer costs page faults). */
const POOL_MAX = 8;
/**
 * Bytes of short-lived buffers (zstd and cipher output) after which the worker asks for an
 * eden collection. Its JS heap is tiny, so the engine would let tens of MiB of dead buffers
 * pile up before collecting them on its own (measurements: docs/performance.md, "Design notes
 * from earlier measurements").
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

/** Posts a message to main. */
function post(message: FromWorker, transfer: Bun.Transferable[] = []): void {
  self.postMessage(message, transfer);
}

/** A pack buffer, aligned so local storage can write it with O_DIRECT in place. */
function takeBuffer(): Uint8Array {
  return pool.pop() ?? alignedBuffer(packBytes);
}

/** Hands the pack's bytes so far to main (streamed packs), keeping the last partial block. */
function emitPiece(): void {
  const packId = writer.packId;
  const piece = writer.cut(takeBuffer());
  const buffer = piece.buffer as ArrayBuffer;
  post({ t: "piece", packId, buffer, offset: piece.byteOffset, length: piece.length }, [buffer]);
}

function emitPack(): void {
  const { bytes, size, entries, packId } = writer.finish();
  const buffer = bytes.buffer as ArrayBuffer;
  // A pack that outgrew the buffer lives in a new one; either way hand the whole buffer over.
  post({ t: "pack", packId, buffer, offset: bytes.byteOffset, length: bytes.length, size, entries }, [buffer]);
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

/**
 * Messages are handled one after another, in order: main posts work right after "init",
 * without waiting for "ready", and init is asynchronous (the hasher's module is compiled).
 */
let queue: Promise<void> = Promise.resolve();
self.onmessage = (event: MessageEvent<ToWorker>) => {
  queue = queue.then(() => handle(event.data));
};

async function handle(m: ToWorker): Promise<void> {
  try {
    switch (m.t) {
      case "init": {
        shared = new Uint8Array(m.sab);
        packBytes = m.packBytes;
        pieceBytes = m.pieceBytes;
        keys = m.keys;
        hasher = await createBlobHasher(keys ? keys.idKey : undefined);
        writer = new PackWriter(takeBuffer(), { keys, packType: BLOB_DATA });
        post({ t: "ready" });
        break;
      }
      case "hash": {
        const { ranges, skip } = m;
        const count = ranges.length / 2;
        const ids = new Uint8Array(count * 32);
        for (let i = 0; i < count; i++) {
          if (skip[i]) continue;
          hasher.hash(shared.subarray(ranges[i * 2], ranges[i * 2] + ranges[i * 2 + 1]), ids, i * 32);
        }
        post({ t: "hashed", slot: m.slot, ids }, [ids.buffer]);
        break;
      }
      case "store": {
        const { ranges, ids } = m;
        for (let i = 0; i < ranges.length; i += 2) {
          const raw = shared.subarray(ranges[i], ranges[i] + ranges[i + 1]);
          addBlob(ids.subarray((i / 2) * 32, (i / 2) * 32 + 32), raw);
        }
        post({ t: "stored", slot: m.slot });
        break;
      }
      case "flush": {
        if (writer.count > 0) emitPack();
        post({ t: "flushed" });
        break;
      }
      case "recycle": {
        if (m.buffer.byteLength === packBytes + DIRECT_ALIGN && pool.length < POOL_MAX) pool.push(new Uint8Array(m.buffer, m.offset, packBytes));
        break;
      }
    }
  } catch (err) {
    post({ t: "error", message: (err as Error)?.message ?? String(err) });
  }
}
