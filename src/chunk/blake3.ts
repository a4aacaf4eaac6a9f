/**
 * BLAKE3-256 of whole byte arrays, plain or keyed, on the SIMD kernels of blake3-wasm.ts
 * (about 3× hash-wasm's portable build on 1 MiB and 8 KiB inputs, 1.6× on 1 KiB; hashing
 * bounds backup throughput).
 *
 *   copy the input into the module's memory (zero-padded to a whole block)
 *   one chunk (<= 1024 bytes): chain1 over its blocks, CHUNK_START…CHUNK_END | ROOT
 *   else:  n chunks; the whole ones 4 at a time (hash4; 2 or 3 left over make one more
 *          group, see wholeGroups), a single one left over and a partial last one on chain1
 *          -> n chaining values, reduced as BLAKE3's left-balanced tree: n's binary digits
 *          are complete subtrees, largest first; each is reduced level by level (4 parents
 *          at a time), then they are merged right to left, the final parent with ROOT
 *
 * Memory: KEY_AT key words, 64 scratch (one parent block), 128 output, 256 hash4's message
 * vectors, 1024.. chaining values (32 bytes per chunk, n rounded up to a multiple of 4), then
 * the input, with room past it for whole groups of 4 chunks. The memory grows to the largest
 * input seen and stays. Inputs must be shorter than 2^32 chunks (4 TiB): the kernels keep
 * counters in 32 bits.
 */
import { BLAKE3_IV, KERNEL_BYTES, KEY_AT, blake3ModuleBytes } from "./blake3-wasm.ts";

const CHUNK_LEN = 1024;
const CHUNK_START = 1;
const CHUNK_END = 2;
const PARENT = 4;
const ROOT = 8;
const KEYED_HASH = 16;
const SCRATCH_AT = 64;
const OUT_AT = 128;
const CVS_AT = KERNEL_BYTES;
const PAGE = 65536;

/** Hashes whole inputs into 32-byte BLAKE3 outputs; one per thread. */
export interface Blake3 {
  /** Writes the 32-byte hash of data into out[outOffset..] (or a new array) and returns it. */
  hash(data: Uint8Array, out?: Uint8Array, outOffset?: number): Uint8Array;
}

type Hash4 = (input: number, stride: number, blocks: number, counter: number, step: number, flagsAll: number, flagsFirst: number, flagsLast: number, out: number, groups: number) => void;
type Chain1 = (cv: number, input: number, len: number, counterLo: number, counterHi: number, flagsAll: number, flagsFirst: number, flagsLast: number, out: number) => void;

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernels, or null where WebAssembly SIMD is not available. */
function kernels(): WebAssembly.Module | null {
  if (compiled === undefined) {
    const bytes = blake3ModuleBytes();
    compiled = typeof WebAssembly === "object" && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

/**
 * Groups of 4 for hash4 out of `whole` full chunks: a group costs about what 2 chunks cost on
 * chain1, so 2 or 3 left over make one more group. Its spare lanes hash whatever lies past
 * the input; their chaining values land in unused slots, or in the partial last chunk's slot
 * before chain1 writes it.
 */
function wholeGroups(whole: number): number {
  return (whole + 2) >> 2;
}

/** A BLAKE3 hasher (keyed when key, 32 bytes, is given), or null without WebAssembly SIMD. */
export function createBlake3(key?: Uint8Array): Blake3 | null {
  const mod = kernels();
  if (!mod) return null;
  if (key && key.length !== 32) throw new Error(`BLAKE3 key must be 32 bytes, got ${key.length}`);
  const exports = new WebAssembly.Instance(mod, {}).exports;
  const memory = exports.mem as WebAssembly.Memory;
  const hash4 = exports.hash4 as Hash4;
  const chain1 = exports.chain1 as Chain1;
  let mem = new Uint8Array(memory.buffer);
  // a standing view: a fresh subarray per call cost 40 ns, a sixth of hashing 64 bytes
  let outView = mem.subarray(OUT_AT, OUT_AT + 32);
  if (key) mem.set(key, KEY_AT);
  else BLAKE3_IV.forEach((w, i) => new DataView(memory.buffer).setUint32(KEY_AT + 4 * i, w, true));
  const keyed = key ? KEYED_HASH : 0;

  function room(bytes: number): void {
    if (mem.length >= bytes) return;
    memory.grow(Math.ceil((bytes - mem.length) / PAGE));
    mem = new Uint8Array(memory.buffer);
    outView = mem.subarray(OUT_AT, OUT_AT + 32);
  }

  /** Reduces the complete subtree of m chaining values at index s to `target` values, in place. */
  function reduce(s: number, m: number, target: number): void {
    const at = CVS_AT + 32 * s;
    while (m > target) {
      const pairs = m >> 1;
      const groups = pairs >> 2;
      if (groups > 0) hash4(at, 64, 1, 0, 0, keyed | PARENT, 0, 0, at, groups);
      for (let p = groups * 4; p < pairs; p++) chain1(KEY_AT, at + 64 * p, 64, 0, 0, keyed | PARENT, 0, 0, at + 32 * p);
      m = pairs;
    }
  }

  function digest(len: number, input: number): void {
    if (len <= CHUNK_LEN) {
      chain1(KEY_AT, input, len, 0, 0, keyed, CHUNK_START, CHUNK_END | ROOT, OUT_AT);
      return;
    }
    const n = Math.ceil(len / CHUNK_LEN);
    const whole = len % CHUNK_LEN === 0 ? n : n - 1;
    const groups = wholeGroups(whole);
    if (groups > 0) hash4(input, CHUNK_LEN, 16, 0, 1, keyed, CHUNK_START, CHUNK_END, CVS_AT, groups);
    for (let i = groups * 4; i < whole; i++) chain1(KEY_AT, input + i * CHUNK_LEN, CHUNK_LEN, i, 0, keyed, CHUNK_START, CHUNK_END, CVS_AT + 32 * i);
    const last = n - 1;
    if (whole < n) chain1(KEY_AT, input + last * CHUNK_LEN, len - last * CHUNK_LEN, last, 0, keyed, CHUNK_START, CHUNK_END, CVS_AT + 32 * last);
    if ((n & (n - 1)) === 0) {
      reduce(0, n, 2);
      chain1(KEY_AT, CVS_AT, 64, 0, 0, keyed | PARENT | ROOT, 0, 0, OUT_AT);
      return;
    }
    const tops: number[] = [];
    let s = 0;
    for (let size = 2 ** Math.floor(Math.log2(n)); size >= 1; size /= 2) {
      if ((n & size) === 0) continue;
      reduce(s, size, 1);
      tops.push(s);
      s += size;
    }
    let acc = CVS_AT + 32 * tops[tops.length - 1];
    for (let k = tops.length - 2; k >= 0; k--) {
      const left = CVS_AT + 32 * tops[k];
      mem.copyWithin(SCRATCH_AT, left, left + 32);
      mem.copyWithin(SCRATCH_AT + 32, acc, acc + 32);
      chain1(KEY_AT, SCRATCH_AT, 64, 0, 0, keyed | PARENT | (k === 0 ? ROOT : 0), 0, 0, OUT_AT);
      acc = OUT_AT;
    }
  }

  return {
    hash(data, out, outOffset = 0) {
      const len = data.length;
      const chunks4 = Math.ceil(Math.max(1, len / CHUNK_LEN) / 4) * 4;
      const input = CVS_AT + chunks4 * 32;
      const padded = Math.max(64, Math.ceil(len / 64) * 64);
      room(input + Math.max(padded, chunks4 * CHUNK_LEN));
      mem.set(data, input);
      mem.fill(0, input + len, input + padded);
      digest(len, input);
      const result = out ?? new Uint8Array(32);
      result.set(outView, outOffset);
      return result;
    },
  };
}
