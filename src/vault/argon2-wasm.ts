/**
 * The WebAssembly kernel of Argon2id's memory filling (argon2.ts drives it), emitted as bytes
 * by this file: no toolchain, no binary blob, and the code below is the whole of it.
 *
 *   fill(base, lanes, laneLength, passes, pass, slice, lane, scratch)
 *     fills one segment (laneLength / 4 blocks) of one lane, exactly as RFC 9106 section 3.4:
 *     block index i of the segment, previous block prev, reference block from
 *       J1 ‖ J2 = first word of prev (data-dependent), or of an address block when pass 0 and
 *                 slice < 2 (Argon2id's data-independent half): address block =
 *                 G(0, G(0, pass ‖ lane ‖ slice ‖ blocks ‖ passes ‖ 2 ‖ counter ‖ 0…)), 128
 *                 pairs per block
 *       ref lane  = J2 mod lanes (this lane in pass 0 slice 0)
 *       ref index = start + area - 1 - ((area * ((J1 * J1) >> 32)) >> 32), mod laneLength
 *     then block = G(prev, ref), or block ^= G(prev, ref) after the first pass (version 0x13).
 *     Blocks are 1 KiB at base + 1024 * (lane * laneLength + column).
 *
 * G(X, Y): R = X ^ Y, then the BLAKE2b round P (fBlaMka: a + b + 2 * lo32(a) * lo32(b)) on
 * each of the 8 rows (words 16r..16r+15), then on each of the 8 columns (words 2c, 2c+1 of
 * every row), and the result ^ R. A 128-bit vector holds two 64-bit words. Blocks are kept
 * in memory in a row-pair order, not in RFC order: word 16r + i is at byte
 *   256 * (r >> 1) + 16 * i + 8 * (r & 1)       (wordOffset; argon2.ts converts at the ends)
 * so a vector is (word i of row 2s, word i of row 2s + 1). Then
 *   rows:    two rows' P side by side, lane by lane: no shuffle between vectors at all, and
 *            four independent G chains to overlap
 *   columns: column c's P on the 8 vectors (s, 2c) and (s, 2c + 1), whose halves are rows 2s
 *            and 2s + 1: the column step's G pairs line up as they are, the diagonal step
 *            needs four vectors' halves swapped (one-operand shuffles), and back
 * and no block is ever transposed. JavaScriptCore lowers every two-operand shuffle to two
 * pshufb and an or, so the layout is what avoids them (the RFC order cost 1.7× as much).
 * Rotations by 32, 24 and 16 are byte shuffles; by 63 it is x + x - (x < 0), as constant
 * vector shifts go through a general-purpose register. The 32×32→64 multiply is
 * i64x2.extmul_low_i32x4_u on the low words gathered by a shuffle.
 * The rows' state stays in scratch memory, two G chains loaded, computed and stored at a
 * time (16 live vectors spill badly); a column's 8 vectors stay in locals.
 *
 * Memory is imported ("env" "mem"), shared when threads fill lanes side by side. Scratch
 * (SCRATCH_BYTES at `scratch`, one area per thread): input block, address block, R, state.
 * A zero block lives at ZERO_AT for the address blocks' G(0, ·).
 */

import {
  BLOCK, BR, BR_IF, Code, END, EXTERN_FUNC, type Func, I32, I32_ADD, I32_EQ, I32_EQZ, I32_LT_U, I32_MUL, I32_SHL,
  I32_SHR_U, I32_SUB, LOOP, SELECT, V128, V_LOAD, V_STORE, V_XOR, moduleBytes,
} from "../wasm/emit.ts";

/** Byte offset of a 1 KiB zero block, shared by all threads. */
export const ZERO_AT = 0;
/** Byte offset in a block, as the kernel keeps it, of RFC word w (0..127): see above. */
export function wordOffset(w: number): number {
  return 256 * (w >> 5) + 16 * (w & 15) + 8 * ((w >> 4) & 1);
}
/** Bytes of one thread's scratch area. */
export const SCRATCH_BYTES = 4096;
const INPUT = 0;
const ADDRESS = 1024;
const R_AT = 2048;
const Q_AT = 3072;

// Opcodes used here alone (the rest come with emit.ts), by family. Memory accesses hint
// natural alignment: 4 bytes (2) for i32, 8 (3) for i64, 16 (4) for v128.
const I64 = 0x7e;
const IF = 0x04, ELSE = 0x05, CALL = 0x10, DROP = 0x1a;
const I32_LOAD = 0x28, I64_LOAD = 0x29, I64_STORE = 0x37;
const MEMORY_FILL = 0xfc; // then 0x0b 0x00
const I32_NE = 0x47, I32_REM_U = 0x70, I32_AND = 0x71, I32_XOR = 0x73;
const I64_ADD = 0x7c, I64_MUL = 0x7e, I64_SHR_U = 0x88, I32_WRAP = 0xa7, I64_EXTEND_U = 0xad;
// after the 0xfd prefix
const I64X2_SHL = 0xcb, I64X2_ADD = 0xce, I64X2_SUB = 0xd1, I64X2_LT_S = 0xd8, I64X2_EXTMUL_LOW_U = 0xde;

/** Byte shuffles of one operand (given twice) that rotate each 64-bit lane right. */
function rotation(n: number): number[] {
  const k = n / 8;
  return Array.from({ length: 16 }, (_, i) => (i & 8) + (((i & 7) + k) & 7));
}
const ROT32 = rotation(32);
const ROT24 = rotation(24);
const ROT16 = rotation(16);
/** Gathers the low 32 bits of both 64-bit lanes into 32-bit lanes 0 and 1. */
const LOW_WORDS = [0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11];
/** Swaps the two 64-bit lanes. */
const SWAP = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
const ZERO = Array(16).fill(0);

/** a = a + b + 2 * lo32(a) * lo32(b), lane-wise. */
function blaMka(c: Code, a: number, b: number): void {
  c.get(a).get(b).simd(I64X2_ADD);
  c.get(a).get(a).shuffle(LOW_WORDS).get(b).get(b).shuffle(LOW_WORDS).simd(I64X2_EXTMUL_LOW_U);
  c.i32(1).simd(I64X2_SHL).simd(I64X2_ADD).set(a);
}

/** d = rotr64(d ^ a, n), lane-wise. */
function xorRotate(c: Code, d: number, a: number, n: number, tmp: number): void {
  c.get(d).get(a).simd(V_XOR).tee(tmp);
  if (n === 63) c.get(tmp).simd(I64X2_ADD).get(tmp).vconst(ZERO).simd(I64X2_LT_S).simd(I64X2_SUB);
  else c.get(tmp).shuffle(n === 32 ? ROT32 : n === 24 ? ROT24 : ROT16);
  c.set(d);
}

/** BLAKE2b's G (with fBlaMka) on each group [a, b, c, d] of vector locals, step by step. */
function applyG(c: Code, groups: number[][], tmp: number): void {
  const steps = [[0, 1, 3, 32], [2, 3, 1, 24], [0, 1, 3, 16], [2, 3, 1, 63]];
  for (const [x, y, z, n] of steps) {
    for (const g of groups) blaMka(c, g[x], g[y]);
    for (const g of groups) xorRotate(c, g[z], g[x], n, tmp);
  }
}

function swap(c: Code, v: number): void {
  c.get(v).get(v).shuffle(SWAP).set(v);
}

/** P's column step and diagonal step, as groups of word indices 0..15. */
const COLUMN_STEP = [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]];
const DIAGONAL_STEP = [[0, 5, 10, 15], [1, 6, 11, 12], [2, 7, 8, 13], [3, 4, 9, 14]];

/**
 * compress(prev, ref, next, scratch, accumulate): next = G(prev, ref), or next ^= G(prev,
 * ref) when accumulate is 1 (later passes). next may be ref (address blocks are made in place).
 */
function compress(): Func {
  const [PREV, REF, NEXT, SCRATCH, ACCUMULATE] = [0, 1, 2, 3, 4];
  const [OFF, S, P] = [5, 6, 7];
  const X = Array.from({ length: 8 }, (_, i) => 8 + i);
  const TMP = 16;
  const c = new Code();
  // touch every cache line of ref first, so that their misses overlap (10% faster at 64 MiB)
  c.get(REF).mem(I32_LOAD, 2, 0);
  for (let k = 1; k < 16; k++) c.get(REF).mem(I32_LOAD, 2, 64 * k).op(I32_XOR);
  c.op(DROP);
  // rows 2s and 2s+1 (OFF = 256 s): vector i is word i of both; R to R_AT, state to Q_AT,
  // then P's G two at a time from there.
  c.i32(0).set(OFF).op(LOOP, 0x40);
  c.get(SCRATCH).get(OFF).op(I32_ADD).set(S);
  c.get(PREV).get(OFF).op(I32_ADD).set(P);
  for (let i = 0; i < 16; i++) {
    c.get(S).get(P).vmem(V_LOAD, 4, 16 * i).get(REF).get(OFF).op(I32_ADD).vmem(V_LOAD, 4, 16 * i).simd(V_XOR).tee(TMP).vmem(V_STORE, 4, Q_AT + 16 * i);
    c.get(S).get(TMP).vmem(V_STORE, 4, R_AT + 16 * i);
  }
  for (const step of [COLUMN_STEP, DIAGONAL_STEP]) {
    for (let k = 0; k < 4; k += 2) {
      const pair = step.slice(k, k + 2);
      const regs = pair.map((_, g) => X.slice(4 * g, 4 * g + 4));
      pair.forEach((g, gi) => g.forEach((i, j) => c.get(S).vmem(V_LOAD, 4, Q_AT + 16 * i).set(regs[gi][j])));
      applyG(c, regs, TMP);
      pair.forEach((g, gi) => g.forEach((i, j) => c.get(S).get(regs[gi][j]).vmem(V_STORE, 4, Q_AT + 16 * i)));
    }
  }
  c.get(OFF).i32(256).op(I32_ADD).tee(OFF).i32(1024).op(I32_LT_U, BR_IF, 0, END);
  // column c (OFF = 32 c): vector (s, 2c + e) holds P's words 4s + e and 4s + e + 2, so the
  // pairs are [v0 v2] [v1 v3] [v4 v6] [v5 v7] … in X[0..7]; output P ^ R (^ next), in place.
  c.i32(0).set(OFF).op(LOOP, 0x40);
  c.get(SCRATCH).get(OFF).op(I32_ADD).set(S);
  c.get(NEXT).get(OFF).op(I32_ADD).set(P);
  const at = (x: number) => 256 * (x >> 1) + 16 * (x & 1);
  const vec = (w: number) => X[2 * (w >> 2) + (w & 1)];
  for (let x = 0; x < 8; x++) c.get(S).vmem(V_LOAD, 4, Q_AT + at(x)).set(X[x]);
  applyG(c, [[0, 4, 8, 12], [1, 5, 9, 13]].map((g) => g.map(vec)), TMP);
  // diagonals: [v0 v2] [v5 v7] [v10 v8] [v15 v13] and [v1 v3] [v6 v4] [v11 v9] [v12 v14]
  const swapped = [8, 13, 4, 9].map(vec);
  swapped.forEach((v) => swap(c, v));
  applyG(c, [[0, 5, 8, 13], [1, 4, 9, 12]].map((g) => g.map(vec)), TMP);
  swapped.forEach((v) => swap(c, v));
  for (let x = 0; x < 8; x++) c.get(X[x]).get(S).vmem(V_LOAD, 4, R_AT + at(x)).simd(V_XOR).set(X[x]);
  c.get(ACCUMULATE).op(IF, 0x40);
  for (let x = 0; x < 8; x++) c.get(P).get(X[x]).get(P).vmem(V_LOAD, 4, at(x)).simd(V_XOR).vmem(V_STORE, 4, at(x));
  c.op(ELSE);
  for (let x = 0; x < 8; x++) c.get(P).get(X[x]).vmem(V_STORE, 4, at(x));
  c.op(END);
  c.get(OFF).i32(32).op(I32_ADD).tee(OFF).i32(256).op(I32_LT_U, BR_IF, 0, END);
  return { params: 5, locals: [[3, I32], [9, V128]], code: c };
}

const COMPRESS = 0;

function fill(): Func {
  const [BASE, LANES, LANE_LENGTH, PASSES, PASS, SLICE, LANE, SCRATCH] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [SEG, I, CURR, PREV, INDEPENDENT, AREA0, START, REF_LANE, AREA, J1, REF] = [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
  const RAND = 19;
  const c = new Code();
  const nextAddresses = () => {
    c.get(SCRATCH).get(SCRATCH).mem(I64_LOAD, 3, INPUT + 16 * 6).i64(1).op(I64_ADD).mem(I64_STORE, 3, INPUT + 16 * 6);
    c.i32(ZERO_AT).get(SCRATCH).i32(INPUT).op(I32_ADD).get(SCRATCH).i32(ADDRESS).op(I32_ADD).get(SCRATCH).i32(0).op(CALL, COMPRESS);
    c.i32(ZERO_AT).get(SCRATCH).i32(ADDRESS).op(I32_ADD).get(SCRATCH).i32(ADDRESS).op(I32_ADD).get(SCRATCH).i32(0).op(CALL, COMPRESS);
  };
  c.get(LANE_LENGTH).i32(2).op(I32_SHR_U).set(SEG);
  // independent = pass == 0 && slice < 2
  c.get(PASS).op(I32_EQZ).get(SLICE).i32(2).op(I32_LT_U, I32_AND).set(INDEPENDENT);
  c.get(INDEPENDENT).op(IF, 0x40);
  // the input block: words 0..6 (at 16 w in block order) pass, lane, slice, blocks, passes, 2, 0
  c.get(SCRATCH).i32(INPUT).op(I32_ADD).i32(0).i32(1024).op(MEMORY_FILL, 0x0b, 0x00);
  const words = [PASS, LANE, SLICE, -1, PASSES];
  words.forEach((local, w) => {
    c.get(SCRATCH);
    if (local === -1) c.get(LANES).get(LANE_LENGTH).op(I32_MUL);
    else c.get(local);
    c.op(I64_EXTEND_U).mem(I64_STORE, 3, INPUT + 16 * w);
  });
  c.get(SCRATCH).i64(2).mem(I64_STORE, 3, INPUT + 16 * 5);
  c.op(END);
  // the first two blocks of each lane come from H0: pass 0 slice 0 starts at 2
  c.i32(0).set(I);
  c.get(PASS).get(SLICE).op(I32_ADD).op(I32_EQZ, IF, 0x40);
  c.i32(2).set(I);
  nextAddresses();
  c.op(END);
  // area0 = pass == 0 ? slice * seg : laneLength - seg; start = pass && slice != 3 ? (slice + 1) * seg : 0
  c.get(SLICE).get(SEG).op(I32_MUL).get(LANE_LENGTH).get(SEG).op(I32_SUB).get(PASS).op(I32_EQZ, SELECT).set(AREA0);
  c.get(SLICE).i32(1).op(I32_ADD).get(SEG).op(I32_MUL).i32(0).get(PASS).i32(0).op(I32_NE).get(SLICE).i32(3).op(I32_NE, I32_AND, SELECT).set(START);
  // curr = lane * laneLength + slice * seg + i; prev = curr - 1, or the lane's last block
  c.get(LANE).get(LANE_LENGTH).op(I32_MUL).get(SLICE).get(SEG).op(I32_MUL, I32_ADD).get(I).op(I32_ADD).set(CURR);
  c.get(CURR).i32(1).op(I32_SUB).get(CURR).get(LANE_LENGTH).op(I32_ADD).i32(1).op(I32_SUB);
  c.get(CURR).get(LANE_LENGTH).op(I32_REM_U, SELECT).set(PREV);
  c.op(BLOCK, 0x40, LOOP, 0x40);
  c.get(I).get(SEG).op(I32_LT_U, I32_EQZ, BR_IF, 1);
  // J1 ‖ J2
  c.get(INDEPENDENT).op(IF, I64);
  c.get(I).i32(127).op(I32_AND, I32_EQZ, IF, 0x40);
  nextAddresses();
  c.op(END);
  // word j = i & 127 of the address block, in block order
  c.get(SCRATCH).get(I).i32(5).op(I32_SHR_U).i32(3).op(I32_AND).i32(8).op(I32_SHL, I32_ADD);
  c.get(I).i32(15).op(I32_AND).i32(4).op(I32_SHL, I32_ADD).get(I).i32(1).op(I32_SHR_U).i32(8).op(I32_AND, I32_ADD).mem(I64_LOAD, 3, ADDRESS);
  c.op(ELSE);
  c.get(BASE).get(PREV).i32(10).op(I32_SHL, I32_ADD).mem(I64_LOAD, 3, 0);
  c.op(END);
  c.tee(RAND).op(I32_WRAP).set(J1);
  // refLane = pass == 0 && slice == 0 ? lane : J2 % lanes
  c.get(LANE).get(RAND).i64(32).op(I64_SHR_U, I32_WRAP).get(LANES).op(I32_REM_U);
  c.get(PASS).get(SLICE).op(I32_ADD, I32_EQZ, SELECT).set(REF_LANE);
  // area = same lane ? area0 + i - 1 : area0 - (i == 0)
  c.get(AREA0).get(I).op(I32_ADD).i32(1).op(I32_SUB);
  c.get(AREA0).get(I).op(I32_EQZ, I32_SUB);
  c.get(REF_LANE).get(LANE).op(I32_EQ, SELECT).set(AREA);
  // ref index = (start + area - 1 - ((area * ((J1 * J1) >> 32)) >> 32)) % laneLength
  c.get(START).get(AREA).op(I32_ADD).i32(1).op(I32_SUB);
  c.get(AREA).op(I64_EXTEND_U).get(J1).op(I64_EXTEND_U).get(J1).op(I64_EXTEND_U).op(I64_MUL).i64(32).op(I64_SHR_U);
  c.op(I64_MUL).i64(32).op(I64_SHR_U, I32_WRAP, I32_SUB).get(LANE_LENGTH).op(I32_REM_U);
  // block address of ref = base + (refLane * laneLength + index) * 1024
  c.get(REF_LANE).get(LANE_LENGTH).op(I32_MUL, I32_ADD).i32(10).op(I32_SHL).get(BASE).op(I32_ADD).set(REF);
  c.get(BASE).get(PREV).i32(10).op(I32_SHL, I32_ADD).get(REF).get(BASE).get(CURR).i32(10).op(I32_SHL, I32_ADD).get(SCRATCH);
  c.get(PASS).i32(0).op(I32_NE, CALL, COMPRESS);
  c.get(CURR).set(PREV);
  c.get(CURR).i32(1).op(I32_ADD).set(CURR);
  c.get(I).i32(1).op(I32_ADD).set(I);
  c.op(BR, 0, END, END);
  return { params: 8, locals: [[11, I32], [1, I64]], code: c };
}

/** The module's bytes: imports memory "env" "mem" (shared, up to 4 GiB, when `shared`), exports "fill". */
export function argon2ModuleBytes(options: { shared: boolean }): Uint8Array {
  const limits = options.shared ? { min: 1, max: 65536, shared: true } : { min: 1 };
  return moduleBytes([compress(), fill()], {
    memory: { import: ["env", "mem"], ...limits },
    exports: [["fill", EXTERN_FUNC, 1]],
  });
}
