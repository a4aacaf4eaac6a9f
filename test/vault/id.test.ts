import { describe, expect, test } from "bun:test";
import { createBlobHasher } from "../../src/chunk/hash.ts";
import { BLOB_ID_BYTES, OBJECT_ID_BYTES, fromHex, randomId, timeOrderedId, toHex } from "../../src/vault/id.ts";
import { randomBytes } from "../support/random.ts";

describe("ids", () => {
  test("blob ids are BLAKE3-256 (official test vectors)", async () => {
    const h = await createBlobHasher();
    expect(toHex(h.hash(new Uint8Array(0)))).toBe("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
    // BLAKE3 test_vectors.json: input i % 251, length 1, unkeyed and keyed.
    expect(toHex(h.hash(Uint8Array.of(0)))).toBe("2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213");
    const key = new TextEncoder().encode("whats the Elvish word for friend");
    const keyed = await createBlobHasher(key);
    expect(toHex(keyed.hash(new Uint8Array(0)))).toBe("92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26");
  });

  test("keyed ids differ from plain ones and depend on the key", async () => {
    const data = randomBytes(1000, 1);
    const plain = (await createBlobHasher()).hash(data);
    const k1 = (await createBlobHasher(randomBytes(32, 2))).hash(data);
    const k2 = (await createBlobHasher(randomBytes(32, 3))).hash(data);
    expect(new Set([toHex(plain), toHex(k1), toHex(k2)]).size).toBe(3);
    expect(plain.length).toBe(BLOB_ID_BYTES);
  });

  test("a hasher writes into a caller's buffer at an offset", async () => {
    const h = await createBlobHasher();
    const out = new Uint8Array(70);
    h.hash(Uint8Array.of(0), out, 5);
    expect(toHex(out, 5, 32)).toBe("2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213");
  });

  test("hex round trips and refuses what is not hex of the right length", () => {
    const b = randomBytes(32, 4);
    expect(fromHex(toHex(b), 32)).toEqual(b);
    expect(fromHex(toHex(b).toUpperCase(), 32)).toEqual(b);
    for (const bad of ["abc", "zz".repeat(32), "ab".repeat(31), " ".repeat(64)]) expect(fromHex(bad, 32)).toBeNull();
  });

  test("object ids are 16 random bytes; time-ordered ids sort by time", () => {
    expect(randomId()).toMatch(new RegExp(`^[0-9a-f]{${OBJECT_ID_BYTES * 2}}$`));
    expect(randomId()).not.toBe(randomId());
    const a = timeOrderedId(Date.UTC(2026, 0, 1));
    const b = timeOrderedId(Date.UTC(2026, 0, 1, 0, 0, 1));
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(a.slice(0, 12)).toBe(Date.UTC(2026, 0, 1).toString(16).padStart(12, "0"));
    expect(a < b).toBe(true);
  });
});
