import { expect, test } from "bun:test";
import { layout } from "../../src/restore/layout.ts";
import type { BlobLocation } from "../../src/vault/blob-index.ts";
import { toHex } from "../../src/vault/id.ts";

/** A blob id (hex) made from a letter: "A" -> 41 repeated. */
const id = (c: string) => c.charCodeAt(0).toString(16).repeat(32);

/** An index that knows the blobs given, by letter, with their raw lengths. */
function indexOf(lengths: Record<string, number>) {
  const locs = new Map<string, BlobLocation>();
  for (const [c, rawLength] of Object.entries(lengths)) {
    locs.set(id(c), { packId: "p", tier: "warm", type: 0, compressed: false, offset: 0, storedLength: rawLength, rawLength, crc: 0, id: new Uint8Array(Buffer.from(id(c), "hex")) });
  }
  return { get: (blob: Uint8Array) => locs.get(toHex(blob)) ?? null };
}

/** The index knows A (100), B (50), C (30), E (0 bytes); X, Y and Z are blob ids no index knows. */
const INDEX = indexOf({ A: 100, B: 50, C: 30, E: 0 });

interface Case {
  name: string;
  /** Letters (blob ids) or any other string (not a blob id). */
  content: string[];
  size: number;
  /** [content index, offset, length] of each chunk placed, in the order placed. */
  placed: [number, number, number][];
  missing: [number, number][];
  sizeMismatch: boolean;
}

const cases: Case[] = [
  { name: "an empty file has nothing to place", content: [], size: 0, placed: [], missing: [], sizeMismatch: false },
  { name: "a size with no chunks is all missing, and a mismatch", content: [], size: 10, placed: [], missing: [[0, 10]], sizeMismatch: true },
  { name: "known lengths that add up are placed end to end", content: ["A", "B", "C"], size: 180, placed: [[0, 0, 100], [1, 100, 50], [2, 150, 30]], missing: [], sizeMismatch: false },
  { name: "the same chunk twice is placed twice", content: ["B", "B"], size: 100, placed: [[0, 0, 50], [1, 50, 50]], missing: [], sizeMismatch: false },
  { name: "a zero-length chunk is placed with length 0", content: ["A", "E", "B"], size: 150, placed: [[0, 0, 100], [1, 100, 0], [2, 100, 50]], missing: [], sizeMismatch: false },
  { name: "chunks that fall short leave the tail missing", content: ["A"], size: 150, placed: [[0, 0, 100]], missing: [[100, 150]], sizeMismatch: true },
  { name: "a chunk that starts at the size is dropped", content: ["A", "B"], size: 100, placed: [[0, 0, 100]], missing: [], sizeMismatch: true },
  { name: "a chunk that straddles the size is kept", content: ["A", "B"], size: 120, placed: [[0, 0, 100], [1, 100, 50]], missing: [], sizeMismatch: true },
  { name: "one unknown chunk fills the gap exactly", content: ["A", "X", "B"], size: 400, placed: [[0, 0, 100], [1, 100, 250], [2, 350, 50]], missing: [], sizeMismatch: false },
  { name: "one unknown chunk at the end fills the rest", content: ["A", "X"], size: 130, placed: [[0, 0, 100], [1, 100, 30]], missing: [], sizeMismatch: false },
  { name: "one unknown chunk may fill a gap of 0", content: ["A", "X"], size: 100, placed: [[0, 0, 100], [1, 100, 0]], missing: [], sizeMismatch: false },
  { name: "a content entry that is not a blob id is an unknown chunk", content: ["not hex", "A"], size: 150, placed: [[0, 0, 50], [1, 50, 100]], missing: [], sizeMismatch: false },
  { name: "one unknown with the known lengths past the size: head only, the rest missing", content: ["A", "X", "B"], size: 120, placed: [[0, 0, 100]], missing: [[100, 120]], sizeMismatch: false },
  { name: "two unknowns: head from the start, tail from the end, the middle missing", content: ["A", "X", "C", "Y", "B"], size: 1000, placed: [[0, 0, 100], [4, 950, 50]], missing: [[100, 950]], sizeMismatch: false },
  { name: "unknowns first: only a tail, missing from 0", content: ["X", "Y", "B"], size: 200, placed: [[2, 150, 50]], missing: [[0, 150]], sizeMismatch: false },
  { name: "unknowns last: only a head, missing to the size", content: ["A", "X", "Z"], size: 300, placed: [[0, 0, 100]], missing: [[100, 300]], sizeMismatch: false },
  { name: "head and tail that would overlap: the tail is not placed", content: ["A", "X", "Y", "B"], size: 120, placed: [[0, 0, 100]], missing: [[100, 120]], sizeMismatch: false },
  { name: "head and tail that meet exactly: nothing missing", content: ["A", "X", "Y", "B"], size: 150, placed: [[0, 0, 100], [3, 100, 50]], missing: [], sizeMismatch: false },
  { name: "a head past the size is a mismatch, and its chunks past the size are dropped", content: ["A", "B", "X", "Y"], size: 60, placed: [[0, 0, 100]], missing: [], sizeMismatch: true },
];

for (const c of cases) {
  test(`layout: ${c.name}`, () => {
    const content = c.content.map((x) => (x.length === 1 ? id(x) : x));
    const got = layout({ content, size: c.size }, INDEX);
    expect(got.placed.map((p) => [p.index, p.offset, p.length])).toEqual(c.placed);
    expect(got.missing).toEqual(c.missing);
    expect(got.sizeMismatch).toBe(c.sizeMismatch);
  });
}

test("layout: each placed chunk carries its id, its location (or null) and its lower-case hex", () => {
  const upper = id("A").toUpperCase();
  const got = layout({ content: [upper, id("X"), "zz"], size: 0 }, INDEX);
  expect(got.placed).toEqual([]); // several unknowns and a size of 0: all dropped
  const one = layout({ content: [upper, id("X")], size: 160 }, INDEX);
  expect(one.placed.map((p) => p.hex)).toEqual([id("A"), id("X")]);
  expect(one.placed[0].loc?.rawLength).toBe(100);
  expect(one.placed[0].id && toHex(one.placed[0].id)).toBe(id("A"));
  expect(one.placed[1].loc).toBeNull();
  expect(one.placed[1].id && toHex(one.placed[1].id)).toBe(id("X"));
  const bad = layout({ content: ["zz", id("A")], size: 100 }, INDEX);
  expect(bad.placed[0]).toMatchObject({ index: 0, id: null, loc: null, hex: "zz", offset: 0, length: 0 });
});
