/**
 * Index memory per blob: fills a BlobIndex with synthetic entries (random ids, 16 MiB packs of
 * ~1 MiB blobs) and prints memoryBytes() / size as JSON. memoryBytes() counts every typed
 * array the index holds, spare capacity included; the per-pack arrays are counted apart.
 *   bun scripts/bench-index.ts [blobs=1000000]
 */
import { createCipheriv } from "node:crypto";
import { BlobIndex } from "../src/vault/blob-index.ts";
import type { PackEntry } from "../src/vault/pack.ts";

const BLOBS_PER_PACK = 16;

function main(): void {
  const blobs = Number(process.argv[2] ?? 1_000_000);
  // Deterministic, uniform ids: AES-CTR keystream.
  const ids = createCipheriv("aes-256-ctr", Buffer.alloc(32, 7), Buffer.alloc(16)).update(Buffer.alloc(blobs * 32));
  const index = new BlobIndex();
  Bun.gc(true);
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  let pack = -1;
  for (let i = 0; i < blobs; i++) {
    if (i % BLOBS_PER_PACK === 0) pack = index.addPack((i / BLOBS_PER_PACK).toString(16).padStart(64, "0"), "warm", 16 << 20);
    const e: PackEntry = { type: 0, compressed: false, rawLength: 1 << 20, storedLength: 1 << 20, crc: i, id: ids.subarray(i * 32, i * 32 + 32), offset: (i % BLOBS_PER_PACK) << 20 };
    index.add(pack, e);
  }
  const addMs = performance.now() - t0;
  const t1 = performance.now();
  let found = 0;
  for (let i = 0; i < blobs; i++) if (index.has(ids, i * 32)) found++;
  const findNs = ((performance.now() - t1) * 1e6) / blobs;
  if (found !== blobs) throw new Error(`index lost blobs: ${found} of ${blobs}`);
  const bytes = index.memoryBytes();
  Bun.gc(true);
  const packs = index.packList().length;
  console.log(JSON.stringify({
    blobs: index.size,
    packs,
    memoryBytes: bytes,
    bytesPerBlob: bytes / index.size,
    // Pack ids are 64-char strings (~100 bytes each with the map entry), one per ~16 blobs.
    packBytesPerBlobEstimate: (packs * 200) / index.size,
    // Growth of the whole process over the fill, after a full GC: arrays, pack ids, and the
    // allocator's slack from growing (an upper bound of what the index costs).
    rssGrowthPerBlob: Math.max(0, process.memoryUsage().rss - rss0) / index.size,
    addNsPerBlob: (addMs * 1e6) / blobs,
    findNsPerBlob: findNs,
  }));
}

main();
