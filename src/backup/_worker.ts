/**
 * Backup worker: hashes chunk ranges of shared slots, and compresses, seals and packs the new
 * ones. Private to backup/ (started by pipeline.ts; an extra entry point of the compiled binary).
 *
 * Protocol (main -> worker):
 *   init   { sab, keys, packBytes }
 *   hash   { slot, ranges: Int32Array [offset, length]* }         -> hashed { slot, ids }
 *   store  { slot, ranges: Int32Array [offset, length]*, ids }    -> pack { buffer, length, entries }*, stored { slot }
 *   flush  {}                                                      -> pack?, flushed
 *   recycle{ buffer }  (a pack buffer main has saved, for reuse: fresh pages are slow to touch)
 */
import { createBlobHasher, type BlobHasher } from "../chunk/hash.ts";
import { BLOB_DATA, PACK_TARGET_BYTES, PackWriter } from "../vault/pack.ts";
import type { VaultKeys } from "../vault/crypto.ts";

declare var self: Worker;

let shared: Uint8Array;
let hasher: BlobHasher;
let writer: PackWriter;
let packBytes = 0;
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

self.onmessage = async (event: MessageEvent) => {
  const m = event.data;
  try {
    switch (m.t) {
      case "init": {
        shared = new Uint8Array(m.sab);
        packBytes = m.packBytes;
        const keys: VaultKeys | null = m.keys;
        hasher = await createBlobHasher(keys ? keys.idKey : undefined);
        current = takeBuffer();
        writer = new PackWriter(new Uint8Array(current), { keys, packType: BLOB_DATA });
        self.postMessage({ t: "ready" });
        break;
      }
      case "hash": {
        const ranges: Int32Array = m.ranges;
        const ids = new Uint8Array((ranges.length / 2) * 32);
        for (let i = 0; i < ranges.length; i += 2) {
          hasher.hash(shared.subarray(ranges[i], ranges[i] + ranges[i + 1]), ids, (i / 2) * 32);
        }
        self.postMessage({ t: "hashed", slot: m.slot, ids }, [ids.buffer]);
        break;
      }
      case "store": {
        const ranges: Int32Array = m.ranges;
        const ids: Uint8Array = m.ids;
        for (let i = 0; i < ranges.length; i += 2) {
          const raw = shared.subarray(ranges[i], ranges[i] + ranges[i + 1]);
          const id = ids.subarray((i / 2) * 32, (i / 2) * 32 + 32);
          if (!writer.add(BLOB_DATA, id, raw)) {
            emitPack();
            writer.add(BLOB_DATA, id, raw);
          }
          if (writer.size >= PACK_TARGET_BYTES) emitPack();
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
        if ((m.buffer as ArrayBuffer).byteLength === packBytes && pool.length < 3) pool.push(m.buffer);
        break;
      }
    }
  } catch (err) {
    self.postMessage({ t: "error", message: (err as Error)?.message ?? String(err) });
  }
};
