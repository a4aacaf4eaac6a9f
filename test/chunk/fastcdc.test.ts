import { prng, randomBytes } from "../support/random.ts";
import { describe, expect, test } from "bun:test";
import {
  Chunker,
  chunkerMask,
  type ChunkerParams,
  type ChunkerTables,
  createChunkerTables,
  cutPoint,
  DEFAULT_CHUNKER,
  validateChunkerParams,
} from "../../src/chunk/fastcdc.ts";

const SMALL: ChunkerParams = { minSize: 64, avgSize: 256, maxSize: 1024, seed: 0 };
const MiB = 1024 * 1024;


/** Low-entropy bytes (4 symbols), so that cuts land soon after minSize at both parities. */
function lowEntropyBytes(seed: number, n: number): Uint8Array {
  const next = prng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = 97 + (next() & 3);
  return out;
}

/** Reference: FastCDC one byte per step, straight from the definition in fastcdc.ts. */
function referenceCut(t: ChunkerTables, data: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n <= t.minSize) return n;
  const limit = Math.min(n, t.maxSize);
  const normal = Math.min(t.avgSize, limit);
  let h = 0;
  for (let i = t.minSize; i < limit; i++) {
    h = ((h << 1) + t.gear[data[start + i]]) | 0;
    if ((h & (i < normal ? t.maskS : t.maskL)) === 0) return i + 1;
  }
  return limit;
}

type Cut = (t: ChunkerTables, data: Uint8Array, start: number, end: number) => number;

/** End offsets of every chunk of data, cut as one whole stream. */
function boundaries(t: ChunkerTables, data: Uint8Array, cut: Cut = cutPoint): number[] {
  const out: number[] = [];
  for (let pos = 0; pos < data.length; ) {
    pos += cut(t, data, pos, data.length);
    out.push(pos);
  }
  return out;
}

/** Feeds data to a Chunker in pieces of size sizes(); returns the chunks. */
function streamChunks(t: ChunkerTables, data: Uint8Array, sizes: () => number): Uint8Array[] {
  const c = new Chunker(t);
  const chunks: Uint8Array[] = [];
  for (let pos = 0; pos < data.length; ) {
    const n = Math.min(sizes(), data.length - pos);
    chunks.push(...c.push(data.subarray(pos, pos + n)));
    pos += n;
  }
  chunks.push(...c.finish());
  return chunks;
}

function ends(chunks: Uint8Array[]): number[] {
  let pos = 0;
  return chunks.map((c) => (pos += c.length));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

describe("params", () => {
  const bad: [string, Partial<ChunkerParams>][] = [
    ["avg not a power of two", { avgSize: 1000 * 1000 }],
    ["min equal to avg", { minSize: MiB }],
    ["avg equal to max", { maxSize: MiB }],
    ["max over 16 MiB", { maxSize: 32 * MiB }],
    ["avg below 64", { minSize: 8, avgSize: 32, maxSize: 128 }],
    ["min zero", { minSize: 0 }],
    ["fractional max", { maxSize: 4 * MiB + 0.5 }],
    ["negative seed", { seed: -1 }],
    ["seed over 32 bits", { seed: 2 ** 32 }],
  ];
  for (const [name, patch] of bad) {
    test(`rejects ${name}`, () => {
      expect(() => validateChunkerParams({ ...DEFAULT_CHUNKER, ...patch })).toThrow(/Invalid chunker params/);
      expect(() => createChunkerTables({ ...DEFAULT_CHUNKER, ...patch })).toThrow(/Invalid chunker params/);
    });
  }
  test("accepts the default, the small test params and 16 MiB max", () => {
    validateChunkerParams(DEFAULT_CHUNKER);
    validateChunkerParams(SMALL);
    validateChunkerParams({ minSize: 2 * MiB, avgSize: 8 * MiB, maxSize: 16 * MiB, seed: 0xffffffff });
  });
});

describe("gear table and masks", () => {
  // PIN. The gear table of seed 0 and the masks decide every boundary in every vault made
  // with DEFAULT_CHUNKER: changing them re-chunks all data and breaks dedup against
  // existing vaults. Never update these values; add a new seed or format version instead.
  test("seed 0 gives the pinned table", () => {
    const t = createChunkerTables(DEFAULT_CHUNKER);
    expect(Array.from(t.gear.subarray(0, 4))).toEqual(GOLDEN_GEAR_SEED0);
    expect(t.gear.length).toBe(256);
    expect(new Set(t.gear).size).toBe(256);
  });
  test("masks have log2(avg)+2 and log2(avg)-2 high bits, bit 31 clear", () => {
    const t = createChunkerTables(DEFAULT_CHUNKER);
    expect(t.maskS >>> 0).toBe(0x7ffffe00); // 22 bits: 9..30
    expect(t.maskL >>> 0).toBe(0x7fffe000); // 18 bits: 13..30
    expect(chunkerMask(4) >>> 0).toBe(0x78000000);
  });
  test("the table depends on the seed only", () => {
    const a = createChunkerTables(SMALL).gear;
    expect(createChunkerTables(DEFAULT_CHUNKER).gear).toEqual(a);
    expect(createChunkerTables({ ...SMALL, seed: 1 }).gear).not.toEqual(a);
  });
});

describe("cutPoint", () => {
  const paramSets: [string, ChunkerParams][] = [
    ["small", SMALL],
    ["odd min", { minSize: 63, avgSize: 256, maxSize: 1023, seed: 7 }],
    ["min 1", { minSize: 1, avgSize: 64, maxSize: 129, seed: 3 }],
    ["default", DEFAULT_CHUNKER],
  ];
  for (const [name, params] of paramSets) {
    test(`two bytes per step equals the one-byte reference (${name})`, () => {
      const t = createChunkerTables(params);
      const size = params === DEFAULT_CHUNKER ? 12 * MiB : 256 * 1024;
      for (const data of [randomBytes(size, 11), lowEntropyBytes(12, size)]) {
        const got = boundaries(t, data);
        expect(got).toEqual(boundaries(t, data, referenceCut));
        expect(got.length).toBeGreaterThan(size / params.maxSize);
      }
      // Every start parity and every short end, including ends inside [min, avg].
      const data = randomBytes(4 * params.maxSize, 13);
      const next = prng(14);
      for (let k = 0; k < 2000; k++) {
        const start = next() % params.maxSize;
        const end = start + (next() % (2 * params.maxSize));
        expect(cutPoint(t, data, start, end)).toBe(referenceCut(t, data, start, end));
      }
    });
  }

  test("result is in [min(minSize, n), min(maxSize, n)]", () => {
    const t = createChunkerTables(SMALL);
    const data = lowEntropyBytes(21, 4096);
    for (let n = 0; n <= 2100; n++) {
      const len = cutPoint(t, data, 1000, 1000 + n);
      expect(len).toBeGreaterThanOrEqual(Math.min(SMALL.minSize, n));
      expect(len).toBeLessThanOrEqual(Math.min(SMALL.maxSize, n));
    }
  });
});

describe("streaming", () => {
  const data = randomBytes(64 * 1024, 31);
  const t = createChunkerTables(SMALL);
  const whole = boundaries(t, data);
  const next = prng(32);
  const feeds: [string, () => number][] = [
    ["whole", () => data.length],
    ["1 byte", () => 1],
    ["63 bytes", () => 63],
    ["64 bytes", () => 64],
    ["65 bytes", () => 65],
    ["max - 1", () => SMALL.maxSize - 1],
    ["max + 1", () => SMALL.maxSize + 1],
    ["random", () => 1 + (next() % 3000)],
  ];
  for (const [name, sizes] of feeds) {
    test(`boundaries do not depend on feed size: ${name}`, () => {
      const chunks = streamChunks(t, data, sizes);
      expect(ends(chunks)).toEqual(whole);
      expect(concat(chunks)).toEqual(data);
    });
  }

  test("default params, random feeds of 1 B to 9 MiB", () => {
    const big = randomBytes(20 * MiB, 33);
    const td = createChunkerTables(DEFAULT_CHUNKER);
    const wholeBig = boundaries(td, big);
    const r = prng(34);
    const sizes = () => (r() & 1 ? 1 + (r() % 9000) : 1 + (r() % (9 * MiB)));
    expect(ends(streamChunks(td, big, sizes))).toEqual(wholeBig);
  });

  test("chunks concatenate back to the input and sizes stay in [min, max] but the last", () => {
    for (const [params, input] of [
      [SMALL, lowEntropyBytes(35, 200_000)],
      [DEFAULT_CHUNKER, randomBytes(30 * MiB + 12345, 36)],
    ] as const) {
      const chunks = streamChunks(createChunkerTables(params), input, () => 1_000_003);
      expect(concat(chunks)).toEqual(input);
      for (const c of chunks.slice(0, -1)) {
        expect(c.length).toBeGreaterThanOrEqual(params.minSize);
        expect(c.length).toBeLessThanOrEqual(params.maxSize);
      }
      expect(chunks.at(-1)!.length).toBeLessThanOrEqual(params.maxSize);
    }
  });

  test("an empty stream has no chunks; push after finish throws", () => {
    const c = new Chunker(t);
    expect(c.push(new Uint8Array(0))).toEqual([]);
    expect(c.finish()).toEqual([]);
    expect(() => c.push(new Uint8Array(1))).toThrow(/already finished/);
  });
});

test("one inserted byte changes only nearby chunks", () => {
  const t = createChunkerTables(SMALL);
  const data = randomBytes(512 * 1024, 41);
  const key = (c: Uint8Array) => Bun.hash(c).toString();
  const before = streamChunks(t, data, () => data.length);
  const oldKeys = new Set(before.map(key));
  for (const at of [1, 1000, 100_000, 250_000, 500_000]) {
    const edited = new Uint8Array(data.length + 1);
    edited.set(data.subarray(0, at));
    edited[at] = 0x5a;
    edited.set(data.subarray(at), at + 1);
    const after = streamChunks(t, edited, () => 4096);
    const fresh = after.filter((c) => !oldKeys.has(key(c)));
    expect(fresh.length).toBeGreaterThanOrEqual(1);
    expect(fresh.length).toBeLessThanOrEqual(3);
    expect(Math.abs(after.length - before.length)).toBeLessThanOrEqual(2);
  }
});

describe("zero runs", () => {
  // A chunk that starts inside a run of zeros is maxSize long (the gear table guarantees
  // it for every seed): restore recreates such chunks as sparse holes, cheaply.
  test("all-zero input gives max-size chunks", () => {
    const chunks = streamChunks(createChunkerTables(DEFAULT_CHUNKER), new Uint8Array(18 * MiB), () => MiB);
    expect(chunks.map((c) => c.length)).toEqual([4, 4, 4, 4, 2].map((m) => m * MiB));
  });

  test("chunks that start inside a zero run between random data are max-size", () => {
    const t = createChunkerTables(DEFAULT_CHUNKER);
    const data = new Uint8Array(24 * MiB);
    data.set(randomBytes(3 * MiB + 17, 51));
    data.set(randomBytes(2 * MiB, 52), 22 * MiB);
    const zeroEnd = 22 * MiB;
    let start = 0;
    let inside = 0;
    for (const end of boundaries(t, data)) {
      if (start >= 3 * MiB + 17 && start + t.maxSize <= zeroEnd) {
        expect(end - start).toBe(t.maxSize);
        inside++;
      }
      start = end;
    }
    expect(inside).toBeGreaterThanOrEqual(3); // first cut in the run is <= 3 MiB + 17 + max
  });

  test("holds for every seed, even with the smallest avg", () => {
    const zeros = new Uint8Array(4096);
    for (let seed = 0; seed < 300; seed++) {
      const t = createChunkerTables({ minSize: 16, avgSize: 64, maxSize: 256, seed });
      expect(cutPoint(t, zeros, 0, zeros.length)).toBe(256);
    }
  });
});

describe("pinned boundaries", () => {
  // PIN. These boundaries were computed once and must never change: a vault stores chunks
  // by content id, so a chunker that cuts elsewhere stores everything again and breaks
  // dedup with every existing vault. A failure here means the chunker changed, not the test.
  test("DEFAULT_CHUNKER on 16 MiB from mulberry32(20240601)", () => {
    const got = boundaries(createChunkerTables(DEFAULT_CHUNKER), randomBytes(16 * MiB, 20240601));
    expect(got.length).toBe(GOLDEN_DEFAULT.length);
    expect(got).toEqual(GOLDEN_DEFAULT);
  });
  test("small params (64/256/1024) on 8 KiB from mulberry32(7)", () => {
    const got = boundaries(createChunkerTables(SMALL), randomBytes(8192, 7));
    expect(got.length).toBe(GOLDEN_SMALL.length);
    expect(got).toEqual(GOLDEN_SMALL);
  });
});

// Golden values, computed once with the first version of src/chunk/fastcdc.ts. See the PIN
// comments above: they are the on-disk format, never regenerate them to make a test pass.
// gear[1..3] are the high halves of SplitMix64(0) outputs 2..4; gear[0] was redrawn (zero runs).
const GOLDEN_GEAR_SEED0 = [0x984456f3, 0x6e789e6a, 0x06c45d18, 0xf88bb8a8];
const GOLDEN_DEFAULT = [
  1031832, 2025815, 3115997, 4177825, 5321917, 5743601, 6809532, 8114255, 8476505, 8795371,
  9895094, 10967102, 12142373, 13263008, 14398229, 16194177, 16777216,
];
const GOLDEN_SMALL = [
  379, 767, 1036, 1123, 1448, 1724, 2031, 2344, 2707, 3186, 3601, 3680, 3973, 4229, 4429, 4722,
  5027, 5321, 5629, 5917, 6193, 6490, 6763, 7037, 7314, 7668, 7951, 8192,
];
