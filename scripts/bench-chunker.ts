/**
 * Micro-benchmark of cutPoint over random data (not a test).
 *   bun scripts/bench-chunker.ts [totalMiB=512] [rounds=3]
 * Fills a reused 64 MiB buffer with crypto.randomFillSync, times only the chunking, and
 * prints the best round in MB/s (10^6 bytes) over all bytes, skipped minSize bytes included.
 */
import { randomFillSync } from "node:crypto";
import { createChunkerTables, cutPoint, DEFAULT_CHUNKER } from "../src/chunk/fastcdc.ts";

const BUFFER_BYTES = 64 * 1024 * 1024;

function chunkAll(tables: ReturnType<typeof createChunkerTables>, buf: Uint8Array): number {
  let pos = 0;
  let chunks = 0;
  while (pos < buf.length) {
    pos += cutPoint(tables, buf, pos, buf.length);
    chunks++;
  }
  return chunks;
}

function round(totalBytes: number, buf: Uint8Array, tables: ReturnType<typeof createChunkerTables>) {
  let ns = 0;
  let bytes = 0;
  let chunks = 0;
  while (bytes < totalBytes) {
    randomFillSync(buf);
    const t0 = Bun.nanoseconds();
    chunks += chunkAll(tables, buf);
    ns += Bun.nanoseconds() - t0;
    bytes += buf.length;
  }
  return { mbPerS: bytes / 1e6 / (ns / 1e9), chunks, bytes };
}

function main(): void {
  const totalMiB = Number(process.argv[2] ?? 512);
  const rounds = Number(process.argv[3] ?? 3);
  const tables = createChunkerTables(DEFAULT_CHUNKER);
  const buf = new Uint8Array(BUFFER_BYTES);
  round(BUFFER_BYTES, buf, tables); // warm up the JIT
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const { mbPerS, chunks, bytes } = round(totalMiB * 1024 * 1024, buf, tables);
    const avgKiB = bytes / chunks / 1024;
    // Bytes the gear hash actually rolls over: the first minSize of each chunk are skipped.
    const hashed = mbPerS * (1 - (chunks * tables.minSize) / bytes);
    console.log(
      `round ${r + 1}: ${mbPerS.toFixed(0)} MB/s (${hashed.toFixed(0)} MB/s hashed), ` +
        `${chunks} chunks, avg ${avgKiB.toFixed(0)} KiB`,
    );
    if (mbPerS > best) best = mbPerS;
  }
  console.log(`cutPoint, DEFAULT_CHUNKER, ${totalMiB} MiB random: best ${best.toFixed(0)} MB/s`);
}

main();
