/**
 * Blob ids (src/chunk/hash.ts) must be exactly BLAKE3's, from either engine: a change would
 * break dedup against every existing vault. Official vectors pin both engines; a differential
 * sweep holds the native addon to hash-wasm (the package the project was specified with) over
 * every boundary length, random lengths and many keys; EFSBAK_NATIVE=0 reaches the fallback.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createBLAKE3 } from "hash-wasm";
import { type BlobHasher, createBlobHasher } from "../../src/chunk/hash.ts";
import { prng, randomBytes } from "../support/random.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const KEY = new TextEncoder().encode("whats the Elvish word for friend");

/** BLAKE3 test_vectors.json input: byte i is i % 251. */
function vectorInput(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => i % 251);
}

// Lengths around every boundary BLAKE3 has: block (64), chunk (1024), the tree's shape
// (powers of two of chunks and one past), the SIMD degrees an implementation may batch chunks
// in (4, 8, 16), and the 4 MiB chunker maximum.
const LENGTHS = [0, 1, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 3073, 4096, 4097, 5120, 5121,
  6144, 6145, 7168, 7169, 8191, 8192, 8193, 15 * 1024, 16 * 1024, 16 * 1024 + 1, 31 * 1024, 31 * 1024 + 7, 65536,
  100_003, 1 << 20, (1 << 20) + 1, (1 << 20) + 7, 4 * 1024 * 1024, 4 * 1024 * 1024 - 1];

/** hash-wasm's BLAKE3 of data: the reference the native engine is held to. */
async function reference(key?: Uint8Array): Promise<(d: Uint8Array) => string> {
  const h = await createBLAKE3(256, key);
  return (d) => {
    h.init();
    h.update(d);
    return h.digest("hex");
  };
}

const ENGINES = [
  { name: "native", make: (key?: Uint8Array) => createBlobHasher(key) },
  { name: "hash-wasm", make: (key?: Uint8Array) => createBlobHasher(key, { native: false }) },
] as const;

describe("blob hashing (BLAKE3)", () => {
  const savedNative = process.env.EFSBAK_NATIVE;
  afterEach(() => {
    if (savedNative === undefined) delete process.env.EFSBAK_NATIVE;
    else process.env.EFSBAK_NATIVE = savedNative;
  });

  test("the native engine loads here (the sweep would otherwise test hash-wasm against itself)", async () => {
    expect((await createBlobHasher()).engine).toBe("native");
    expect((await createBlobHasher(KEY)).engine).toBe("native");
  });

  test("EFSBAK_NATIVE=0 and { native: false } give the hash-wasm fallback", async () => {
    expect((await createBlobHasher(KEY, { native: false })).engine).toBe("hash-wasm");
    process.env.EFSBAK_NATIVE = "0";
    const h = await createBlobHasher(KEY);
    expect(h.engine).toBe("hash-wasm");
    expect(hex(h.hash(vectorInput(0)))).toBe("92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26");
  });

  for (const engine of ENGINES) {
    describe(engine.name, () => {
      let plain: BlobHasher;
      let keyed: BlobHasher;
      test("official test vectors, plain and keyed", async () => {
        plain = await engine.make();
        keyed = await engine.make(KEY);
        expect(plain.engine).toBe(engine.name);
        expect(hex(plain.hash(vectorInput(0)))).toBe("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
        expect(hex(plain.hash(vectorInput(1)))).toBe("2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213");
        expect(hex(plain.hash(vectorInput(1024)))).toBe("42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7");
        expect(hex(plain.hash(vectorInput(1025)))).toBe("d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444");
        expect(hex(keyed.hash(vectorInput(0)))).toBe("92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26");
        // the same hasher again: reset keeps the key and forgets the last input
        expect(hex(keyed.hash(vectorInput(0)))).toBe("92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26");
      });

      test("writes into a caller's buffer at an offset, and reads shared memory", () => {
        const shared = new Uint8Array(new SharedArrayBuffer(5000));
        shared.set(vectorInput(1025), 100);
        const out = new Uint8Array(72);
        expect(plain.hash(shared.subarray(100, 1125), out, 8)).toBe(out);
        expect(keyed.hash(vectorInput(0), out, 40)).toBe(out);
        expect(hex(out.subarray(8, 40))).toBe("d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444");
        expect(hex(out.subarray(40, 72))).toBe("92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26");
        expect(out.subarray(0, 8)).toEqual(new Uint8Array(8));
      });

      test("a new array per call when no buffer is given", () => {
        const a = plain.hash(vectorInput(1));
        const b = plain.hash(vectorInput(1024));
        expect(a).toBeInstanceOf(Uint8Array);
        expect([a.length, hex(a)]).toEqual([32, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"]);
        expect(hex(b)).toBe("42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7");
      });
    });
  }

  test("native agrees with hash-wasm at every boundary length, plain and keyed, unaligned", async () => {
    const [plain, keyed] = [await createBlobHasher(), await createBlobHasher(KEY)];
    const [ref, refKeyed] = [await reference(), await reference(KEY)];
    const data = randomBytes(LENGTHS.reduce((a, b) => Math.max(a, b)) + 3, 8);
    for (const n of LENGTHS) {
      const d = data.subarray(3, 3 + n);
      expect([n, hex(plain.hash(d))]).toEqual([n, ref(d)]);
      expect([n, hex(keyed.hash(d))]).toEqual([n, refKeyed(d)]);
    }
  });

  test("native agrees with hash-wasm on random lengths and 40 random keys", async () => {
    const next = prng(3);
    const data = randomBytes(300_000, 10);
    for (let k = 0; k < 40; k++) {
      const key = randomBytes(32, 1000 + k);
      const [h, ref] = [await createBlobHasher(key), await reference(key)];
      for (let i = 0; i < 10; i++) {
        const n = next() % (i % 2 ? 300_000 : 9000);
        const d = data.subarray(next() % 7, n);
        expect([k, d.length, hex(h.hash(d))]).toEqual([k, d.length, ref(d)]);
      }
    }
  });

  test("refuses a key that is not 32 bytes, on both engines", async () => {
    await expect(createBlobHasher(new Uint8Array(16))).rejects.toThrow("32 bytes");
    await expect(createBlobHasher(new Uint8Array(33), { native: false })).rejects.toThrow("32 bytes");
  });
});
