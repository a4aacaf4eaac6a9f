/**
 * Argon2id (RFC 9106, version 0x13), with the memory filling on the SIMD kernel of
 * argon2-wasm.ts, bit-identical to hash-wasm's argon2id and to the RFC's test vector.
 *
 *   H0      = BLAKE2b-512(p ‖ T ‖ m ‖ t ‖ 0x13 ‖ 2 ‖ password ‖ salt ‖ secret ‖ ad), each
 *             length-prefixed, all numbers 32-bit little-endian
 *   B[l][0] = H'(H0 ‖ 0 ‖ l), B[l][1] = H'(H0 ‖ 1 ‖ l)       (1 KiB each, per lane l)
 *   t passes × 4 slices × p lanes: fill(segment)              (the kernel, on 1 or 2 threads:
 *                                                              _argon2-lanes.ts)
 *   tag     = H'^T(B[0][q-1] ^ … ^ B[p-1][q-1])
 *
 * H' and H0 use hash-wasm's BLAKE2b: a few dozen small hashes. With several lanes and enough
 * memory, a helper thread (_argon2-worker.ts) fills lanes beside this one on a shared memory;
 * it starts while this thread hashes the first blocks, and if it cannot start, this thread
 * does all the work. At 64 MiB, t=3, p=4 on 2 cores: about 120 ms instead of hash-wasm's
 * 320 ms (170 ms on one thread). Each call makes a fresh WebAssembly memory of m KiB and
 * drops it (and the helper), so its pages go back at the next collection. Without
 * WebAssembly SIMD, this falls back to hash-wasm's argon2id.
 */
import { argon2id as portableArgon2id, createBLAKE2b, type IHasher } from "hash-wasm";
import { BLOCKS_AT, type Fill, type LaneJob, failLanes, fillLanes, openLanes } from "./_argon2-lanes.ts";
import { argon2ModuleBytes, wordOffset } from "./argon2-wasm.ts";

/** Inputs of one Argon2id derivation. */
export interface Argon2Options {
  password: Uint8Array | string;
  salt: Uint8Array;
  /** Memory in KiB, at least 8 × parallelism. */
  memoryKib: number;
  iterations: number;
  parallelism: number;
  /** Bytes of output, at least 4. */
  hashLength: number;
  /** The optional secret key K of RFC 9106. */
  secret?: Uint8Array;
  /** The optional associated data X of RFC 9106. */
  associatedData?: Uint8Array;
  /** 1 or 2 threads; by default 2 when it pays: several lanes, memory × passes >= THREAD_MIN_WORK_KIB. */
  threads?: number;
}

const VERSION = 0x13;
const TYPE_ID = 2;
const BLOCK = 1024;
const PAGE = 65536;
/**
 * Least memory × passes (KiB) worth a second thread. Measured on 2 cores, p=4: below about
 * 6 MiB·passes a thread's start (about 5 ms, mostly on the other core) eats the gain; from
 * 8 it wins (16 MiB × t=3: 47 ms on one thread, 36 on two; 64 MiB × t=3: 170, 120).
 */
export const THREAD_MIN_WORK_KIB = 8192;

const compiled = new Map<boolean, WebAssembly.Module | null>();

/** The compiled kernel (for shared memory or not), or null without WebAssembly SIMD. */
function kernel(shared: boolean): WebAssembly.Module | null {
  if (!compiled.has(shared)) {
    const bytes = argon2ModuleBytes({ shared });
    compiled.set(shared, typeof WebAssembly === "object" && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null);
  }
  return compiled.get(shared)!;
}

/** Where the helper thread lives: next to this file in source, under vault/ in the binary. */
function helperUrl(): string {
  return import.meta.url.includes("$bunfs") ? new URL("./vault/_argon2-worker.ts", import.meta.url).href : new URL("./_argon2-worker.ts", import.meta.url).href;
}

/** Starts a thread that fills lanes beside this one, or returns null where none can start. */
function startHelper(module: WebAssembly.Module, memory: WebAssembly.Memory, job: LaneJob): Worker | null {
  try {
    const worker = new Worker(helperUrl());
    worker.onerror = () => {}; // a helper that fails takes no work, or stops the others (FAILED)
    worker.postMessage({ module, memory, job });
    return worker;
  } catch {
    return null;
  }
}

function le32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** BLAKE2b hashers by output bytes (hash-wasm's are reusable: init() resets them). */
const hashers = new Map<number, IHasher>();

/** BLAKE2b of the concatenated parts, with out bytes of output. */
type Blake2b = (out: number, parts: Uint8Array[]) => Uint8Array;

/** Loads the hashers of the given output sizes, so that hashing itself is synchronous. */
async function loadBlake2b(sizes: number[]): Promise<Blake2b> {
  for (const n of sizes) if (!hashers.has(n)) hashers.set(n, await createBLAKE2b(8 * n));
  return (out, parts) => {
    const h = hashers.get(out)!.init();
    for (const p of parts) h.update(p);
    return h.digest("binary");
  };
}

/** The output sizes H'^t needs. */
function hPrimeSizes(t: number): number[] {
  return t <= 64 ? [t] : [64, t - 32 * (Math.ceil(t / 32) - 2)];
}

/** H'^T(parts): the variable-length hash of RFC 9106 section 3.3, into out. */
function hPrime(h: Blake2b, out: Uint8Array, parts: Uint8Array[]): void {
  const t = out.length;
  if (t <= 64) {
    out.set(h(t, [le32(t), ...parts]));
    return;
  }
  const r = Math.ceil(t / 32) - 2;
  let v = h(64, [le32(t), ...parts]);
  for (let i = 1; i < r; i++) {
    out.set(v.subarray(0, 32), 32 * (i - 1));
    v = h(64, [v]);
  }
  out.set(v.subarray(0, 32), 32 * (r - 1));
  out.set(h(t - 32 * r, [v]), 32 * r);
}

/** Copies a block in RFC order into memory at `at`, in the kernel's order. */
function putBlock(mem: Uint8Array, at: number, block: Uint8Array): void {
  for (let w = 0; w < 128; w++) mem.set(block.subarray(8 * w, 8 * w + 8), at + wordOffset(w));
}

/** XORs the block at `at`, in the kernel's order, into acc, in RFC order. */
function xorBlock(acc: Uint8Array, mem: Uint8Array, at: number): void {
  for (let w = 0; w < 128; w++) {
    const from = at + wordOffset(w);
    for (let b = 0; b < 8; b++) acc[8 * w + b] ^= mem[from + b];
  }
}

function check(o: Argon2Options): void {
  const limits: [string, number, number, number][] = [
    ["parallelism", o.parallelism, 1, 0xffffff],
    ["memory (KiB)", o.memoryKib, 8 * o.parallelism, 4 * 1024 * 1024 - 64],
    ["iterations", o.iterations, 1, 0xffffffff],
    ["hash length", o.hashLength, 4, 0xffffffff],
  ];
  for (const [name, v, min, max] of limits) {
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`Cannot run Argon2id: ${name} must be an integer from ${min} to ${max}, got ${v}`);
  }
}

/** Argon2id of password and salt (RFC 9106): hashLength bytes. */
export async function argon2id(o: Argon2Options): Promise<Uint8Array> {
  check(o);
  const lanes = o.parallelism;
  const laneLength = 4 * Math.floor(o.memoryKib / (4 * lanes));
  const job: LaneJob = { lanes, laneLength, passes: o.iterations };
  const wanted = o.threads ?? (o.memoryKib * o.iterations >= THREAD_MIN_WORK_KIB ? 2 : 1);
  const threads = wanted > 1 && lanes > 1 && typeof Worker === "function" && kernel(true) ? 2 : 1;
  const module = kernel(threads > 1);
  if (!module) {
    // hash-wasm's portable build: same output, slower (and it takes no associated data)
    if (o.associatedData?.length) throw new Error("Cannot derive the key: Argon2id associated data needs WebAssembly SIMD");
    const { password, salt, secret, iterations, parallelism, hashLength } = o;
    return portableArgon2id({ password, salt, secret, iterations, parallelism, hashLength, memorySize: o.memoryKib, outputType: "binary" });
  }
  const pages = Math.ceil((BLOCKS_AT + lanes * laneLength * BLOCK) / PAGE);
  const memory = new WebAssembly.Memory(threads > 1 ? { initial: pages, maximum: pages, shared: true } : { initial: pages });
  // the helper starts (a few ms) while this thread hashes the first blocks
  const helper = threads > 1 ? startHelper(module, memory, job) : null;
  try {
    const fill = new WebAssembly.Instance(module, { env: { mem: memory } }).exports.fill as Fill;
    const h = await loadBlake2b([64, ...hPrimeSizes(o.hashLength)]);
    const password = typeof o.password === "string" ? new TextEncoder().encode(o.password) : o.password;
    const h0 = h(64, [
      ...[lanes, o.hashLength, o.memoryKib, o.iterations, VERSION, TYPE_ID].map(le32),
      ...[password, o.salt, o.secret ?? new Uint8Array(0), o.associatedData ?? new Uint8Array(0)].flatMap((part) => [le32(part.length), part]),
    ]);
    const mem = new Uint8Array(memory.buffer);
    const block = new Uint8Array(BLOCK);
    for (let l = 0; l < lanes; l++) {
      for (const j of [0, 1]) {
        hPrime(h, block, [h0, le32(j), le32(l)]);
        putBlock(mem, BLOCKS_AT + (l * laneLength + j) * BLOCK, block);
      }
    }
    openLanes(memory);
    fillLanes(fill, { memory, job, thread: 0, all: true });
    const last = block.fill(0);
    for (let l = 0; l < lanes; l++) xorBlock(last, mem, BLOCKS_AT + ((l + 1) * laneLength - 1) * BLOCK);
    const tag = new Uint8Array(o.hashLength);
    hPrime(h, tag, [last]);
    return tag;
  } finally {
    if (helper) {
      failLanes(memory); // wakes the helper if it still waits (this call failed early): it stops
      helper.terminate();
    }
  }
}
