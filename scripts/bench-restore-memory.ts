/**
 * Restore memory: peak RSS of restoring one large file, efsbak against restic (a benchmark,
 * not a test). Restore memory must follow a budget of decoded bytes, whatever the size,
 * sparseness or compressibility of the file (docs/performance.md, "Restore memory").
 *
 *   for each case (generated once under WORK_DIR/data, reused):
 *     sparse   a 5 GiB file: a hole with 4 MiB of random data at 5 offsets (st_blocks small)
 *     log      3 GiB of log-like text lines (zstd: ~75x)
 *     random   1 GiB of incompressible random data
 *     small    20,000 text-like files of 1-16 KiB (bench-corpus.ts; not scaled): restore speed
 *   each tool: fresh repository, backup (untimed), restore under /usr/bin/time (wall, CPU,
 *   max RSS), then: bytes identical (cmp; small: paths, sizes and SHA-1 of every file),
 *   allocated bytes of what was restored (st_blocks * 512), restored copy deleted
 *   table -> stdout (markdown)
 *
 * Usage: bun scripts/bench-restore-memory.ts [WORK_DIR]   (default /tmp/efsbak-bench-rmem)
 * Environment: EFSBAK_BIN (default dist/efsbak), BENCH_RMEM_CASES (default "sparse,log,random,small"),
 * BENCH_RMEM_SCALE (default 1: a factor on every size, e.g. 0.1 to try the script),
 * BENCH_RMEM_KEEP=1 (keep WORK_DIR afterwards; by default it is deleted), BENCH_RMEM_RESTIC=0
 * (efsbak alone).
 * restic is used when on PATH (with "restore --sparse" where it has it: 0.15 and later); both
 * tools encrypt.
 */
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { createCipheriv } from "node:crypto";
import { DEFAULT_SPEC, corpusAt, ensureCorpus } from "./bench-corpus.ts";
import { type Measure, commandPath, measured, run, treeDigest } from "./bench-run.ts";

const PASSWORD = "efsbak-bench-password";
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

interface Case {
  name: string;
  what: string;
  bytes: number;
  /** Writes the file (`path`) of `bytes` bytes; or, for `tree` cases, the directory `path`. */
  make(path: string, bytes: number): void;
  /** The case is a directory tree (verified by digest), not one file (verified by cmp). */
  tree?: boolean;
}

/** Deterministic incompressible bytes (AES-256-CTR of zeros). */
function randomStream(seed: number): (n: number) => Uint8Array {
  const c = createCipheriv("aes-256-ctr", Buffer.alloc(32, seed), Buffer.alloc(16));
  return (n) => c.update(Buffer.alloc(n));
}

function writeAll(fd: number, data: Uint8Array, at: number): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, at + done);
}

const CASES: Case[] = [
  {
    name: "sparse",
    what: "sparse file (4 MiB of random data at 5 offsets)",
    bytes: 5 * GiB,
    make(path, bytes) {
      const fd = openSync(path, "w");
      const rnd = randomStream(1);
      ftruncateSync(fd, bytes);
      for (const at of [0, 0.21, 0.5, 0.77, 1]) writeAll(fd, rnd(4 * MiB), Math.min(bytes - 4 * MiB, Math.floor((bytes * at) / 4096) * 4096 + 123));
      closeSync(fd);
    },
  },
  {
    name: "log",
    what: "log lines (zstd ~75x)",
    bytes: 3 * GiB,
    make(path, bytes) {
      const levels = ["INFO", "INFO", "INFO", "DEBUG", "WARN"];
      const paths = ["/api/v1/items", "/api/v1/users", "/healthz", "/api/v1/orders"];
      const fd = openSync(path, "w");
      let t = Date.parse("2026-01-01T00:00:00Z");
      let i = 0;
      for (let at = 0; at < bytes; ) {
        const lines: string[] = [];
        for (let n = 0; n < 8 * MiB; ) {
          t += 250;
          i++;
          const line = `${new Date(t).toISOString()} ${levels[i % 5]} [worker-${i % 4}] ${paths[i % 4]} status=200 bytes=${1000 + (i % 16)} request handled\n`;
          lines.push(line);
          n += line.length;
        }
        const block = Buffer.from(lines.join("")).subarray(0, bytes - at);
        writeAll(fd, block, at);
        at += block.length;
      }
      closeSync(fd);
    },
  },
  {
    name: "random",
    what: "random data",
    bytes: 1 * GiB,
    make(path, bytes) {
      const fd = openSync(path, "w");
      const rnd = randomStream(2);
      for (let at = 0; at < bytes; at += 16 * MiB) writeAll(fd, rnd(Math.min(16 * MiB, bytes - at)), at);
      closeSync(fd);
    },
  },
  {
    name: "small",
    what: "20,000 text-like files of 1-16 KiB (bench-corpus.ts)",
    bytes: 0,
    tree: true,
    make(path) {
      ensureCorpus(corpusAt(path, { ...DEFAULT_SPEC, largeFiles: 0 }), log);
    },
  },
];

interface Row {
  tool: string;
  case: string;
  seconds: number;
  cpu: number | null;
  rss: number | null;
  allocated: number;
  identical: boolean;
}

/** Allocated bytes (st_blocks * 512) of a file, or of every file under a directory. */
function allocated(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.blocks * 512;
  let total = 0;
  for (const name of readdirSync(path)) total += allocated(join(path, name));
  return total;
}

function log(m: string): void {
  process.stderr.write(`${m}\n`);
}

function same(a: string, b: string): boolean {
  return run(["cmp", "-s", a, b]).code === 0;
}

/** Restores with one tool; returns the measure and the restored file's path. */
type Restorer = { name: string; init(): void; backup(dir: string): string; restore(snap: string, dir: string, target: string): Measure & { file: string } };

function efsbak(bin: string, work: string): Restorer {
  const vault = join(work, "efsbak-vault");
  const env = { EFSBAK_PASSWORD: PASSWORD };
  return {
    name: "efsbak",
    init() {
      rmSync(vault, { recursive: true, force: true });
      const r = run([bin, "vault", "init", vault, "--encryption", "aes-256-gcm"], env, work);
      if (r.code !== 0) throw new Error(`Cannot create the efsbak vault: ${r.stderr}`);
    },
    backup(dir) {
      const r = run([bin, "backup", dir, "--vault", vault, "--json"], env, work);
      if (r.code !== 0) throw new Error(`efsbak backup failed: ${r.stderr}`);
      return JSON.parse(r.stdout).recovery_point;
    },
    restore(snap, _dir, target) {
      const m = measured([bin, "restore", snap, "--vault", vault, "--target", target, "--json"], { env, cwd: work });
      const out = JSON.parse(m.stdout);
      if (out.fragments?.length) throw new Error(`efsbak restore left ${out.fragments.length} fragments in lost+found`);
      return { ...m, file: out.restore_dir };
    },
  };
}

function restic(work: string): Restorer {
  const repo = join(work, "restic-repo");
  const env = { RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: join(work, "restic-cache") };
  // "restore --sparse" came with restic 0.15; older ones write holes out as zeros.
  const sparse = run(["restic", "restore", "--help"]).stdout.includes("--sparse") ? ["--sparse"] : [];
  return {
    name: "restic",
    init() {
      rmSync(repo, { recursive: true, force: true });
      const r = run(["restic", "init", "--repo", repo, "-q"], env, work);
      if (r.code !== 0) throw new Error(`Cannot create the restic repository: ${r.stderr}`);
    },
    backup(dir) {
      const r = run(["restic", "--repo", repo, "backup", dir, "--json"], env, work);
      if (r.code !== 0) throw new Error(`restic backup failed: ${r.stderr}`);
      return r.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((o) => o.message_type === "summary").snapshot_id;
    },
    restore(snap, dir, target) {
      const m = measured(["restic", "--repo", repo, "restore", snap, "--target", target, ...sparse], { env, cwd: work });
      return { ...m, file: join(target, dir) };
    },
  };
}

/** Bytes of a one-file case at this scale (whole MiB, at least 16). */
function sizeOf(c: Case, scale: number): number {
  return Math.max(16 * MiB, Math.round((c.bytes * scale) / MiB) * MiB);
}

function main(): void {
  const root = resolve(process.argv[2] ?? "/tmp/efsbak-bench-rmem");
  const bin = resolve(process.env.EFSBAK_BIN || join(import.meta.dir, "..", "dist", "efsbak"));
  const scale = Number(process.env.BENCH_RMEM_SCALE || 1);
  const wanted = (process.env.BENCH_RMEM_CASES || "sparse,log,random,small").split(",");
  const work = join(root, "work");
  mkdirSync(work, { recursive: true });
  const withRestic = process.env.BENCH_RMEM_RESTIC !== "0";
  const tools = [efsbak(bin, work), ...(withRestic && commandPath("restic") ? [restic(work)] : [])];
  if (withRestic && tools.length === 1) log("restic: not on PATH, efsbak alone (apt-get install -y restic)");
  const rows: Row[] = [];
  const cases = CASES.filter((c) => wanted.includes(c.name));
  for (const c of cases) {
    const dir = join(root, "data", c.name);
    // What is backed up (a directory), and what of it is compared after the restore.
    const source = c.tree ? join(dir, "small") : join(dir, `${c.name}.bin`);
    const bytes = c.tree ? 0 : sizeOf(c, scale);
    if (c.tree) {
      c.make(dir, 0);
    } else if (!existsSync(source) || statSync(source).size !== bytes) {
      mkdirSync(dir, { recursive: true });
      log(`${c.name}: generating ${(bytes / MiB).toFixed(0)} MiB`);
      c.make(source, bytes);
    }
    const backedUp = c.tree ? source : dir;
    const want = c.tree ? treeDigest(source) : null;
    for (const t of tools) {
      t.init();
      const snap = t.backup(backedUp);
      const target = join(work, `restore-${t.name}`);
      rmSync(target, { recursive: true, force: true });
      const m = t.restore(snap, backedUp, target);
      const restored = c.tree ? m.file : join(m.file, `${c.name}.bin`);
      const identical = want ? treeDigest(restored).digest === want.digest : statSync(restored).size === bytes && same(source, restored);
      const row: Row = { tool: t.name, case: c.name, seconds: m.seconds, cpu: m.cpu ?? null, rss: m.rss, allocated: allocated(restored), identical };
      rows.push(row);
      log(`  ${t.name.padEnd(6)} ${c.name.padEnd(6)} ${m.seconds.toFixed(2).padStart(7)} s  cpu ${row.cpu?.toFixed(2) ?? "?"} s  ${m.rss ? (m.rss / MiB).toFixed(0) : "?"} MiB RSS  allocated ${(row.allocated / MiB).toFixed(0)} MiB  ${row.identical ? "identical" : "DIFFERENT"}`);
      rmSync(target, { recursive: true, force: true });
    }
    log(`  source ${c.name}: ${want ? `${want.files} files, ${(want.bytes / MiB).toFixed(0)} MiB` : `${(bytes / MiB).toFixed(0)} MiB`}, allocated ${(allocated(source) / MiB).toFixed(0)} MiB`);
  }
  const mib = (n: number | null | undefined) => (n == null ? "-" : (n / MiB).toFixed(0));
  const lines = [
    `| case | size | ${tools.map((t) => `${t.name} peak RSS (MiB) | ${t.name} time (s) | ${t.name} cpu (s) | ${t.name} allocated (MiB)`).join(" | ")} | identical |`,
    `|---|---|${tools.map(() => "---|---|---|---|").join("")}---|`,
  ];
  for (const c of cases) {
    const rs = tools.map((t) => rows.find((r) => r.tool === t.name && r.case === c.name));
    const size = c.tree ? "-" : `${mib(sizeOf(c, scale))} MiB`;
    lines.push(`| ${c.what} | ${size} | ${rs.map((r) => `${mib(r?.rss)} | ${r?.seconds.toFixed(2)} | ${r?.cpu?.toFixed(2) ?? "-"} | ${mib(r?.allocated)}`).join(" | ")} | ${rs.every((r) => r?.identical) ? "yes" : "NO"} |`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  if (process.env.BENCH_RMEM_KEEP !== "1") rmSync(root, { recursive: true, force: true });
  if (rows.some((r) => !r.identical)) process.exit(1);
}

main();
