/**
 * Blob ids: BLAKE3-256 of the plaintext, keyed BLAKE3 in encrypted vaults (so an id reveals
 * nothing about content to someone without the key). Hashing is the largest CPU cost of a
 * backup, so ids come from the native BLAKE3 of @napi-rs/blake-hash (the Rust reference
 * implementation, with its SIMD code paths); where that addon cannot load (src/native.ts),
 * from hash-wasm's portable build: the same ids, several times slower. Figures:
 * docs/performance.md, "Hashing and key derivation".
 */
import type { Blake3Hasher as NativeBlake3 } from "@napi-rs/blake-hash";
import { nativeAddon } from "../native.ts";

/** Hashes byte ranges into 32-byte ids; one per thread (neither engine's state is shareable). */
export interface BlobHasher {
  /** Which implementation computes the ids (they are the same either way). */
  readonly engine: "native" | "hash-wasm";
  /** Writes the 32-byte id of data into out[outOffset..] (or a new array) and returns it. */
  hash(data: Uint8Array, out?: Uint8Array, outOffset?: number): Uint8Array;
}

/** Options of createBlobHasher. */
export interface BlobHasherOptions {
  /** false: hash-wasm even where the native addon loads (tests of the fallback). */
  native?: boolean;
}

const KEY_BYTES = 32;

/** The addon's BLAKE3 hasher class, or null where it cannot load. */
function nativeBlake3(): typeof NativeBlake3 | null {
  return nativeAddon("@napi-rs/blake-hash", () => require("@napi-rs/blake-hash") as typeof import("@napi-rs/blake-hash"))?.Blake3Hasher ?? null;
}

/** Creates a hasher; `key` (32 bytes) turns it into keyed BLAKE3. */
export async function createBlobHasher(key?: Uint8Array, options: BlobHasherOptions = {}): Promise<BlobHasher> {
  if (key && key.length !== KEY_BYTES) throw new RangeError(`Cannot hash blobs: a BLAKE3 key is ${KEY_BYTES} bytes, got ${key.length}`);
  const Native = options.native === false ? null : nativeBlake3();
  if (Native) {
    const h = key ? Native.newKeyed(Buffer.from(key.buffer, key.byteOffset, key.length)) : new Native();
    return {
      engine: "native",
      hash(data, out, outOffset = 0) {
        h.reset(); // keeps the key
        h.update(data as Buffer); // 1.3.4 types say Buffer; Bun's N-API takes any Uint8Array (tests pin it)
        const result = out ?? new Uint8Array(KEY_BYTES);
        result.set(h.digestBuffer(), outOffset);
        return result;
      },
    };
  }
  // Imported only when needed: evaluating hash-wasm's module (every algorithm's WebAssembly,
  // inlined) costs ~20 ms of CPU per thread that loads it.
  const { createBLAKE3 } = await import("hash-wasm");
  const h = await createBLAKE3(256, key);
  return {
    engine: "hash-wasm",
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
