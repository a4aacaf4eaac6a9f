/**
 * Seeded mutation fuzzing of decoders: every mutated input must either decode or throw a
 * VaultDamageError naming the key it was given, never any other exception.
 */
import { expect } from "bun:test";
import { VaultDamageError } from "../../src/errors.ts";
import { prng, randomBytes as bytesOf } from "../support/random.ts";

type Mutation = (d: Uint8Array, next: () => number) => { data: Uint8Array; how: string };

const INTERESTING_U32 = [0, 1, 7, 8, 47, 48, 49, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff];

const MUTATIONS: Mutation[] = [
  (d, next) => {
    const at = next() % Math.max(1, d.length);
    const bit = next() & 7;
    const out = d.slice();
    if (out.length) out[at] ^= 1 << bit;
    return { data: out, how: `flip bit ${bit} of byte ${at}` };
  },
  (d, next) => {
    const at = next() % Math.max(1, d.length);
    const out = d.slice();
    if (out.length) out[at] = next() & 255;
    return { data: out, how: `set byte ${at}` };
  },
  (d, next) => {
    const len = next() % (d.length + 1);
    return { data: d.slice(0, len), how: `truncate to ${len}` };
  },
  (d, next) => {
    const start = next() % (d.length + 1);
    return { data: d.slice(start), how: `drop the first ${start} bytes` };
  },
  (d, next) => {
    const seed = next();
    const extra = bytesOf(1 + (next() % 64), seed);
    const out = new Uint8Array(d.length + extra.length);
    out.set(d);
    out.set(extra, d.length);
    return { data: out, how: `append ${extra.length} bytes` };
  },
  (d, next) => {
    const a = next() % (d.length + 1);
    const b = a + (next() % (d.length - a + 1));
    const out = new Uint8Array(d.length - (b - a));
    out.set(d.subarray(0, a));
    out.set(d.subarray(b), a);
    return { data: out, how: `cut bytes ${a}-${b}` };
  },
  (d, next) => {
    const a = next() % (d.length + 1);
    const b = a + (next() % Math.min(64, d.length - a + 1));
    const out = new Uint8Array(d.length + (b - a));
    out.set(d.subarray(0, b));
    out.set(d.subarray(a), b);
    return { data: out, how: `repeat bytes ${a}-${b}` };
  },
  (d, next) => {
    const out = d.slice();
    if (out.length < 4) return { data: out, how: "u32 (too short)" };
    const at = next() % (out.length - 3);
    const value = next() % 2 ? INTERESTING_U32[next() % INTERESTING_U32.length] : next();
    new DataView(out.buffer).setUint32(at, value >>> 0, true);
    return { data: out, how: `u32 ${value >>> 0} at ${at}` };
  },
];

/** `count` mutated variants of base (1–3 stacked mutations each), reproducible from seed. */
export function* mutations(base: Uint8Array, seed: number, count: number): Generator<{ data: Uint8Array; how: string }> {
  const next = prng(seed);
  for (let i = 0; i < count; i++) {
    let data = base;
    const hows: string[] = [];
    const stack = 1 + (next() % 3);
    for (let k = 0; k < stack; k++) {
      const m = MUTATIONS[next() % MUTATIONS.length](data, next);
      data = m.data;
      hows.push(m.how);
    }
    yield { data, how: `#${i}: ${hows.join(", ")}` };
  }
}

/** Outcome counts of a fuzz run. */
export interface FuzzOutcome {
  decoded: number;
  damaged: number;
}

/**
 * Feeds every mutation of base to decode. A throw that is not a VaultDamageError naming `key`
 * fails the test with the mutation that caused it. `onDecoded` may assert on what decoded.
 */
export function fuzz<T>(
  base: Uint8Array,
  options: { seed: number; count: number; key: string; decode: (data: Uint8Array) => T; onDecoded?: (value: T, data: Uint8Array, how: string) => void },
): FuzzOutcome {
  const outcome: FuzzOutcome = { decoded: 0, damaged: 0 };
  for (const { data, how } of mutations(base, options.seed, options.count)) {
    let value: T;
    try {
      value = options.decode(data);
    } catch (err) {
      if (!(err instanceof VaultDamageError) || err.key !== options.key) {
        throw new Error(`decoding mutation ${how} threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
      }
      outcome.damaged++;
      continue;
    }
    outcome.decoded++;
    options.onDecoded?.(value, data, how);
  }
  return outcome;
}

/** Asserts that fn throws a VaultDamageError naming key, with a message matching `message`. */
export function expectDamage(fn: () => unknown, key: string, message?: RegExp): VaultDamageError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(VaultDamageError);
  const err = caught as VaultDamageError;
  expect(err.key).toBe(key);
  if (message) expect(err.message).toMatch(message);
  return err;
}

/** Test keys of an encrypted vault (fixed, so failures reproduce). */
export function testKeys(seed = 1): { encryptKey: Uint8Array; idKey: Uint8Array } {
  return { encryptKey: bytesOf(32, seed), idKey: bytesOf(32, seed + 1) };
}

/** True when two byte arrays are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
