/**
 * The SIMD BLAKE3 (src/chunk/blake3.ts) must give exactly the ids hash-wasm gives: a change
 * would break dedup against every existing vault. Official vectors pin both.
 */
import { describe, expect, test } from "bun:test";
import { createBLAKE3 } from "hash-wasm";
import { createBlake3 } from "../../src/chunk/blake3.ts";
import { randomBytes } from "../vault/fuzz.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const KEY = new TextEncoder().encode("whats the Elvish word for friend");

/** BLAKE3 test_vectors.json input: byte i is i % 251. */
function vectorInput(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => i % 251);
}

// Lengths around every boundary the driver has: block (64), chunk (1024), groups of 4 chunks
// (0 to 3 whole chunks left over, with and without a partial last one: 2 or 3 take a group
// with spare lanes), powers of two of chunks (the tree's shape), and the 4 MiB chunker maximum.
const LENGTHS = [0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 3073, 4096, 4097, 5120, 5121, 6144, 6145,
  7168, 7169, 8191, 8192, 8193, 15 * 1024, 16 * 1024, 16 * 1024 + 1, 31 * 1024, 31 * 1024 + 7, 65536, 100_003,
  1 << 20, (1 << 20) + 1, (1 << 20) + 7, 4 * 1024 * 1024, 4 * 1024 * 1024 - 1];

describe("blake3 (WebAssembly SIMD)", () => {
  const plain = createBlake3();
  const keyed = createBlake3(KEY);

  test("is available in this runtime", () => {
    expect(plain).not.toBeNull();
  });

  test("official test vectors, plain and keyed", () => {
    expect(hex(plain!.hash(vectorInput(0)))).toBe("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
    expect(hex(plain!.hash(vectorInput(1)))).toBe("2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213");
    expect(hex(plain!.hash(vectorInput(1024)))).toBe("42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7");
    expect(hex(plain!.hash(vectorInput(1025)))).toBe("d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444");
    expect(hex(keyed!.hash(vectorInput(0)))).toBe("92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26");
  });

  test("agrees with hash-wasm at every boundary length, plain and keyed", async () => {
    const ref = await createBLAKE3(256);
    const refKeyed = await createBLAKE3(256, KEY);
    const data = randomBytes(8, LENGTHS.reduce((a, b) => Math.max(a, b)) + 3);
    for (const n of LENGTHS) {
      const d = data.subarray(3, 3 + n); // unaligned on purpose
      ref.init();
      ref.update(d);
      refKeyed.init();
      refKeyed.update(d);
      expect([n, hex(plain!.hash(d))]).toEqual([n, ref.digest("hex")]);
      expect([n, hex(keyed!.hash(d))]).toEqual([n, refKeyed.digest("hex")]);
    }
  });

  test("agrees with hash-wasm on random lengths, after larger inputs grew its memory", async () => {
    const ref = await createBLAKE3(256);
    const next = randomBytes(9, 400);
    const data = randomBytes(10, 70_000);
    for (let i = 0; i < 200; i++) {
      const n = ((next[i * 2] << 8) | next[i * 2 + 1]) + (i % 3) * 1024;
      const d = data.subarray(0, n);
      ref.init();
      ref.update(d);
      expect([n, hex(plain!.hash(d))]).toEqual([n, ref.digest("hex")]);
    }
  });

  test("writes into a caller's buffer at an offset, and reads shared memory", () => {
    const shared = new Uint8Array(new SharedArrayBuffer(5000));
    shared.set(vectorInput(1025), 100);
    const out = new Uint8Array(72);
    expect(plain!.hash(shared.subarray(100, 1125), out, 8)).toBe(out);
    expect(keyed!.hash(vectorInput(0), out, 40)).toBe(out);
    expect(hex(out.subarray(8, 40))).toBe("d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444");
    expect(hex(out.subarray(40, 72))).toBe("92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26");
    expect(out.subarray(0, 8)).toEqual(new Uint8Array(8));
  });

  test("does not depend on what the memory past the input holds (spare lanes read it)", () => {
    const h = createBlake3(KEY)!;
    const small = randomBytes(11, 6145);
    const first = hex(h.hash(small));
    h.hash(randomBytes(12, 1 << 20)); // leaves other bytes past the next input
    expect(hex(h.hash(small))).toBe(first);
    expect(hex(h.hash(small.subarray(0, 6144)))).toBe(hex(keyed!.hash(small.subarray(0, 6144))));
  });

  test("refuses a key that is not 32 bytes", () => {
    expect(() => createBlake3(new Uint8Array(16))).toThrow("32 bytes");
  });
});
