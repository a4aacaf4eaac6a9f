import { describe, expect, test } from "bun:test";
import { type IndexFile, type IndexedPack, decodeIndexFile, encodeIndexFile } from "../../src/vault/index-file.ts";
import { decodeObject, encodeObject } from "../../src/vault/object.ts";
import { ENTRY_BYTES, type PackEntry } from "../../src/vault/pack.ts";
import { expectDamage, fuzz, testKeys } from "./fuzz.ts";
import { prng, randomBytes } from "../support/random.ts";

const KEY = "index/00112233445566778899aabbccddeeff";

function entries(seed: number, n: number): PackEntry[] {
  const next = prng(seed);
  let offset = 0;
  return Array.from({ length: n }, (_, i) => {
    const storedLength = 1 + (next() % 5000);
    const e: PackEntry = { type: next() % 2, compressed: next() % 2 === 1, rawLength: next() % 100000, storedLength, crc: next(), id: randomBytes(32, seed * 100 + i), offset };
    offset += storedLength;
    return e;
  });
}

function pack(seed: number, n: number, tier: "warm" | "cold" = "warm"): IndexedPack {
  const es = entries(seed, n);
  const end = es.length ? es.at(-1)!.offset + es.at(-1)!.storedLength : 0;
  return { packId: Buffer.from(randomBytes(16, seed)).toString("hex"), tier, packType: seed % 2, size: end + 500, entries: es };
}

const DOC: IndexFile = { packs: [pack(1, 5), pack(2, 0), pack(3, 40, "cold")], supersedes: ["ff".repeat(16), "0a".repeat(16)] };

describe("index file", () => {
  const cases: { name: string; doc: IndexFile }[] = [
    { name: "empty", doc: { packs: [], supersedes: [] } },
    { name: "packs in both tiers, superseding two files", doc: DOC },
    { name: "one big pack", doc: { packs: [pack(9, 2000)], supersedes: [] } },
  ];
  for (const c of cases) {
    test(`${c.name}: decode(encode(x)) equals x`, () => {
      expect(decodeIndexFile(KEY, encodeIndexFile(c.doc))).toEqual(c.doc);
    });
  }

  test("layout: 12-byte header, 16-byte ids, 28 bytes per pack, 52 per entry", () => {
    const data = encodeIndexFile(DOC);
    const v = new DataView(data.buffer);
    expect([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true)]).toEqual([1, 3, 2]);
    expect(data.length).toBe(12 + 2 * 16 + 3 * 28 + 45 * (ENTRY_BYTES + 4));
    const first = 12 + 32;
    expect(Buffer.from(data.subarray(first, first + 16)).toString("hex")).toBe(DOC.packs[0].packId);
    expect([data[first + 16], data[first + 17], v.getUint16(first + 18, true)]).toEqual([0, DOC.packs[0].packType, 0]);
    expect(v.getUint32(first + 20, true)).toBe(DOC.packs[0].size);
    expect(v.getUint32(first + 24, true)).toBe(5);
    const e1 = first + 28 + ENTRY_BYTES + 4;
    expect(v.getUint32(e1 + ENTRY_BYTES, true)).toBe(DOC.packs[0].entries[1].offset);
  });

  test("round trips inside an encrypted object", () => {
    const keys = testKeys(4);
    expect(decodeIndexFile(KEY, decodeObject(keys, KEY, encodeObject(keys, KEY, encodeIndexFile(DOC))))).toEqual(DOC);
  });

  const bad: { name: string; data: () => Uint8Array; message: RegExp }[] = [
    { name: "a newer version", data: () => { const d = encodeIndexFile(DOC); d[0] = 2; return d; }, message: /unknown index version 2/ },
    { name: "no header", data: () => new Uint8Array(11), message: /index file truncated/ },
    { name: "a cut entry", data: () => encodeIndexFile(DOC).subarray(0, 200), message: /index file truncated/ },
    { name: "trailing bytes", data: () => { const d = encodeIndexFile(DOC); const o = new Uint8Array(d.length + 1); o.set(d); return o; }, message: /index file has trailing bytes/ },
    { name: "a huge pack count", data: () => { const d = encodeIndexFile(DOC); new DataView(d.buffer).setUint32(4, 0xffffffff, true); return d; }, message: /index file truncated/ },
    { name: "a huge superseded count", data: () => { const d = encodeIndexFile(DOC); new DataView(d.buffer).setUint32(8, 0xffffffff, true); return d; }, message: /index file truncated/ },
    { name: "an entry past its pack's end", data: () => encodeIndexFile({ packs: [{ ...pack(5, 3), size: 10 }], supersedes: [] }), message: /index entry points past the end of pack "[0-9a-f]{32}"/ },
  ];
  for (const c of bad) {
    test(`refuses ${c.name} with a VaultDamageError naming the key`, () => {
      expectDamage(() => decodeIndexFile(KEY, c.data()), KEY, c.message);
    });
  }

  test("fuzz: decodes or VaultDamageError(key)", () => {
    const out = fuzz(encodeIndexFile(DOC), { seed: 51, count: 4000, key: KEY, decode: (d) => decodeIndexFile(KEY, d) });
    expect(out.damaged).toBeGreaterThan(1500);
    expect(out.decoded).toBeGreaterThan(0);
  });

  test("fuzz through the object envelope, encrypted: the original or VaultDamageError(key)", () => {
    const keys = testKeys(5);
    const obj = encodeObject(keys, KEY, encodeIndexFile(DOC));
    const out = fuzz(obj, {
      seed: 52,
      count: 3000,
      key: KEY,
      decode: (d) => decodeIndexFile(KEY, decodeObject(keys, KEY, d)),
      onDecoded: (doc, _d, how) => {
        if (JSON.stringify(doc) !== JSON.stringify(DOC)) throw new Error(`mutation ${how} decoded to another index`);
      },
    });
    expect(out.damaged).toBeGreaterThan(2500);
  });
});
