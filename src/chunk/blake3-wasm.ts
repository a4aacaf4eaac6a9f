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
 *     scalar: chains compressions over ceil(len/64) blocks (one when len is 0) starting from
 *     the 8 words at cv; the last block is len's remainder (zero-padded by the caller).
 *
 * The key (8 words) lives at KEY_AT in the module's memory; both kernels start from it.
 * Compression and its message schedule are as in the BLAKE3 paper (section 2.2): 7 rounds,
 * G on columns then diagonals, the message permuted between rounds. Rotations by 16 and 8
 * are byte shuffles, by 12 and 7 two shifts and an or.
 */

/** Byte offset of the key (or IV) words in the module's memory. */
export const KEY_AT = 0;
/** hash4's transposed message words (16 vectors) and chaining values (8 vectors). */
const MSG_AT = 256;
const H_AT = 512;
/** Bytes at the start of memory that the kernels use (key, scratch); inputs go above. */
export const KERNEL_BYTES = 1024;

const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

/** The BLAKE3 IV (the key words of unkeyed hashing). */
export const BLAKE3_IV: readonly number[] = IV;

// Opcodes used (WebAssembly core 2.0 with the fixed-width SIMD proposal).
const I32 = 0x7f;
const V128 = 0x7b;
const BLOCK = 0x02;
const LOOP = 0x03;
const END = 0x0b;
const BR = 0x0c;
const BR_IF = 0x0d;
const SELECT = 0x1b;
const GET = 0x20;
const SET = 0x21;
const TEE = 0x22;
const I32_LOAD = 0x28;
const I32_STORE = 0x36;
const I32_CONST = 0x41;
const I32_EQZ = 0x45;
const I32_EQ = 0x46;
const I32_LT_U = 0x49;
const I32_GT_U = 0x4b;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const I32_MUL = 0x6c;
const I32_OR = 0x72;
const I32_XOR = 0x73;
const I32_SHL = 0x74;
const I32_SHR_U = 0x76;
const I32_ROTR = 0x78;
const V_LOAD = 0x00;
const V_STORE = 0x0b;
const V_CONST = 0x0c;
const V_SHUFFLE = 0x0d;
const V_SPLAT = 0x11;
const V_AND = 0x4e;
const V_OR = 0x50;
const V_XOR = 0x51;
const V_SHL = 0xab;
const V_SHR_U = 0xad;
const V_ADD = 0xae;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** Instruction bytes of one function body, with a few helpers for what the kernels use. */
class Code {
  readonly b: number[] = [];
  op(...bytes: number[]): this {
    this.b.push(...bytes);
    return this;
  }
  get(i: number): this {
    return this.op(GET, ...uleb(i));
  }
  set(i: number): this {
    return this.op(SET, ...uleb(i));
  }
  tee(i: number): this {
    return this.op(TEE, ...uleb(i));
  }
  i32(v: number): this {
    return this.op(I32_CONST, ...sleb(v));
  }
  load(offset = 0): this {
    return this.op(I32_LOAD, 2, ...uleb(offset));
  }
  store(offset = 0): this {
    return this.op(I32_STORE, 2, ...uleb(offset));
  }
  simd(op: number, ...imm: number[]): this {
    return this.op(0xfd, ...uleb(op), ...imm);
  }
  vload(offset = 0): this {
    return this.simd(V_LOAD, 0, ...uleb(offset));
  }
  vstore(offset = 0): this {
    return this.simd(V_STORE, 0, ...uleb(offset));
  }
  vconst(words: number[]): this {
    const bytes: number[] = [];
    for (const w of words) bytes.push(w & 255, (w >>> 8) & 255, (w >>> 16) & 255, (w >>> 24) & 255);
    return this.simd(V_CONST, ...bytes);
  }
  /** Shuffle of 32-bit words: w in 0..3 from the first operand, 4..7 from the second. */
  shuffleWords(w: number[]): this {
    return this.simd(V_SHUFFLE, ...w.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]));
  }
}

/** Byte shuffles that rotate every 32-bit lane right by 16 and by 8. */
const ROT16 = [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13];
const ROT8 = [1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12];

/** Emits 7 rounds over state locals v[0..15] and message locals m[0..15], vector or scalar. */
function rounds(c: Code, v: number, msg: (i: number) => void, tmp: number, vector: boolean): void {
  const add = vector ? () => c.simd(V_ADD) : () => c.op(I32_ADD);
  const xor = vector ? () => c.simd(V_XOR) : () => c.op(I32_XOR);
  function rotr(n: number): void {
    if (!vector) {
      c.i32(n).op(I32_ROTR);
    } else if ((n === 16 || n === 8)) {
      c.tee(tmp).get(tmp).simd(V_SHUFFLE, ...(n === 16 ? ROT16 : ROT8));
    } else {
      c.tee(tmp).i32(n).simd(V_SHR_U).get(tmp).i32(32 - n).simd(V_SHL).simd(V_OR);
    }
  }
  function g(a: number, b: number, cc: number, d: number, mx: number, my: number): void {
    [a, b, cc, d] = [v + a, v + b, v + cc, v + d];
    c.get(a).get(b);
    add();
    msg(mx);
    add();
    c.set(a).get(d).get(a);
    xor();
    rotr(16);
    c.set(d).get(cc).get(d);
    add();
    c.set(cc).get(b).get(cc);
    xor();
    rotr(12);
    c.set(b).get(a).get(b);
    add();
    msg(my);
    add();
    c.set(a).get(d).get(a);
    xor();
    rotr(8);
    c.set(d).get(cc).get(d);
    add();
    c.set(cc).get(b).get(cc);
    xor();
    rotr(7);
    c.set(b);
  }
  let s = Array.from({ length: 16 }, (_, i) => i);
  for (let r = 0; r < 7; r++) {
    const w = (i: number) => s[i];
    g(0, 4, 8, 12, w(0), w(1));
    g(1, 5, 9, 13, w(2), w(3));
    g(2, 6, 10, 14, w(4), w(5));
    g(3, 7, 11, 15, w(6), w(7));
    g(0, 5, 10, 15, w(8), w(9));
    g(1, 6, 11, 12, w(10), w(11));
    g(2, 7, 8, 13, w(12), w(13));
    g(3, 4, 9, 14, w(14), w(15));
    s = PERMUTATION.map((p) => s[p]);
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
  c.get(a).get(b).shuffleWords([0, 4, 1, 5]).set(t[0]);
  c.get(a).get(b).shuffleWords([2, 6, 3, 7]).set(t[1]);
  c.get(cc).get(d).shuffleWords([0, 4, 1, 5]).set(t[2]);
  c.get(cc).get(d).shuffleWords([2, 6, 3, 7]).set(t[3]);
  c.get(t[0]).get(t[2]).shuffleWords([0, 1, 4, 5]).set(a);
  c.get(t[0]).get(t[2]).shuffleWords([2, 3, 6, 7]).set(b);
  c.get(t[1]).get(t[3]).shuffleWords([0, 1, 4, 5]).set(cc);
  c.get(t[1]).get(t[3]).shuffleWords([2, 3, 6, 7]).set(d);
}

function hash4(): { locals: [number, number][]; code: Code } {
  // params 0..9; i32 locals 10..14; v128 locals 15..32. The message words and the chaining
  // values live in memory (MSG_AT, H_AT), not in locals: 16 state vectors already fill the
  // registers, and JavaScriptCore's optimizing tier runs this about 1.5× faster so.
  const [IN, STRIDE, BLOCKS, CTR, STEP, ALL, FIRST, LAST, OUT, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const B = 10;
  const P = [11, 12, 13, 14];
  const V = 15;
  const CTRV = 31;
  const TMP = 32;
  const rows = [V, V + 1, V + 2, V + 3];
  const temps = [V + 4, V + 5, V + 6, V + 7];
  const c = new Code();
  c.op(BLOCK, 0x40, LOOP, 0x40);
  c.get(GROUPS).op(I32_EQZ, BR_IF, 1);
  for (let i = 0; i < 8; i++) c.i32(0).i32(KEY_AT + 4 * i).load().simd(V_SPLAT).vstore(H_AT + 16 * i);
  for (let k = 0; k < 4; k++) c.get(IN).get(STRIDE).i32(k).op(I32_MUL, I32_ADD).set(P[k]);
  // counters: counter + k*step, step being 0 or 1
  c.get(CTR).simd(V_SPLAT).vconst([0, 1, 2, 3]).i32(0).get(STEP).op(I32_SUB).simd(V_SPLAT).simd(V_AND).simd(V_ADD).set(CTRV);
  c.i32(0).set(B);
  c.op(LOOP, 0x40);
  for (let g = 0; g < 4; g++) {
    for (let k = 0; k < 4; k++) c.get(P[k]).vload(16 * g).set(rows[k]);
    transpose(c, rows, temps);
    for (let k = 0; k < 4; k++) c.i32(0).get(rows[k]).vstore(MSG_AT + 16 * (4 * g + k));
  }
  for (let i = 0; i < 8; i++) c.i32(0).vload(H_AT + 16 * i).set(V + i);
  for (let i = 0; i < 4; i++) c.vconst([IV[i], IV[i], IV[i], IV[i]]).set(V + 8 + i);
  c.get(CTRV).set(V + 12);
  c.vconst([0, 0, 0, 0]).set(V + 13);
  c.vconst([64, 64, 64, 64]).set(V + 14);
  flags(c, ALL, FIRST, LAST, B, BLOCKS);
  c.simd(V_SPLAT).set(V + 15);
  rounds(c, V, (i) => c.i32(0).vload(MSG_AT + 16 * i), TMP, true);
  for (let i = 0; i < 8; i++) c.i32(0).get(V + i).get(V + 8 + i).simd(V_XOR).vstore(H_AT + 16 * i);
  for (let k = 0; k < 4; k++) c.get(P[k]).i32(64).op(I32_ADD).set(P[k]);
  c.get(B).i32(1).op(I32_ADD).tee(B).get(BLOCKS).op(I32_LT_U, BR_IF, 0);
  c.op(END);
  // chaining values: words (rows) back to inputs, then 32 bytes per input
  for (let i = 0; i < 8; i++) c.i32(0).vload(H_AT + 16 * i).set(V + i);
  transpose(c, [V, V + 1, V + 2, V + 3], [V + 8, V + 9, V + 10, V + 11]);
  transpose(c, [V + 4, V + 5, V + 6, V + 7], [V + 8, V + 9, V + 10, V + 11]);
  for (let k = 0; k < 4; k++) {
    c.get(OUT).get(V + k).vstore(32 * k);
    c.get(OUT).get(V + 4 + k).vstore(32 * k + 16);
  }
  c.get(OUT).i32(128).op(I32_ADD).set(OUT);
  c.get(IN).get(STRIDE).i32(2).op(I32_SHL, I32_ADD).set(IN);
  c.get(CTR).get(STEP).i32(2).op(I32_SHL, I32_ADD).set(CTR);
  c.get(GROUPS).i32(1).op(I32_SUB).set(GROUPS);
  c.op(BR, 0, END, END);
  return { locals: [[5, I32], [18, V128]], code: c };
}

function chain1(): { locals: [number, number][]; code: Code } {
  // params 0..8; i32 locals 9..36. Message words are loaded from the input as rounds need them.
  const [CV, IN, LEN, CTR_LO, CTR_HI, ALL, FIRST, LAST, OUT] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const B = 9;
  const BLOCKS = 10;
  const BLEN = 11;
  const H = 12;
  const V = 20;
  const P = 36;
  const c = new Code();
  for (let i = 0; i < 8; i++) c.get(CV).load(4 * i).set(H + i);
  // blocks = len == 0 ? 1 : (len + 63) >> 6
  c.i32(1).get(LEN).i32(63).op(I32_ADD).i32(6).op(I32_SHR_U).get(LEN).op(I32_EQZ, SELECT).set(BLOCKS);
  c.i32(0).set(B).get(IN).set(P);
  c.op(LOOP, 0x40);
  // blen = min(64, len - 64 b)
  c.get(LEN).get(B).i32(6).op(I32_SHL, I32_SUB).set(BLEN);
  c.i32(64).get(BLEN).get(BLEN).i32(64).op(I32_GT_U, SELECT).set(BLEN);
  for (let i = 0; i < 8; i++) c.get(H + i).set(V + i);
  for (let i = 0; i < 4; i++) c.i32(IV[i]).set(V + 8 + i);
  c.get(CTR_LO).set(V + 12).get(CTR_HI).set(V + 13).get(BLEN).set(V + 14);
  flags(c, ALL, FIRST, LAST, B, BLOCKS);
  c.set(V + 15);
  rounds(c, V, (i) => c.get(P).load(4 * i), 0, false);
  for (let i = 0; i < 8; i++) c.get(V + i).get(V + 8 + i).op(I32_XOR).set(H + i);
  c.get(P).i32(64).op(I32_ADD).set(P);
  c.get(B).i32(1).op(I32_ADD).tee(B).get(BLOCKS).op(I32_LT_U, BR_IF, 0);
  c.op(END);
  for (let i = 0; i < 8; i++) c.get(OUT).get(H + i).store(4 * i);
  return { locals: [[28, I32]], code: c };
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  return [s.length, ...[...s].map((ch) => ch.charCodeAt(0))];
}

/** The module's bytes: memory "mem" (1 page, growable), functions "hash4" and "chain1". */
export function blake3ModuleBytes(): Uint8Array {
  const funcs = [hash4(), chain1()];
  const types = [[0x60, 10, ...Array(10).fill(I32), 0], [0x60, 9, ...Array(9).fill(I32), 0]];
  const bodies = funcs.map(({ locals, code }) => {
    const body = [...uleb(locals.length), ...locals.flatMap(([n, t]) => [...uleb(n), t]), ...code.b, END];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [types.length, ...types.flat()]),
    ...section(3, [2, 0, 1]),
    ...section(5, [1, 0x00, 1]),
    ...section(7, [3, ...name("mem"), 0x02, 0, ...name("hash4"), 0x00, 0, ...name("chain1"), 0x00, 1]),
    ...section(10, [bodies.length, ...bodies.flat()]),
  ]);
}
