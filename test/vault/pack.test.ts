import { describe, expect, test } from "bun:test";
import { VaultDamageError } from "../../src/errors.ts";
import type { VaultKeys } from "../../src/vault/crypto.ts";
import { packKey } from "../../src/vault/layout.ts";
import { BLOB_DATA, BLOB_TREE, ENTRY_BYTES, PACK_TRAILER_BYTES, type PackEntry, PackWriter, decodeBlob, decodePackHeader, decodePackTrailer, readEntry, writeEntry } from "../../src/vault/pack.ts";
import { expectDamage, fuzz, sameBytes, testKeys } from "./fuzz.ts";
import { randomBytes } from "../support/random.ts";

const KEYS = testKeys(3);
const KEY = "packs/ab/ab0123456789abcdef0123456789ab";

/** Blob i: a fake 32-byte id and its raw bytes (mixed compressible and random). */
function blobs(n: number): { id: Uint8Array; raw: Uint8Array }[] {
  return Array.from({ length: n }, (_, i) => ({
    id: randomBytes(32, 1000 + i),
    raw: i % 3 === 0 ? new TextEncoder().encode(`line ${i}\n`.repeat(20 + i)) : i % 3 === 1 ? randomBytes(1 + i * 37, i) : new Uint8Array(0),
  }));
}

function buildPack(keys: VaultKeys | null, items: { id: Uint8Array; raw: Uint8Array }[], packType = BLOB_DATA) {
  const w = new PackWriter(new Uint8Array(64 * 1024), { keys, packType });
  for (const b of items) expect(w.add(packType, b.id, b.raw)).toBe(true);
  const { bytes, entries, packId } = w.finish();
  return { bytes: bytes.slice(), entries, key: packKey(packId) };
}

/** What a reader does with a whole pack: trailer, header, every blob. */
function readPack(keys: VaultKeys | null, key: string, data: Uint8Array): { packType: number; entries: PackEntry[]; raws: Uint8Array[] } {
  const size = data.length;
  const headerLength = decodePackTrailer(key, data.subarray(Math.max(0, size - PACK_TRAILER_BYTES)), size);
  const sealed = data.subarray(size - PACK_TRAILER_BYTES - headerLength, size - PACK_TRAILER_BYTES);
  const { packType, entries } = decodePackHeader(keys, key, sealed, size);
  const raws = entries.map((e) => decodeBlob(keys, key, e, data.subarray(e.offset, e.offset + e.storedLength)));
  return { packType, entries, raws };
}

describe("pack", () => {
  for (const keys of [null, KEYS]) {
    const mode = keys ? "encrypted" : "plain";
    test(`${mode}: blobs, header and trailer round trip`, () => {
      const items = blobs(12);
      const { bytes, entries, key } = buildPack(keys, items, BLOB_TREE);
      const back = readPack(keys, key, bytes);
      expect(back.packType).toBe(BLOB_TREE);
      expect(back.entries).toEqual(entries);
      back.raws.forEach((raw, i) => expect(sameBytes(raw, items[i].raw)).toBe(true));
      back.entries.forEach((e, i) => {
        expect(sameBytes(e.id, items[i].id)).toBe(true);
        expect(e.rawLength).toBe(items[i].raw.length);
        expect(e.type).toBe(BLOB_TREE);
      });
    });

    test(`${mode}: a pack streamed in pieces by cut() reads back like a whole one`, () => {
      // Big blobs (up to 40 KiB) so that several cuts happen; pieces are whole 4096-byte blocks.
      const items = Array.from({ length: 40 }, (_, i) => ({ id: randomBytes(32, 500 + i), raw: randomBytes((i * 7919) % 40_000, 700 + i) }));
      const w = new PackWriter(new Uint8Array(64 * 1024), { keys, packType: BLOB_DATA });
      const pieces: Uint8Array[] = [];
      for (const b of items) {
        expect(w.add(BLOB_DATA, b.id, b.raw)).toBe(true);
        if (w.pending >= 16 * 1024) {
          const piece = w.cut(new Uint8Array(64 * 1024)).slice();
          expect(piece.length % 4096).toBe(0);
          pieces.push(piece);
        }
      }
      const sizeBefore = w.size;
      const { bytes, size, entries, packId } = w.finish();
      pieces.push(bytes.slice());
      expect(pieces.length).toBeGreaterThan(5);
      const whole = new Uint8Array(Buffer.concat(pieces));
      expect(size).toBe(whole.length);
      expect(sizeBefore).toBeLessThan(size);
      const back = readPack(keys, packKey(packId), whole);
      expect(back.entries).toEqual(entries);
      back.raws.forEach((raw, i) => expect(sameBytes(raw, items[i].raw)).toBe(true));
      // The writer starts the next pack from offset 0.
      w.add(BLOB_DATA, items[0].id, items[0].raw);
      const next = w.finish();
      expect(next.entries[0].offset).toBe(0);
      expect(next.packId).not.toBe(packId);
      expect(readPack(keys, packKey(next.packId), next.bytes.slice()).raws[0]).toEqual(items[0].raw);
    });

    test(`${mode}: layout is blobs from 0, then the sealed header, its u32 length and "EFSBPK01"`, () => {
      const { bytes, entries } = buildPack(keys, blobs(5));
      let at = 0;
      for (const e of entries) {
        expect(e.offset).toBe(at);
        at += e.storedLength;
        expect(e.crc).toBe(Bun.hash.crc32(bytes.subarray(e.offset, e.offset + e.storedLength)));
      }
      const headerLength = 8 + entries.length * ENTRY_BYTES + (keys ? 45 : 0);
      expect(bytes.length).toBe(at + headerLength + 4 + 8);
      expect(new TextDecoder().decode(bytes.subarray(bytes.length - 8))).toBe("EFSBPK01");
      expect(new DataView(bytes.buffer).getUint32(bytes.length - 12, true)).toBe(headerLength);
      if (!keys) {
        const h = new DataView(bytes.buffer, at);
        expect([h.getUint8(0), h.getUint8(1), h.getUint16(2, true), h.getUint32(4, true)]).toEqual([1, BLOB_DATA, 0, 5]);
      }
    });
  }

  test("a compressible blob is stored zstd, a random one raw (and sealed raw when encrypted)", () => {
    const items = [{ id: randomBytes(32, 1), raw: new Uint8Array(10000) }, { id: randomBytes(32, 2), raw: randomBytes(10000, 3) }];
    const plain = buildPack(null, items).entries;
    expect(plain.map((e) => e.compressed)).toEqual([true, false]);
    expect(plain[1].storedLength).toBe(10000);
    const sealed = buildPack(KEYS, items).entries;
    expect(sealed[1].storedLength).toBe(10000 + 45); // v2 envelope: 2 ‖ salt ‖ nonce ‖ … ‖ tag
  });

  test("entries are 48 bytes and round trip", () => {
    const e = { type: 1, compressed: true, rawLength: 0xfffffff0, storedLength: 123456, crc: 0xdeadbeef, id: randomBytes(32, 4) };
    const buf = new Uint8Array(3 + ENTRY_BYTES);
    writeEntry(buf, 3, e);
    expect(readEntry(buf, 3, 77)).toEqual({ ...e, offset: 77 });
    expect([...buf.subarray(3, 7)]).toEqual([1, 1, 0, 0]);
  });

  test("a pack is full when the next blob would not fit; a lone oversize blob grows the buffer", () => {
    const w = new PackWriter(new Uint8Array(4096), { keys: null, packType: BLOB_DATA });
    expect(w.add(BLOB_DATA, randomBytes(32, 1), randomBytes(3000, 2))).toBe(true);
    expect(w.add(BLOB_DATA, randomBytes(32, 3), randomBytes(3000, 4))).toBe(false);
    expect(w.count).toBe(1);
    const big = new PackWriter(new Uint8Array(1024), { keys: null, packType: BLOB_DATA });
    const raw = randomBytes(5000, 5);
    expect(big.add(BLOB_DATA, randomBytes(32, 6), raw)).toBe(true);
    const { bytes } = big.finish();
    expect(sameBytes(readPack(null, KEY, bytes.slice()).raws[0], raw)).toBe(true);
  });

  test("a writer is reusable after finish", () => {
    const w = new PackWriter(new Uint8Array(64 * 1024), { keys: null, packType: BLOB_DATA });
    const items = blobs(4);
    w.add(BLOB_DATA, items[0].id, items[0].raw);
    const first = w.finish().bytes.slice();
    w.useBuffer(new Uint8Array(64 * 1024));
    w.add(BLOB_DATA, items[1].id, items[1].raw);
    const second = w.finish().bytes.slice();
    expect(readPack(null, KEY, first).entries.length).toBe(1);
    expect(sameBytes(readPack(null, KEY, second).raws[0], items[1].raw)).toBe(true);
  });

  const bad: { name: string; mutate: (b: Uint8Array) => Uint8Array; message: RegExp }[] = [
    { name: "bad trailer magic", mutate: (b) => { b[b.length - 1] = 0x30; return b; }, message: /not a pack \(bad trailer magic\)/ },
    { name: "a header length past the start", mutate: (b) => { new DataView(b.buffer).setUint32(b.length - 12, b.length, true); return b; }, message: /pack header length \d+ does not fit a \d+-byte pack/ },
    { name: "a header length below 8", mutate: (b) => { new DataView(b.buffer).setUint32(b.length - 12, 4, true); return b; }, message: /pack header length 4 does not fit/ },
    { name: "a newer header version", mutate: (b) => { b[b.length - 12 - (8 + 3 * ENTRY_BYTES)] = 2; return b; }, message: /unknown pack header version 2/ },
    { name: "a wrong blob count", mutate: (b) => { new DataView(b.buffer).setUint32(b.length - 12 - (8 + 3 * ENTRY_BYTES) + 4, 4, true); return b; }, message: /pack header says 4 blobs but has 152 bytes/ },
    { name: "a blob longer than the data", mutate: (b) => { new DataView(b.buffer).setUint32(b.length - 12 - ENTRY_BYTES + 8, 1e6, true); return b; }, message: /blob 2 reaches past the pack's data/ },
    { name: "a flipped blob byte", mutate: (b) => { b[1] ^= 1; return b; }, message: /blob [0-9a-f]{16}… in .*: checksum mismatch/ },
    { name: "too short for a trailer", mutate: (b) => b.subarray(0, 5), message: /bad trailer magic/ },
  ];
  for (const c of bad) {
    test(`refuses ${c.name} with a VaultDamageError naming the pack`, () => {
      const { bytes } = buildPack(null, blobs(3).map((b) => ({ ...b, raw: randomBytes(100, 9) })));
      expectDamage(() => readPack(null, KEY, c.mutate(bytes)), KEY, c.message);
    });
  }

  test("the version error tells what to do", () => {
    const { bytes } = buildPack(null, blobs(1));
    bytes[bytes.length - 12 - (8 + ENTRY_BYTES)] = 9;
    expect(expectDamage(() => readPack(null, KEY, bytes), KEY).hint).toContain("upgrade");
  });

  test("decodeBlob checks length, CRC, authentication and size", () => {
    const { bytes, entries } = buildPack(KEYS, blobs(3));
    const e = entries[0];
    const stored = bytes.slice(e.offset, e.offset + e.storedLength);
    expectDamage(() => decodeBlob(KEYS, KEY, e, stored.subarray(1)), KEY, /truncated/);
    expectDamage(() => decodeBlob(KEYS, KEY, { ...e, crc: e.crc ^ 1 }, stored), KEY, /checksum mismatch/);
    expectDamage(() => decodeBlob(KEYS, KEY, { ...e, id: randomBytes(32, 77) }, stored), KEY, /authentication failed/);
    expectDamage(() => decodeBlob(testKeys(8), KEY, e, stored), KEY, /authentication failed/);
    expectDamage(() => decodeBlob(KEYS, KEY, { ...e, rawLength: e.rawLength + 1 }, stored), KEY, /expected/);
  });

  for (const keys of [null, KEYS]) {
    const mode = keys ? "encrypted" : "plain";
    test(`fuzz whole ${mode} packs: decode or VaultDamageError(pack key)`, () => {
      const items = blobs(6);
      const { bytes, key } = buildPack(keys, items);
      const out = fuzz(bytes, {
        seed: keys ? 31 : 32,
        count: 4000,
        key,
        decode: (d) => readPack(keys, key, d),
        onDecoded: (value, _d, how) => {
          // With encryption every blob that decodes is authentic; without, CRC catches damage.
          value.raws.forEach((raw, i) => {
            const want = items.find((b) => sameBytes(b.id, value.entries[i].id));
            if (keys && (!want || !sameBytes(raw, want.raw))) throw new Error(`mutation ${how} decoded a forged blob`);
          });
        },
      });
      expect(out.damaged).toBeGreaterThan(2000);
    });

    test(`fuzz stored ${mode} blobs: the original bytes or VaultDamageError(pack key)`, () => {
      const items = blobs(3);
      const { bytes, entries } = buildPack(keys, items);
      for (const [i, e] of entries.entries()) {
        const stored = bytes.slice(e.offset, e.offset + e.storedLength);
        const out = fuzz(stored, {
          seed: 40 + i,
          count: 1500,
          key: KEY,
          decode: (d) => decodeBlob(keys, KEY, e, d),
          onDecoded: (raw, d, how) => {
            if (!sameBytes(raw, items[i].raw) && !sameBytes(d, stored)) throw new Error(`mutation ${how} decoded to other bytes`);
          },
        });
        expect(out.damaged).toBeGreaterThan(0);
      }
    });
  }

  test("a damaged pack never throws anything but VaultDamageError", () => {
    const { bytes } = buildPack(null, blobs(2));
    for (let cut = 0; cut < bytes.length; cut++) {
      try {
        readPack(null, KEY, bytes.subarray(0, cut));
        throw new Error(`a pack cut at ${cut} decoded`);
      } catch (err) {
        expect(err).toBeInstanceOf(VaultDamageError);
      }
    }
  });
});

test("ids read from a Buffer (as zstd and decipher return) are copies, not views", () => {
  const buf = Buffer.alloc(ENTRY_BYTES);
  writeEntry(buf, 0, { type: 0, compressed: false, rawLength: 1, storedLength: 1, crc: 0, id: randomBytes(32, 1) });
  const e = readEntry(buf, 0, 0);
  expect(Buffer.isBuffer(e.id)).toBe(false);
  buf[16] ^= 0xff;
  expect(e.id[0]).not.toBe(buf[16]);
});

test("a writer with growTo starts small, grows as blobs come, and is full at growTo", () => {
  const w = new PackWriter(new Uint8Array(1024), { keys: null, packType: BLOB_DATA, growTo: 256 * 1024 });
  const items = Array.from({ length: 70 }, (_, i) => ({ id: randomBytes(32, 9000 + i), raw: randomBytes(4000, 300 + i) }));
  let added = 0;
  for (const b of items) {
    if (!w.add(BLOB_DATA, b.id, b.raw)) break;
    added++;
  }
  // 4000-byte random blobs are stored raw: 64 of them with entries, header and trailer fit 256 KiB, 65 do not.
  expect(added).toBe(64);
  const { bytes, entries } = w.finish();
  expect(bytes.length).toBeLessThanOrEqual(256 * 1024);
  const back = readPack(null, KEY, bytes.slice());
  expect(back.entries).toEqual(entries);
  back.raws.forEach((raw, i) => expect(sameBytes(raw, items[i].raw)).toBe(true));
});

describe("pack headers are bound to their pack id (attack 6)", () => {
  test("a pack copied under another id is damage of that key; under its own it reads", () => {
    const items = blobs(3);
    const { bytes, key } = buildPack(KEYS, items);
    expect(readPack(KEYS, key, bytes).raws.length).toBe(3);
    const other = packKey("cd" + "0".repeat(30));
    expectDamage(() => readPack(KEYS, other, bytes), other, /pack header: authentication failed/);
  });

  test("a v1-sealed header (format 1) is refused in a format-2 vault and read where the vault may hold one", async () => {
    const { seal } = await import("../../src/vault/crypto.ts");
    const header = new Uint8Array(8);
    header[0] = 1;
    const sealed = seal(KEYS, header, new TextEncoder().encode("EFSBPK01"));
    expectDamage(() => decodePackHeader(KEYS, KEY, sealed, sealed.length + 12), KEY, /format-1 envelope|authentication failed/);
    expect(decodePackHeader({ ...KEYS, legacy: true }, KEY, sealed, sealed.length + 12).entries).toEqual([]);
  });

  test("every encrypted blob has its own key: equal blobs seal to unrelated bytes, each with a fresh salt", () => {
    const raw = randomBytes(1000, 5);
    const id = randomBytes(32, 6);
    const a = buildPack(KEYS, [{ id, raw }]);
    const b = buildPack(KEYS, [{ id, raw }]);
    const sa = a.bytes.subarray(0, a.entries[0].storedLength);
    const sb = b.bytes.subarray(0, b.entries[0].storedLength);
    expect(sa[0]).toBe(2);
    expect(sameBytes(sa.subarray(1, 17), sb.subarray(1, 17))).toBe(false);
    expect(sameBytes(decodeBlob(KEYS, a.key, a.entries[0], sa), raw)).toBe(true);
  });
});
