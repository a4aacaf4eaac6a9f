/** zstd compression of blobs and objects; data that does not shrink is stored raw. */

const LEVEL = 3;
/** Compressed output must be at most this share of the input to be worth storing. */
const WORTH = 0.97;

/** Compresses raw; returns null when compression does not help. */
export function compress(raw: Uint8Array): Uint8Array | null {
  if (raw.length < 64) return null;
  const out = Bun.zstdCompressSync(raw, { level: LEVEL });
  return out.length <= raw.length * WORTH ? out : null;
}

/** Decompresses a zstd frame; throws when it is corrupt or its size is not `expected`. */
export function decompress(data: Uint8Array, expected: number): Uint8Array {
  const out = Bun.zstdDecompressSync(data);
  if (out.length !== expected) throw new Error(`decompressed to ${out.length} bytes, expected ${expected}`);
  return out;
}
