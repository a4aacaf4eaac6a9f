/**
 * Content-defined chunking: normalized FastCDC (level 2) over a 32-bit gear hash. Pure: no
 * I/O, no clock, no randomness beyond the seeded gear table.
 *
 * Invariants (a change to any of them breaks dedup in every existing vault, which is why
 * test/chunk/fastcdc.test.ts pins the table and the boundaries):
 * - Boundaries depend only on the bytes and the params, never on how the input is fed.
 * - Every chunk but the last of a stream is in [minSize, maxSize] (last: [1, maxSize]).
 * - A run of zero bytes longer than minSize + 32 never matches a mask, so a chunk that starts
 *   inside the run is maxSize long. Restore relies on it to recreate sparse holes cheaply.
 *
 * One chunk, starting at s with n bytes available (n < maxSize only at end of stream):
 *   if n <= minSize: cut at n
 *   h = 0
 *   for i in [s+minSize, s+min(avg, n)):  h = (h << 1) + gear[b[i]]; if h & maskS == 0: cut
 *   for i in [s+avg, s+min(max, n)):      h = (h << 1) + gear[b[i]]; if h & maskL == 0: cut
 *   cut at min(max, n)
 * The hot loop rolls two bytes per step (FastCDC 2020): it keeps 2h after the even byte by
 * adding gearLs[b] = gear[b] << 1 to h << 2 and tests it against mask << 1, then adds
 * gear[b'] for the odd byte. Masks never use bit 31, so both tests are exact.
 *
 * Masks: a mask of k bits sets bits 30 down to 31-k, contiguous. In a 32-bit gear hash bit j
 * depends only on the last j+1 bytes, so the highest usable bits give the widest window
 * (31 bytes); the 64-bit paper spreads its bits to widen the window, and here spreading could
 * only pull in low bits that see fewer bytes. maskS has log2(avg)+2 bits, maskL log2(avg)-2.
 * Every mask (avg >= 64) contains bits 27..30, which the zero-run guarantee uses.
 */

/** Chunker parameters, stored in the vault config. */
export interface ChunkerParams {
  /** No cut before this many bytes. */
  minSize: number;
  /** Target average, a power of two; the cut probability changes here. */
  avgSize: number;
  /** Forced cut at this many bytes. */
  maxSize: number;
  /** Selects the gear table; an integer in [0, 2^32). */
  seed: number;
}

/** The vault default: 256 KiB / 1 MiB / 4 MiB, seed 0. */
export const DEFAULT_CHUNKER: ChunkerParams = Object.freeze({
  minSize: 256 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 4 * 1024 * 1024,
  seed: 0,
});

/** Largest maxSize accepted (a chunk must fit in a ~16 MiB pack). */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/** Smallest avgSize accepted: maskL needs at least the 4 bits 27..30. */
export const MIN_AVG_SIZE = 64;

/** Precomputed tables and masks for one parameter set; immutable, cheap to share. */
export interface ChunkerTables {
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
  /** 256 gear values, derived from the seed only. */
  readonly gear: Uint32Array;
  /** The same values as int32 (a view of gear), so the hot loop stays in int32. */
  readonly gear32: Int32Array;
  /** gear[b] << 1 as int32, for the even byte of a two-byte step. */
  readonly gearLs: Int32Array;
  /** Mask below avgSize (log2(avg)+2 bits): harder to match. */
  readonly maskS: number;
  /** Mask from avgSize to maxSize (log2(avg)-2 bits): easier to match. */
  readonly maskL: number;
}

/** Throws an Error naming the first bad parameter. */
export function validateChunkerParams(p: ChunkerParams): void {
  const { minSize, avgSize, maxSize, seed } = p;
  for (const [name, v] of [["minSize", minSize], ["avgSize", avgSize], ["maxSize", maxSize]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new Error(`Invalid chunker params: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`Invalid chunker params: seed must be an integer in [0, 2^32), got ${seed}`);
  }
  if ((avgSize & (avgSize - 1)) !== 0 || avgSize < MIN_AVG_SIZE) {
    throw new Error(`Invalid chunker params: avgSize must be a power of two >= ${MIN_AVG_SIZE}, got ${avgSize}`);
  }
  if (!(minSize < avgSize && avgSize < maxSize)) {
    throw new Error(
      `Invalid chunker params: need minSize < avgSize < maxSize, got ${minSize}, ${avgSize}, ${maxSize}`,
    );
  }
  if (maxSize > MAX_CHUNK_SIZE) {
    throw new Error(`Invalid chunker params: maxSize must be <= ${MAX_CHUNK_SIZE}, got ${maxSize}`);
  }
}

const M64 = (1n << 64n) - 1n;
/** Bits 27..30: every mask contains them, so a zero-run state with one of them set never cuts. */
const TOP_BITS = 0x78000000;

/**
 * The gear table for a seed. PRNG: SplitMix64 (Steele, Lea, Flood 2014) started at state =
 * seed; each value is the high 32 bits of one output. Values 0..255 fill the table in order;
 * then, while gear[0] fails zeroRunSafe, gear[0] takes the next output. Fixed forever.
 */
export function gearTable(seed: number): Uint32Array {
  let state = BigInt(seed);
  function next(): number {
    state = (state + 0x9e3779b97f4a7c15n) & M64;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    z ^= z >> 31n;
    return Number(z >> 32n);
  }
  const gear = new Uint32Array(256);
  for (let i = 0; i < 256; i++) gear[i] = next();
  while (!zeroRunSafe(gear[0])) gear[0] = next();
  return gear;
}

/**
 * True if hashing zeros from h = 0 never clears all of bits 27..30. The states are
 * g0 * (2^k - 1) mod 2^32, constant from k = 32 on, so 32 states cover an endless run.
 */
function zeroRunSafe(g0: number): boolean {
  let h = 0;
  for (let k = 0; k < 32; k++) {
    h = ((h << 1) + g0) | 0;
    if ((h & TOP_BITS) === 0) return false;
  }
  return true;
}

/** A mask of `bits` one-bits at bits 30 down to 31-bits (see the module comment). */
export function chunkerMask(bits: number): number {
  if (bits < 1 || bits > 31) throw new Error(`Invalid chunker mask width: ${bits}`);
  return (0x7fffffff >>> (31 - bits)) << (31 - bits);
}

/** Validates params and precomputes the gear tables and masks. */
export function createChunkerTables(params: ChunkerParams): ChunkerTables {
  validateChunkerParams(params);
  const gear = gearTable(params.seed);
  const gear32 = new Int32Array(gear.buffer);
  const gearLs = new Int32Array(256);
  for (let i = 0; i < 256; i++) gearLs[i] = gear32[i] << 1;
  const log2 = Math.log2(params.avgSize);
  return Object.freeze({
    minSize: params.minSize,
    avgSize: params.avgSize,
    maxSize: params.maxSize,
    gear,
    gear32,
    gearLs,
    maskS: chunkerMask(log2 + 2),
    maskL: chunkerMask(log2 - 2),
  });
}

/**
 * Length of the chunk that starts at data[start], with data[start..end) available.
 * The caller MUST pass at least maxSize bytes unless `end` is the end of the stream: with
 * fewer, a cut at end - start is an end-of-stream cut, not a content boundary.
 * The result is in [min(minSize, n), min(maxSize, n)] for n = end - start.
 */
export function cutPoint(tables: ChunkerTables, data: Uint8Array, start: number, end: number): number {
  const n = end - start;
  const minSize = tables.minSize;
  if (n <= minSize) return n;
  const maxSize = tables.maxSize;
  const limit = start + (n < maxSize ? n : maxSize);
  let normal = start + tables.avgSize;
  if (normal > limit) normal = limit;
  const gear = tables.gear32;
  const gearLs = tables.gearLs;
  let mask = tables.maskS;
  let maskLs = mask << 1;
  let h = 0;
  let i = start + minSize;
  let barrier = normal;
  for (let phase = 0; phase < 2; phase++) {
    const pairEnd = barrier - 1;
    while (i < pairEnd) {
      h = ((h << 2) + gearLs[data[i]]) | 0;
      if ((h & maskLs) === 0) return i + 1 - start;
      h = (h + gear[data[i + 1]]) | 0;
      if ((h & mask) === 0) return i + 2 - start;
      i += 2;
    }
    if (i < barrier) {
      h = ((h << 1) + gear[data[i]]) | 0;
      if ((h & mask) === 0) return i + 1 - start;
      i++;
    }
    mask = tables.maskL;
    maskLs = mask << 1;
    barrier = limit;
  }
  return limit - start;
}

/**
 * Streaming chunker, for inputs that arrive in pieces. Gives exactly the boundaries of
 * cutPoint over the whole input. Buffers at most maxSize - 1 bytes between pushes.
 */
export class Chunker {
  readonly #tables: ChunkerTables;
  readonly #buf: Uint8Array;
  #pending = 0;
  #finished = false;

  constructor(tables: ChunkerTables) {
    this.#tables = tables;
    this.#buf = new Uint8Array(tables.maxSize);
  }

  /**
   * Feeds the next bytes; returns the chunks they complete, in order. A chunk that lies
   * wholly inside `data` is a view of it (no copy): do not reuse `data` while you need it.
   */
  push(data: Uint8Array): Uint8Array[] {
    if (this.#finished) throw new Error("Cannot push to chunker: already finished");
    const t = this.#tables;
    const max = t.maxSize;
    const buf = this.#buf;
    const out: Uint8Array[] = [];
    let pos = 0;
    while (this.#pending > 0) {
      const old = this.#pending;
      const take = Math.min(max - old, data.length - pos);
      buf.set(data.subarray(pos, pos + take), old);
      this.#pending = old + take;
      pos += take;
      if (this.#pending < max) return out;
      const len = cutPoint(t, buf, 0, max);
      out.push(buf.slice(0, len));
      if (len >= old) {
        // The chunk used up every buffered byte: go on reading straight from data.
        pos = pos - take + (len - old);
        this.#pending = 0;
      } else {
        buf.copyWithin(0, len, old);
        this.#pending = old - len;
        pos -= take;
      }
    }
    while (data.length - pos >= max) {
      const len = cutPoint(t, data, pos, data.length);
      out.push(data.subarray(pos, pos + len));
      pos += len;
    }
    buf.set(data.subarray(pos), 0);
    this.#pending = data.length - pos;
    return out;
  }

  /** Ends the stream; returns the remaining chunks (more than one is possible, or none). */
  finish(): Uint8Array[] {
    if (this.#finished) throw new Error("Cannot finish chunker: already finished");
    this.#finished = true;
    const out: Uint8Array[] = [];
    const end = this.#pending;
    let pos = 0;
    while (pos < end) {
      const len = cutPoint(this.#tables, this.#buf, pos, end);
      out.push(this.#buf.slice(pos, pos + len));
      pos += len;
    }
    this.#pending = 0;
    return out;
  }
}
