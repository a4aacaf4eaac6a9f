/**
 * Blob ids: BLAKE3-256 of the plaintext, keyed BLAKE3 in encrypted vaults (so an id reveals
 * nothing about content to someone without the key). blake3.ts computes them with WebAssembly
 * SIMD; where that is not available, hash-wasm's portable build gives the same ids, slower.
 */
import { createBLAKE3, type IHasher } from "hash-wasm";
import { createBlake3 } from "./blake3.ts";

/** Hashes byte ranges into 32-byte ids; one per thread (the hasher's memory is not shareable). */
export interface BlobHasher {
  /** Writes the 32-byte id of data into out[outOffset..] (or a new array) and returns it. */
  hash(data: Uint8Array, out?: Uint8Array, outOffset?: number): Uint8Array;
}

/** Creates a hasher; `key` (32 bytes) turns it into keyed BLAKE3. */
export async function createBlobHasher(key?: Uint8Array): Promise<BlobHasher> {
  const fast = createBlake3(key);
  if (fast) return fast;
  const h: IHasher = await createBLAKE3(256, key);
  return {
    hash(data, out, outOffset = 0) {
      h.init();
      h.update(data);
      const digest = h.digest("binary");
      if (!out) return digest;
      out.set(digest, outOffset);
      return out;
    },
  };
}
