import { describe, expect, test } from "bun:test";
import { BlobIndex } from "../../src/vault/blob-index.ts";
import { toHex } from "../../src/vault/id.ts";
import type { PackEntry } from "../../src/vault/pack.ts";
import { prng, randomBytes } from "../support/random.ts";

function entry(seed: number): PackEntry {
  const next = prng(seed);
  return { type: next() % 2, compressed: next() % 2 === 1, rawLength: next() % 2 ** 24, storedLength: next() % 2 ** 24, crc: next(), id: randomBytes(32, seed), offset: next() };
}

describe("blob index", () => {
  test("finds what was added, with every field intact", () => {
    const idx = new BlobIndex();
    const no = idx.addPack("aa".repeat(16), "cold", 12345);
    const e = { ...entry(1), crc: 0xfedcba98, type: 1, compressed: true };
    expect(idx.add(no, e)).toBe(true);
    expect(idx.get(e.id)).toEqual({ packId: "aa".repeat(16), tier: "cold", type: 1, compressed: true, offset: e.offset, storedLength: e.storedLength, rawLength: e.rawLength, crc: 0xfedcba98, id: e.id });
    expect(idx.has(randomBytes(32, 99))).toBe(false);
    expect(idx.get(randomBytes(32, 99))).toBeNull();
  });

  test("a blob added twice keeps its first location", () => {
    const idx = new BlobIndex();
    const a = idx.addPack("01".repeat(16), "warm", 1);
    const b = idx.addPack("02".repeat(16), "warm", 2);
    const e = entry(2);
    expect(idx.add(a, e)).toBe(true);
    expect(idx.add(b, { ...e, offset: 7 })).toBe(false);
    expect(idx.size).toBe(1);
    expect(idx.get(e.id)!.packId).toBe("01".repeat(16));
  });

  test("addPack is idempotent and packList reports tier and size", () => {
    const idx = new BlobIndex();
    expect(idx.addPack("p1", "warm", 10)).toBe(0);
    expect(idx.addPack("p2", "cold", 20)).toBe(1);
    expect(idx.addPack("p1", "cold", 99)).toBe(0);
    expect(idx.packList()).toEqual([{ packId: "p1", tier: "warm", size: 10 }, { packId: "p2", tier: "cold", size: 20 }]);
  });

  test("matches a Map through growth (20 000 blobs, 100 packs)", () => {
    const idx = new BlobIndex();
    const ref = new Map<string, { pack: number; e: PackEntry }>();
    const before = idx.memoryBytes();
    for (let p = 0; p < 100; p++) idx.addPack(`pack-${p}`, p % 2 ? "cold" : "warm", p);
    for (let i = 0; i < 20000; i++) {
      const e = entry(i + 10);
      const pack = i % 100;
      idx.add(pack, e);
      ref.set(toHex(e.id), { pack, e });
    }
    expect(idx.size).toBe(ref.size);
    expect(idx.memoryBytes()).toBeGreaterThan(before);
    expect(idx.memoryBytes() / idx.size).toBeLessThan(120);
    for (const { pack, e } of ref.values()) {
      const got = idx.get(e.id)!;
      expect(got.packId).toBe(`pack-${pack}`);
      expect([got.offset, got.storedLength, got.rawLength, got.crc, got.type, got.compressed]).toEqual([e.offset >>> 0, e.storedLength, e.rawLength, e.crc >>> 0, e.type, e.compressed]);
    }
    for (let i = 0; i < 2000; i++) expect(idx.has(randomBytes(32, 1e6 + i))).toBe(false);
  });

  test("find reads an id at an offset inside a larger buffer", () => {
    const idx = new BlobIndex();
    const e = entry(5);
    idx.add(idx.addPack("p", "warm", 1), e);
    const buf = new Uint8Array(100);
    buf.set(e.id, 40);
    expect(idx.find(buf, 40)).toBe(0);
    expect(idx.has(buf, 41)).toBe(false);
    expect(idx.entry(0).id).toEqual(e.id);
  });
});
