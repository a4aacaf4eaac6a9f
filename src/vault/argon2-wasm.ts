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

// Opcodes used (WebAssembly core 2.0 with the fixed-width SIMD proposal), by family.
const I32 = 0x7f, I64 = 0x7e, V128 = 0x7b;
const BLOCK = 0x02, LOOP = 0x03, IF = 0x04, ELSE = 0x05, END = 0x0b, BR = 0x0c, BR_IF = 0x0d, CALL = 0x10;
const DROP = 0x1a, SELECT = 0x1b, GET = 0x20, SET = 0x21, TEE = 0x22;
const I32_LOAD = 0x28, I64_LOAD = 0x29, I64_STORE = 0x37, I32_CONST = 0x41, I64_CONST = 0x42;
const MEMORY_FILL = 0xfc; // then 0x0b 0x00
const I32_EQZ = 0x45, I32_EQ = 0x46, I32_NE = 0x47, I32_LT_U = 0x49;
const I32_ADD = 0x6a, I32_SUB = 0x6b, I32_MUL = 0x6c, I32_REM_U = 0x70, I32_AND = 0x71, I32_XOR = 0x73, I32_SHL = 0x74, I32_SHR_U = 0x76;
const I64_ADD = 0x7c, I64_MUL = 0x7e, I64_SHR_U = 0x88, I32_WRAP = 0xa7, I64_EXTEND_U = 0xad;
// after the 0xfd prefix
const V_LOAD = 0x00, V_STORE = 0x0b, V_CONST = 0x0c, V_SHUFFLE = 0x0d, V_XOR = 0x51;
const I64X2_SHL = 0xcb, I64X2_ADD = 0xce, I64X2_SUB = 0xd1, I64X2_LT_S = 0xd8, I64X2_EXTMUL_LOW_U = 0xde;

function uleb(n: number, out: number[] = []): number[] {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number, out: number[]): void {
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/**
 * Instruction bytes of one function body, with helpers for what the kernel uses. Bytes are
 * pushed one by one, with no array per instruction: this runs cold, once per process.
 */
class Code {
  readonly b: number[] = [];
  op(...bytes: number[]): this {
    for (const x of bytes) this.b.push(x);
    return this;
  }
  #withIndex(opcode: number, i: number): this {
    this.b.push(opcode);
    uleb(i, this.b);
    return this;
  }
  get(i: number): this {
    return this.#withIndex(GET, i);
  }
  set(i: number): this {
    return this.#withIndex(SET, i);
  }
  tee(i: number): this {
    return this.#withIndex(TEE, i);
  }
  i32(v: number): this {
    this.b.push(I32_CONST);
    sleb(v, this.b);
    return this;
  }
  i64(v: number): this {
    this.b.push(I64_CONST);
    sleb(v, this.b);
    return this;
  }
  #memory(opcode: number, align: number, offset: number): this {
    this.b.push(opcode, align);
    uleb(offset, this.b);
    return this;
  }
  load(offset = 0): this {
    return this.#memory(I32_LOAD, 2, offset);
  }
  load64(offset = 0): this {
    return this.#memory(I64_LOAD, 3, offset);
  }
  store64(offset = 0): this {
    return this.#memory(I64_STORE, 3, offset);
  }
  simd(op: number): this {
    this.b.push(0xfd);
    uleb(op, this.b);
    return this;
  }
  /** v128 loads and stores: 0xfd, opcode, then the memory argument. */
  #vmemory(op: number, offset: number): this {
    this.simd(op).b.push(4);
    uleb(offset, this.b);
    return this;
  }
  vload(offset = 0): this {
    return this.#vmemory(V_LOAD, offset);
  }
  vstore(offset = 0): this {
    return this.#vmemory(V_STORE, offset);
  }
  /** Shuffle of bytes: 0..15 from the first operand, 16..31 from the second. */
  shuffle(bytes: readonly number[]): this {
    this.simd(V_SHUFFLE);
    for (const x of bytes) this.b.push(x);
    return this;
  }
  /** v128.const of 16 bytes. */
  vconst(bytes: readonly number[]): this {
    this.simd(V_CONST);
    for (const x of bytes) this.b.push(x);
    return this;
  }
}

/** A function: its i32 parameter count, local declarations (count, type) and code. */
interface Func {
  params: number;
  locals: [number, number][];
  code: Code;
}

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
  c.get(REF).load(0);
  for (let k = 1; k < 16; k++) c.get(REF).load(64 * k).op(I32_XOR);
  c.op(DROP);
  // rows 2s and 2s+1 (OFF = 256 s): vector i is word i of both; R to R_AT, state to Q_AT,
  // then P's G two at a time from there.
  c.i32(0).set(OFF).op(LOOP, 0x40);
  c.get(SCRATCH).get(OFF).op(I32_ADD).set(S);
  c.get(PREV).get(OFF).op(I32_ADD).set(P);
  for (let i = 0; i < 16; i++) {
    c.get(S).get(P).vload(16 * i).get(REF).get(OFF).op(I32_ADD).vload(16 * i).simd(V_XOR).tee(TMP).vstore(Q_AT + 16 * i);
    c.get(S).get(TMP).vstore(R_AT + 16 * i);
  }
  for (const step of [COLUMN_STEP, DIAGONAL_STEP]) {
    for (let k = 0; k < 4; k += 2) {
      const pair = step.slice(k, k + 2);
      const regs = pair.map((_, g) => X.slice(4 * g, 4 * g + 4));
      pair.forEach((g, gi) => g.forEach((i, j) => c.get(S).vload(Q_AT + 16 * i).set(regs[gi][j])));
      applyG(c, regs, TMP);
      pair.forEach((g, gi) => g.forEach((i, j) => c.get(S).get(regs[gi][j]).vstore(Q_AT + 16 * i)));
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
  for (let x = 0; x < 8; x++) c.get(S).vload(Q_AT + at(x)).set(X[x]);
  applyG(c, [[0, 4, 8, 12], [1, 5, 9, 13]].map((g) => g.map(vec)), TMP);
  // diagonals: [v0 v2] [v5 v7] [v10 v8] [v15 v13] and [v1 v3] [v6 v4] [v11 v9] [v12 v14]
  const swapped = [8, 13, 4, 9].map(vec);
  swapped.forEach((v) => swap(c, v));
  applyG(c, [[0, 5, 8, 13], [1, 4, 9, 12]].map((g) => g.map(vec)), TMP);
  swapped.forEach((v) => swap(c, v));
  for (let x = 0; x < 8; x++) c.get(X[x]).get(S).vload(R_AT + at(x)).simd(V_XOR).set(X[x]);
  c.get(ACCUMULATE).op(IF, 0x40);
  for (let x = 0; x < 8; x++) c.get(P).get(X[x]).get(P).vload(at(x)).simd(V_XOR).vstore(at(x));
  c.op(ELSE);
  for (let x = 0; x < 8; x++) c.get(P).get(X[x]).vstore(at(x));
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
    c.get(SCRATCH).get(SCRATCH).load64(INPUT + 16 * 6).i64(1).op(I64_ADD).store64(INPUT + 16 * 6);
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
    c.op(I64_EXTEND_U).store64(INPUT + 16 * w);
  });
  c.get(SCRATCH).i64(2).store64(INPUT + 16 * 5);
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
  c.get(I).i32(15).op(I32_AND).i32(4).op(I32_SHL, I32_ADD).get(I).i32(1).op(I32_SHR_U).i32(8).op(I32_AND, I32_ADD).load64(ADDRESS);
  c.op(ELSE);
  c.get(BASE).get(PREV).i32(10).op(I32_SHL, I32_ADD).load64();
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

/** Appends a section: id, byte length, then the bytes of its parts. */
function section(out: number[], id: number, parts: number[][]): void {
  out.push(id);
  uleb(parts.reduce((n, p) => n + p.length, 0), out);
  for (const p of parts) for (const x of p) out.push(x);
}

function name(s: string): number[] {
  return [s.length, ...[...s].map((ch) => ch.charCodeAt(0))];
}

/** The module's bytes: imports memory "env" "mem" (shared, up to 4 GiB, when `shared`), exports "fill". */
export function argon2ModuleBytes(options: { shared: boolean }): Uint8Array {
  const funcs = [compress(), fill()];
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  section(out, 1, [[funcs.length], ...funcs.map((f) => [0x60, f.params, ...Array(f.params).fill(I32), 0])]);
  section(out, 2, [[1], name("env"), name("mem"), [0x02], options.shared ? [0x03, 1, ...uleb(65536)] : [0x00, 1]]);
  section(out, 3, [[funcs.length, 0, 1]]);
  section(out, 7, [[1], name("fill"), [0x00, 1]]);
  const bodies = funcs.map(({ locals, code }) => {
    const head = uleb(locals.length);
    for (const [n, t] of locals) uleb(n, head).push(t);
    return [uleb(head.length + code.b.length + 1), head, code.b, [END]];
  });
  section(out, 10, [[bodies.length], ...bodies.flat()]);
  return new Uint8Array(out);
}
