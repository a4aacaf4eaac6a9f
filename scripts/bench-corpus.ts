/**
 * The benchmark corpus: deterministic, generated fast, and mutated and restored in place.
 *
 *   data/large/big-{0..3}.bin   4 × 256 MiB of AES-256-CTR keystream (incompressible)
 *   data/small/d000..d099/      20,000 text-like files of 1–16 KiB (200 per directory)
 *
 * Mutation (the incremental step), undone by unmutate() so that every repeat starts alike:
 *   - 1% of the small files (every 100th) get a line inserted in the middle;
 *   - big-0.bin grows by 8 MiB of new keystream; big-1.bin has 1 MiB at 100 MiB rewritten;
 *   - data/small/added/ holds 10 new small files.
 * A marker file says a mutation is in place, so an interrupted run is cleaned up next time.
 */
import { createCipheriv, createHash } from "node:crypto";
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/** Shape of the corpus; stored in a stamp so a different shape is regenerated. */
export interface CorpusSpec {
  largeFiles: number;
  largeBytes: number;
  smallFiles: number;
  smallDirs: number;
  smallMin: number;
  smallMax: number;
}

/** Where the corpus lives and what it holds. */
export interface Corpus {
  spec: CorpusSpec;
  root: string;
  large: string;
  small: string;
  /** Bytes under large/ and files under small/ (pristine). */
  largeBytes: number;
  smallFiles: number;
  smallBytes: number;
}

/** The default corpus of the issue: 1 GiB of large files, 20,000 small ones. */
export const DEFAULT_SPEC: CorpusSpec = {
  largeFiles: 4,
  largeBytes: 256 * 1024 * 1024,
  smallFiles: 20_000,
  smallDirs: 100,
  smallMin: 1024,
  smallMax: 16 * 1024,
};

const STAMP_VERSION = 1;
const BLOCK = 16 * 1024 * 1024;
const MUTATE_EVERY = 100;
const MUTATE_OFFSET = 37;
const APPEND_BYTES = 8 * 1024 * 1024;
const REWRITE_AT = 100 * 1024 * 1024;
const REWRITE_BYTES = 1024 * 1024;
const ADDED = 10;

/** A seeded 32-bit PRNG (mulberry32): the same sequence everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** AES-256-CTR keystream of a named stream, starting at a byte offset (multiple of 16). */
function keystream(name: string, offset: number) {
  const key = createHash("sha256").update(`efsbak-bench:${name}`).digest();
  const iv = Buffer.alloc(16);
  let block = BigInt(offset / 16);
  for (let i = 15; i >= 0; i--) {
    iv[i] = Number(block & 0xffn);
    block >>= 8n;
  }
  return createCipheriv("aes-256-ctr", key, iv);
}

const ZEROS = new Uint8Array(BLOCK);

/** Writes `length` bytes of stream `name` (from `offset`) into fd at `offset`. */
function writeStream(fd: number, name: string, offset: number, length: number): void {
  const cipher = keystream(name, offset);
  let done = 0;
  while (done < length) {
    const n = Math.min(BLOCK, length - done);
    const bytes = cipher.update(ZEROS.subarray(0, n));
    let w = 0;
    while (w < n) w += writeSync(fd, bytes, w, n - w, offset + done + w);
    done += n;
  }
}

/** A pool of text-like bytes (pseudo-words and lines) that small files are cut from. */
function textPool(bytes: number): Buffer {
  const rnd = prng(0x5eed);
  const syllables = ["ka", "to", "re", "mi", "su", "lo", "ne", "ba", "di", "fu", "ga", "he", "jo", "pe", "ri", "sa", "te", "vo", "wy", "ze", "an", "el", "in", "or", "us"];
  const words: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const n = 1 + Math.floor(rnd() * 4);
    let w = "";
    for (let k = 0; k < n; k++) w += syllables[Math.floor(rnd() * syllables.length)];
    words.push(w);
  }
  const parts: string[] = [];
  let size = 0;
  let line = 0;
  while (size < bytes) {
    // Zipf-ish word choice, so the text compresses like prose (about 3:1 with zstd).
    const w = words[Math.floor(words.length * rnd() * rnd())];
    const sep = ++line % 12 === 0 ? "\n" : " ";
    parts.push(w, sep);
    size += w.length + 1;
  }
  return Buffer.from(parts.join("").slice(0, bytes), "latin1");
}

interface SmallFile {
  path: string;
  size: number;
  poolOffset: number;
}

function smallFiles(c: Corpus, poolBytes: number): SmallFile[] {
  const rnd = prng(0xf11e5);
  const out: SmallFile[] = [];
  const { smallFiles: count, smallDirs: dirs, smallMin: min, smallMax: max } = c.spec;
  for (let i = 0; i < count; i++) {
    const dir = `d${String(i % dirs).padStart(3, "0")}`;
    const size = min + Math.floor(rnd() * (max - min + 1));
    out.push({ path: join(c.small, dir, `f${String(i).padStart(5, "0")}.txt`), size, poolOffset: Math.floor(rnd() * (poolBytes - max)) });
  }
  return out;
}

function smallContent(pool: Buffer, f: SmallFile, index: number, mutated: boolean): Buffer {
  const header = Buffer.from(`efsbak bench corpus file ${index}\n`);
  const body = pool.subarray(f.poolOffset, f.poolOffset + f.size - header.length);
  if (!mutated) return Buffer.concat([header, body]);
  const mid = body.length >> 1;
  return Buffer.concat([header, body.subarray(0, mid), Buffer.from(`\nchanged by the mutation step of file ${index}\n`), body.subarray(mid)]);
}

const POOL_BYTES = 4 * 1024 * 1024;
let poolCache: Buffer | null = null;
function pool(): Buffer {
  return (poolCache ??= textPool(POOL_BYTES));
}

/** Describes the corpus under root (nothing is written). */
export function corpusAt(root: string, spec: CorpusSpec = DEFAULT_SPEC): Corpus {
  const c: Corpus = { spec, root, large: join(root, "large"), small: join(root, "small"), largeBytes: spec.largeFiles * spec.largeBytes, smallFiles: spec.smallFiles, smallBytes: 0 };
  c.smallBytes = smallFiles(c, POOL_BYTES).reduce((s, f) => s + f.size, 0);
  return c;
}

/** Makes sure the pristine corpus is in place; generates it when missing. Returns seconds spent. */
export function ensureCorpus(c: Corpus, log: (m: string) => void): number {
  const t0 = performance.now();
  const stampPath = join(c.root, ".stamp");
  const stamp = JSON.stringify({ v: STAMP_VERSION, spec: c.spec });
  if (existsSync(stampPath) && readFileSync(stampPath, "utf8") === stamp) {
    if (existsSync(join(c.root, ".mutated"))) {
      log("corpus: undoing the mutation of an interrupted run");
      unmutate(c);
    }
    return 0;
  }
  log(`corpus: generating ${c.spec.largeFiles} × ${c.spec.largeBytes >> 20} MiB and ${c.spec.smallFiles} small files under ${c.root}`);
  rmSync(c.root, { recursive: true, force: true });
  mkdirSync(c.large, { recursive: true });
  for (let i = 0; i < c.spec.largeFiles; i++) {
    const fd = openSync(join(c.large, `big-${i}.bin`), "w");
    try {
      writeStream(fd, `big-${i}`, 0, c.spec.largeBytes);
    } finally {
      closeSync(fd);
    }
  }
  const p = pool();
  for (let d = 0; d < c.spec.smallDirs; d++) mkdirSync(join(c.small, `d${String(d).padStart(3, "0")}`), { recursive: true });
  smallFiles(c, POOL_BYTES).forEach((f, i) => writeFileSync(f.path, smallContent(p, f, i, false)));
  writeFileSync(stampPath, stamp);
  return (performance.now() - t0) / 1000;
}

/** Applies the mutation step (see the module comment). */
export function mutate(c: Corpus): void {
  writeFileSync(join(c.root, ".mutated"), "");
  const p = pool();
  smallFiles(c, POOL_BYTES).forEach((f, i) => {
    if (i % MUTATE_EVERY === MUTATE_OFFSET) writeFileSync(f.path, smallContent(p, f, i, true));
  });
  withFile(join(c.large, "big-0.bin"), (fd) => writeStream(fd, "big-0-appended", c.spec.largeBytes, APPEND_BYTES));
  if (c.spec.largeFiles > 1 && c.spec.largeBytes >= REWRITE_AT + REWRITE_BYTES) {
    withFile(join(c.large, "big-1.bin"), (fd) => writeStream(fd, "big-1-rewritten", REWRITE_AT, REWRITE_BYTES));
  }
  const added = join(c.small, "added");
  mkdirSync(added, { recursive: true });
  for (let i = 0; i < ADDED; i++) {
    const f: SmallFile = { path: join(added, `new-${i}.txt`), size: 4096 + i * 512, poolOffset: 1000 + i * 7919 };
    writeFileSync(f.path, smallContent(p, f, 100_000 + i, false));
  }
}

/** Opens an existing file for writing, runs f on it, closes it. */
function withFile(path: string, f: (fd: number) => void): void {
  const fd = openSync(path, "r+");
  try {
    f(fd);
  } finally {
    closeSync(fd);
  }
}

/** Undoes mutate(): the pristine content is regenerated (mtimes differ, contents do not). */
export function unmutate(c: Corpus): void {
  const p = pool();
  smallFiles(c, POOL_BYTES).forEach((f, i) => {
    if (i % MUTATE_EVERY === MUTATE_OFFSET) writeFileSync(f.path, smallContent(p, f, i, false));
  });
  withFile(join(c.large, "big-0.bin"), (fd) => ftruncateSync(fd, c.spec.largeBytes));
  if (c.spec.largeFiles > 1 && c.spec.largeBytes >= REWRITE_AT + REWRITE_BYTES) {
    withFile(join(c.large, "big-1.bin"), (fd) => writeStream(fd, "big-1", REWRITE_AT, REWRITE_BYTES));
  }
  rmSync(join(c.small, "added"), { recursive: true, force: true });
  rmSync(join(c.root, ".mutated"), { force: true });
}
