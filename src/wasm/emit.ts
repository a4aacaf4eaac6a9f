/**
 * The WebAssembly binary-format pieces that both kernels need (chunk/blake3-wasm.ts and
 * vault/argon2-wasm.ts emit their modules byte by byte): LEB128, the opcodes they share, an
 * instruction builder for one function body, and the module around the bodies.
 *
 *   moduleBytes(funcs, { memory, exports }):
 *     header ‖ type ‖ import (an imported memory) ‖ function ‖ memory (a defined one) ‖ export ‖ code
 *
 * Each function gets its own type: i32 parameters, no results. What the functions compute,
 * and with which instructions, stays in the kernel that emits them.
 */

// Opcodes used by both kernels (WebAssembly core 2.0 with the fixed-width SIMD proposal).
export const I32 = 0x7f, V128 = 0x7b;
export const BLOCK = 0x02, LOOP = 0x03, END = 0x0b, BR = 0x0c, BR_IF = 0x0d, SELECT = 0x1b;
export const I32_EQZ = 0x45, I32_EQ = 0x46, I32_LT_U = 0x49;
export const I32_ADD = 0x6a, I32_SUB = 0x6b, I32_MUL = 0x6c, I32_SHL = 0x74, I32_SHR_U = 0x76;
// after the 0xfd prefix
export const V_LOAD = 0x00, V_STORE = 0x0b, V_XOR = 0x51;
const GET = 0x20, SET = 0x21, TEE = 0x22, I32_CONST = 0x41, I64_CONST = 0x42;
const V_CONST = 0x0c, V_SHUFFLE = 0x0d;

/** Export kinds: a function, or a memory. */
export const EXTERN_FUNC = 0x00, EXTERN_MEMORY = 0x02;

/** Appends n (unsigned LEB128) to out, and returns out. */
function uleb(n: number, out: number[] = []): number[] {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Appends n (signed LEB128, as a 32-bit integer) to out. */
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
 * Instruction bytes of one function body. Bytes are pushed one by one, with no array per
 * instruction: this runs cold, once per process. Memory instructions take `align` as the
 * format does, log2 of the alignment hint (0: none, 2: 4 bytes, 3: 8 bytes, 4: 16 bytes).
 */
export class Code {
  readonly bytes: number[] = [];
  op(...bytes: number[]): this {
    for (const x of bytes) this.bytes.push(x);
    return this;
  }
  #withIndex(opcode: number, i: number): this {
    this.bytes.push(opcode);
    uleb(i, this.bytes);
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
    this.bytes.push(I32_CONST);
    sleb(v, this.bytes);
    return this;
  }
  i64(v: number): this {
    this.bytes.push(I64_CONST);
    sleb(v, this.bytes);
    return this;
  }
  #memarg(align: number, offset: number): this {
    this.bytes.push(align);
    uleb(offset, this.bytes);
    return this;
  }
  /** A load or store: opcode, then the memory argument. */
  mem(opcode: number, align: number, offset: number): this {
    this.bytes.push(opcode);
    return this.#memarg(align, offset);
  }
  /** A SIMD instruction: 0xfd, its opcode, then its immediates. */
  simd(op: number, ...imm: number[]): this {
    this.bytes.push(0xfd);
    uleb(op, this.bytes);
    return this.op(...imm);
  }
  /** A v128 load or store: 0xfd, opcode, the memory argument, then the lane of a lane op. */
  vmem(op: number, align: number, offset: number, ...lane: number[]): this {
    return this.simd(op).#memarg(align, offset).op(...lane);
  }
  /** v128.const of 16 bytes. */
  vconst(bytes: readonly number[]): this {
    return this.simd(V_CONST, ...bytes);
  }
  /** Shuffle of bytes: 0..15 from the first operand, 16..31 from the second. */
  shuffle(bytes: readonly number[]): this {
    return this.simd(V_SHUFFLE, ...bytes);
  }
}

/** A function: its i32 parameter count (it returns nothing), local declarations (count, type) and code. */
export interface Func {
  params: number;
  locals: [count: number, type: number][];
  code: Code;
}

/** The module's one memory, in 64 KiB pages: imported from [module, field], or defined. */
export interface Memory {
  min: number;
  max?: number;
  /** Shared between threads (needs max). */
  shared?: boolean;
  import?: [module: string, field: string];
}

/** An export: its name, kind (EXTERN_FUNC or EXTERN_MEMORY) and index. */
export type Export = [name: string, kind: number, index: number];

/** Appends a section: id, byte length, then the bytes of its parts. */
function section(out: number[], id: number, parts: number[][]): void {
  out.push(id);
  uleb(parts.reduce((n, p) => n + p.length, 0), out);
  for (const p of parts) for (const x of p) out.push(x);
}

function name(s: string): number[] {
  return [...uleb(s.length), ...[...s].map((ch) => ch.charCodeAt(0))];
}

function limits({ min, max, shared }: Memory): number[] {
  const flags = (max === undefined ? 0 : 1) | (shared ? 2 : 0);
  return max === undefined ? [flags, ...uleb(min)] : [flags, ...uleb(min), ...uleb(max)];
}

/** The bytes of a module of funcs (function i has type i), one memory, and exports. */
export function moduleBytes(funcs: Func[], options: { memory: Memory; exports: Export[] }): Uint8Array {
  const { memory, exports } = options;
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  section(out, 1, [uleb(funcs.length), ...funcs.map((f) => [0x60, ...uleb(f.params), ...Array(f.params).fill(I32), 0])]);
  if (memory.import) section(out, 2, [[1], name(memory.import[0]), name(memory.import[1]), [EXTERN_MEMORY], limits(memory)]);
  section(out, 3, [uleb(funcs.length), ...funcs.map((_, i) => uleb(i))]);
  if (!memory.import) section(out, 5, [[1], limits(memory)]);
  section(out, 7, [uleb(exports.length), ...exports.map(([n, kind, index]) => [...name(n), kind, ...uleb(index)])]);
  const bodies = funcs.map(({ locals, code }) => {
    const head = uleb(locals.length);
    for (const [n, t] of locals) uleb(n, head).push(t);
    return [uleb(head.length + code.bytes.length + 1), head, code.bytes, [END]];
  });
  section(out, 10, [uleb(bodies.length), ...bodies.flat()]);
  return new Uint8Array(out);
}
