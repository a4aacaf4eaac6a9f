/** zstd compression of blobs and objects; data that does not shrink is stored raw. */
import { zstdDecompressSync } from "node:zlib";

const LEVEL = 3;
/** Compressed output must be at most this share of the input to be worth storing. */
const WORTH = 0.97;

/** Compresses raw; returns null when compression does not help. */
export function compress(raw: Uint8Array): Uint8Array | null {
  if (raw.length < 64) return null;
  const out = Bun.zstdCompressSync(raw, { level: LEVEL });
  return out.length <= raw.length * WORTH ? out : null;
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
