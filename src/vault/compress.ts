/**
 * zstd compression of blobs and objects; data that does not shrink is stored raw.
 *
 * Level 1 below 64 KiB: on small text blobs it gives the same ratio as level 3 (2.335:1 on
 * the bench corpus) in ~70% of the time. Blobs of 64 KiB and more get level 3, after three
 * 8 KiB samples compressed at level 1 say the blob may shrink at all: random or already
 * compressed bytes then cost ~1.5% of a full attempt.
 */
import { zstdDecompressSync } from "node:zlib";

const SMALL = 64 * 1024;
/** Compressed output must be at most this share of the input to be worth storing. */
const WORTH = 0.97;
const SAMPLE_BYTES = 8 * 1024;
/** A sample that zstd -1 brings under this share says the blob is worth a full attempt. */
const SAMPLE_WORTH = 0.95;

/** Compresses raw; returns null when compression does not help. */
export function compress(raw: Uint8Array): Uint8Array | null {
  if (raw.length < 64) return null;
  if (raw.length >= SMALL && !samplesShrink(raw)) return null;
  const out = Bun.zstdCompressSync(raw, { level: raw.length < SMALL ? 1 : 3 });
  return out.length <= raw.length * WORTH ? out : null;
}

/** Whether any of three samples (start, middle, end) shrinks at level 1. */
function samplesShrink(raw: Uint8Array): boolean {
  for (const at of [0, (raw.length - SAMPLE_BYTES) >> 1, raw.length - SAMPLE_BYTES]) {
    const sample = raw.subarray(at, at + SAMPLE_BYTES);
    if (Bun.zstdCompressSync(sample, { level: 1 }).length < SAMPLE_BYTES * SAMPLE_WORTH) return true;
  }
  return false;
}

/**
 * Decompresses a zstd frame; throws when it is corrupt or its size is not `expected`. The
 * output is capped at `expected`, so a crafted frame (a "zstd bomb" in a hostile vault) cannot
 * make us allocate more than the blob claims (node:zlib's cap; Bun's own call has none).
 */
export function decompress(data: Uint8Array, expected: number): Uint8Array {
  let out: Uint8Array;
  try {
    out = zstdDecompressSync(data, { maxOutputLength: Math.max(1, expected) });
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    throw new Error(/larger than/.test(message) ? `decompresses to more than the expected ${expected} bytes` : message);
  }
  if (out.length !== expected) throw new Error(`decompressed to ${out.length} bytes, expected ${expected}`);
  return out;
}
