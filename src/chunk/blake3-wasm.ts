/**
 * The WebAssembly kernels of BLAKE3 (blake3.ts drives them), emitted as bytes by this file:
 * no toolchain, no binary blob, and the code below is the whole of it.
 *
 *   hash4(in, stride, blocks, counter, step, flagsAll, flagsFirst, flagsLast, out, groups)
 *     `groups` times: compresses 4 independent inputs side by side with 128-bit SIMD, one
 *     32-bit word of each input per lane. Input k of a group starts at in + k*stride, has
 *     `blocks` full 64-byte blocks and block counter `counter + k*step`; the first block adds
 *     flagsFirst, the last flagsLast. Writes the four 32-byte chaining values at out, then
 *     moves on by 4 inputs (in += 4*stride, counter += 4*step, out += 128).
 *     Full chunks: stride 1024, blocks 16, step 1, CHUNK_START / CHUNK_END.
 *     Parents:     stride 64 (left ‖ right chaining values, contiguous), blocks 1, step 0, PARENT.
 *   chain1(cv, in, len, counterLo, counterHi, flagsAll, flagsFirst, flagsLast, out)
 *     one input: chains compressions over ceil(len/64) blocks (one when len is 0) starting
 *     from the 8 words at cv; the last block is len's remainder (zero-padded by the caller).
 *     Each compression holds a state row per vector, so it is a chain of dependent steps.
 *
 * The key (8 words) lives at KEY_AT in the module's memory; both kernels start from it.
 * Compression and its message schedule are as in the BLAKE3 paper (section 2.2): 7 rounds,
 * G on columns then diagonals, the message permutation applied here, at generation time.
 *
 * The shapes were chosen by measuring Bun's JavaScriptCore (OMG tier, x86-64 with AVX, 16 xmm
 * registers); hash4 alone went from about 730 to 1100 MB/s per core, chain1 from about 170 ns
 * per block (scalar i32 code, spilling heavily) to 120. What the compiler does with SIMD here:
 * - v128.and/or/xor become vandps/vorps/vxorps, float-domain instructions: between integer
 *   ops each costs 3 cycles of latency instead of 1. G cannot avoid its 4 xors, but rotations
 *   join their halves with i32x4.add (the bits are disjoint), not or.
 * - Shifts by a constant are not immediates: each moves the count into a vector register
 *   (3 more instructions, off the dependency chain). i8x16.shuffle of one vector is a single
 *   pshufb (rotr 16 and 8); of two, two pshufb and an or.
 * - Loads are cheap, spills are not: hash4's 16 state vectors and 8 chaining values are
 *   locals, but its 16 message vectors go to MSG_AT once per block and the rounds load them.
 *   As locals they were spilled and reloaded around every use (3× slower); state rows kept in
 *   memory on purpose were slower too.
 * hash4 is bound by throughput, so it takes the fewest instructions: message words gathered
 * straight into word-major vectors (v128.load32_zero, 3 × v128.load32_lane: +20% over a 4×4
 * shuffle transpose); rotr 12 = (x >> 12) + x * 2^20; rotr 7 = rotr 8, then rotl 1 as
 * y + y - (y < 0) (+13% together); G adds the message word before b, the last value of the
 * previous step to settle; columns two at a time, interleaved step by step (+5%; one or four
 * at a time, or 8 inputs in two interleaved groups, spilled more and ran slower).
 * chain1 is bound by latency, so it takes the shortest chains: rotr 12 and 7 as two parallel
 * shifts; for the diagonal step it turns rows a, c and d, not b (b settles last), and gives
 * lane i diagonal i - 1 (−13%). Two inputs interleaved in one loop spilled, and ran slower
 * than two calls.
 */

import {
  BLOCK, BR, BR_IF, Code, END, EXTERN_FUNC, EXTERN_MEMORY, type Func, I32, I32_ADD, I32_EQ, I32_EQZ, I32_LT_U, I32_MUL,
  I32_SHL, I32_SHR_U, I32_SUB, LOOP, SELECT, V128, V_LOAD, V_STORE, V_XOR, moduleBytes,
} from "../wasm/emit.ts";

/** Byte offset of the key (or IV) words in the module's memory. */
export const KEY_AT = 0;
/** hash4's message vectors (16 × 16 bytes) of the current block. */
const MSG_AT = 256;
/** Bytes at the start of memory that the kernels use (key, scratch); inputs go above. */
export const KERNEL_BYTES = 1024;

const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

/** The BLAKE3 IV (the key words of unkeyed hashing). */
export const BLAKE3_IV: readonly number[] = IV;

// Opcodes used here alone (the rest come with emit.ts); V_ ones follow the 0xfd prefix. Memory
// accesses hint 4-byte alignment (2) for 32-bit lanes and none (0) for vectors: inputs need
// not be 16-byte aligned.
const I32_GT_U = 0x4b;
const I32_OR = 0x72;
const V_LOAD32_SPLAT = 0x09;
const V_SPLAT = 0x11;
const V_AND = 0x4e;
const V_LOAD32_LANE = 0x56;
const V_LOAD32_ZERO = 0x5c;
const V_REPLACE_LANE = 0x1c;
const V_LT_S = 0x39;
const V_SHL = 0xab;
const V_SHR_U = 0xad;
const V_ADD = 0xae;
const V_SUB = 0xb1;
const V_MUL = 0xb5;

/** v128.const bytes of four 32-bit words. */
function wordBytes(w: readonly number[]): number[] {
  return w.flatMap((x) => [x & 255, (x >>> 8) & 255, (x >>> 16) & 255, (x >>> 24) & 255]);
}

function splat4(w: number): number[] {
  return wordBytes([w, w, w, w]);
}

/** Shuffle of 32-bit words: w in 0..3 from the first operand, 4..7 from the second. */
function wordShuffle(w: readonly number[]): number[] {
  return w.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]);
}

/** Byte shuffles that rotate every 32-bit lane right by 16 and by 8. */
const ROT16 = [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13];
const ROT8 = [1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12];

/** One G application: state indices a, b, c, d and the message words it adds. */
type Quad = readonly [a: number, b: number, c: number, d: number, mx: number, my: number];

/** The 7 rounds as G applications, 4 on columns then 4 on diagonals, message permuted. */
function schedule(): Quad[][] {
  const rounds: Quad[][] = [];
  let s = Array.from({ length: 16 }, (_, i) => i);
  for (let r = 0; r < 7; r++) {
    const m = s;
    rounds.push([
      [0, 4, 8, 12, m[0], m[1]], [1, 5, 9, 13, m[2], m[3]], [2, 6, 10, 14, m[4], m[5]], [3, 7, 11, 15, m[6], m[7]],
      [0, 5, 10, 15, m[8], m[9]], [1, 6, 11, 12, m[10], m[11]], [2, 7, 8, 13, m[12], m[13]], [3, 4, 9, 14, m[14], m[15]],
    ]);
    s = PERMUTATION.map((p) => s[p]);
  }
  return rounds;
}

/** One G application on v128 locals a, b, c, d; mx and my push its two message vectors. */
interface G {
  a: number;
  b: number;
  c: number;
  d: number;
  mx: () => void;
  my: () => void;
}

/** Rotates the vector on the stack right by n bits in each 32-bit lane. */
type Rotr = (n: 16 | 12 | 8 | 7) => void;

/** Fewest instructions (hash4 is bound by throughput): one shift each for 12 and 7. */
function rotrLean(c: Code, tmp: number): Rotr {
  return (n) => {
    if (n === 16) c.tee(tmp).get(tmp).shuffle(ROT16);
    else if (n === 12) c.tee(tmp).i32(12).simd(V_SHR_U).get(tmp).vconst(splat4(1 << 20)).simd(V_MUL).simd(V_ADD);
    else {
      c.tee(tmp).get(tmp).shuffle(ROT8);
      // rotr 7 = rotl 1 of that: y + y, plus 1 where y's top bit is set (y < 0 is -1 there)
      if (n === 7) c.tee(tmp).get(tmp).simd(V_ADD).get(tmp).vconst(splat4(0)).simd(V_LT_S).simd(V_SUB);
    }
  };
}

/** Shortest dependency chains (chain1 is bound by latency): two parallel shifts for 12 and 7. */
function rotrQuick(c: Code, tmp: number): Rotr {
  const lean = rotrLean(c, tmp);
  return (n) => {
    if (n === 16 || n === 8) lean(n);
    else c.tee(tmp).i32(n).simd(V_SHR_U).get(tmp).i32(32 - n).simd(V_SHL).simd(V_ADD);
  };
}

/** Emits G for each of gs, step by step across them (they must be independent). */
function mix(c: Code, gs: G[], rotr: Rotr): void {
  const step = (f: (g: G) => void) => gs.forEach(f);
  for (const [msg, r1, r2] of [["mx", 16, 12], ["my", 8, 7]] as const) {
    // a + m first: b is the last input to settle
    step((g) => { c.get(g.a); g[msg](); c.simd(V_ADD).get(g.b).simd(V_ADD).set(g.a); });
    step((g) => { c.get(g.d).get(g.a).simd(V_XOR); rotr(r1); c.set(g.d); });
    step((g) => { c.get(g.c).get(g.d).simd(V_ADD).set(g.c); });
    step((g) => { c.get(g.b).get(g.c).simd(V_XOR); rotr(r2); c.set(g.b); });
  }
}

/** Pushes flagsAll | (b == 0 ? flagsFirst : 0) | (b == blocks - 1 ? flagsLast : 0). */
function flags(c: Code, all: number, first: number, last: number, b: number, blocks: number): void {
  c.get(all).get(first).i32(0).get(b).op(I32_EQZ, SELECT, I32_OR);
  c.get(last).i32(0).get(b).get(blocks).i32(1).op(I32_SUB, I32_EQ, SELECT, I32_OR);
}

/** Transposes four vectors in place: rows (inputs) to columns (words), or back. */
function transpose(c: Code, rows: number[], t: number[]): void {
  const [a, b, cc, d] = rows;
  c.get(a).get(b).shuffle(wordShuffle([0, 4, 1, 5])).set(t[0]);
  c.get(a).get(b).shuffle(wordShuffle([2, 6, 3, 7])).set(t[1]);
  c.get(cc).get(d).shuffle(wordShuffle([0, 4, 1, 5])).set(t[2]);
  c.get(cc).get(d).shuffle(wordShuffle([2, 6, 3, 7])).set(t[3]);
  c.get(t[0]).get(t[2]).shuffle(wordShuffle([0, 1, 4, 5])).set(a);
  c.get(t[0]).get(t[2]).shuffle(wordShuffle([2, 3, 6, 7])).set(b);
  c.get(t[1]).get(t[3]).shuffle(wordShuffle([0, 1, 4, 5])).set(cc);
  c.get(t[1]).get(t[3]).shuffle(wordShuffle([2, 3, 6, 7])).set(d);
}

function hash4(): Func {
  // params 0..9; i32 locals 10..14; v128 locals 15..42
  const [IN, STRIDE, BLOCKS, CTR, STEP, ALL, FIRST, LAST, OUT, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const B = 10;
  const P = [11, 12, 13, 14];
  const V = 15;
  const H = 31;
  const CTRV = 39;
  const FL = 40;
  const TMP = 41;
  const c = new Code();
  c.op(BLOCK, 0x40, LOOP, 0x40);
  c.get(GROUPS).op(I32_EQZ, BR_IF, 1);
  for (let i = 0; i < 8; i++) c.i32(0).vmem(V_LOAD32_SPLAT, 2, KEY_AT + 4 * i).set(H + i);
  for (let k = 0; k < 4; k++) c.get(IN).get(STRIDE).i32(k).op(I32_MUL, I32_ADD).set(P[k]);
  // counters: counter + k*step, step being 0 or 1
  c.get(CTR).simd(V_SPLAT).vconst(wordBytes([0, 1, 2, 3])).i32(0).get(STEP).op(I32_SUB).simd(V_SPLAT).simd(V_AND).simd(V_ADD).set(CTRV);
  c.i32(0).set(B);
  c.op(LOOP, 0x40);
  // message vector w = word w of the 4 inputs' current blocks
  for (let w = 0; w < 16; w++) {
    c.i32(0);
    for (let k = 3; k >= 0; k--) c.get(P[k]);
    c.vmem(V_LOAD32_ZERO, 2, 4 * w);
    for (let k = 1; k < 4; k++) c.vmem(V_LOAD32_LANE, 2, 4 * w, k);
    c.vmem(V_STORE, 0, MSG_AT + 16 * w);
  }
  for (let i = 0; i < 8; i++) c.get(H + i).set(V + i);
  for (let i = 0; i < 4; i++) c.vconst(splat4(IV[i])).set(V + 8 + i);
  c.get(CTRV).set(V + 12);
  c.vconst(splat4(0)).set(V + 13);
  c.vconst(splat4(64)).set(V + 14);
  flags(c, ALL, FIRST, LAST, B, BLOCKS);
  c.simd(V_SPLAT).set(V + 15);
  // G on two columns (or diagonals) at a time
  const rotr = rotrLean(c, TMP);
  const msg = (i: number) => () => c.i32(0).vmem(V_LOAD, 0, MSG_AT + 16 * i);
  for (const round of schedule()) {
    for (let k = 0; k < 8; k += 2) {
      const gs = round.slice(k, k + 2).map(([a, b, cc, d, mx, my]) => ({ a: V + a, b: V + b, c: V + cc, d: V + d, mx: msg(mx), my: msg(my) }));
      mix(c, gs, rotr);
    }
  }
  for (let i = 0; i < 8; i++) c.get(V + i).get(V + 8 + i).simd(V_XOR).set(H + i);
  for (let k = 0; k < 4; k++) c.get(P[k]).i32(64).op(I32_ADD).set(P[k]);
  c.get(B).i32(1).op(I32_ADD).tee(B).get(BLOCKS).op(I32_LT_U, BR_IF, 0);
  c.op(END);
  // chaining values: words (rows) back to inputs, then 32 bytes per input
  transpose(c, [H, H + 1, H + 2, H + 3], [V, V + 1, V + 2, V + 3]);
  transpose(c, [H + 4, H + 5, H + 6, H + 7], [V, V + 1, V + 2, V + 3]);
  for (let k = 0; k < 4; k++) {
    c.get(OUT).get(H + k).vmem(V_STORE, 0, 32 * k);
    c.get(OUT).get(H + 4 + k).vmem(V_STORE, 0, 32 * k + 16);
  }
  c.get(OUT).i32(128).op(I32_ADD).set(OUT);
  c.get(IN).get(STRIDE).i32(2).op(I32_SHL, I32_ADD).set(IN);
  c.get(CTR).get(STEP).i32(2).op(I32_SHL, I32_ADD).set(CTR);
  c.get(GROUPS).i32(1).op(I32_SUB).set(GROUPS);
  c.op(BR, 0, END, END);
  return { params: 10, locals: [[5, I32], [27, V128]], code: c };
}

function chain1(): Func {
  // params 0..8; i32 locals 9..12; v128 locals 13..19. State row r = [v4r..v4r+3] in one
  // vector, so G runs on the 4 columns at once, then on the 4 diagonals once rows a, c, d are
  // turned (and back). Message vectors are gathered from the block.
  const [CV, IN, LEN, CTR_LO, CTR_HI, ALL, FIRST, LAST, OUT] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [B, BLOCKS, BLEN, P] = [9, 10, 11, 12];
  const [RA, RB, RC, RD, H0, H1, TMP] = [13, 14, 15, 16, 17, 18, 19];
  const c = new Code();
  c.get(CV).vmem(V_LOAD, 0, 0).set(H0).get(CV).vmem(V_LOAD, 0, 16).set(H1);
  // blocks = len == 0 ? 1 : (len + 63) >> 6
  c.i32(1).get(LEN).i32(63).op(I32_ADD).i32(6).op(I32_SHR_U).get(LEN).op(I32_EQZ, SELECT).set(BLOCKS);
  c.i32(0).set(B).get(IN).set(P);
  c.op(LOOP, 0x40);
  // blen = min(64, len - 64 b)
  c.get(LEN).get(B).i32(6).op(I32_SHL, I32_SUB).set(BLEN);
  c.i32(64).get(BLEN).get(BLEN).i32(64).op(I32_GT_U, SELECT).set(BLEN);
  c.get(H0).set(RA).get(H1).set(RB).vconst(wordBytes(IV.slice(0, 4))).set(RC);
  c.get(CTR_LO).simd(V_SPLAT).get(CTR_HI).simd(V_REPLACE_LANE, 1).get(BLEN).simd(V_REPLACE_LANE, 2);
  flags(c, ALL, FIRST, LAST, B, BLOCKS);
  c.simd(V_REPLACE_LANE, 3).set(RD);
  const gather = (words: number[]) => () => {
    for (let k = 0; k < 4; k++) c.get(P);
    c.vmem(V_LOAD32_ZERO, 2, 4 * words[0]);
    for (let k = 1; k < 4; k++) c.vmem(V_LOAD32_LANE, 2, 4 * words[k], k);
  };
  const rotr = rotrQuick(c, TMP);
  // lane i takes word i + k of row x
  const turn = (x: number, k: number) => c.get(x).get(x).shuffle(wordShuffle([0, 1, 2, 3].map((i) => (i + k) % 4))).set(x);
  for (const round of schedule()) {
    // columns; then diagonals, lane i taking diagonal i - 1 (b, the last row to settle, stays put)
    const columns = round.slice(0, 4);
    const diagonals = [3, 0, 1, 2].map((j) => round[4 + j]);
    for (const [half, k] of [[columns, 1], [diagonals, 3]] as const) {
      mix(c, [{ a: RA, b: RB, c: RC, d: RD, mx: gather(half.map((q) => q[4])), my: gather(half.map((q) => q[5])) }], rotr);
      turn(RA, 4 - k);
      turn(RC, k);
      turn(RD, 2);
    }
  }
  c.get(RA).get(RC).simd(V_XOR).set(H0).get(RB).get(RD).simd(V_XOR).set(H1);
  c.get(P).i32(64).op(I32_ADD).set(P);
  c.get(B).i32(1).op(I32_ADD).tee(B).get(BLOCKS).op(I32_LT_U, BR_IF, 0);
  c.op(END);
  c.get(OUT).get(H0).vmem(V_STORE, 0, 0).get(OUT).get(H1).vmem(V_STORE, 0, 16);
  return { params: 9, locals: [[4, I32], [7, V128]], code: c };
}

/** The module's bytes: memory "mem" (1 page, growable), functions "hash4" and "chain1". */
export function blake3ModuleBytes(): Uint8Array {
  return moduleBytes([hash4(), chain1()], {
    memory: { min: 1 },
    exports: [["mem", EXTERN_MEMORY, 0], ["hash4", EXTERN_FUNC, 0], ["chain1", EXTERN_FUNC, 1]],
  });
}
