/**
 * Harness of the reliability suite (test/reliability/): settings that are small in `npm test`
 * and large under `scripts/soak`, seeded random trees, the compiled binary run with its peak
 * memory sampled, and figures recorded for docs/reliability.md.
 *
 *   setting("TRIALS", 3, 20)   -> SOAK_TRIALS from the environment, else 20 under SOAK=1, else 3
 *   makeLargeTree(dir, { bytes, smallFiles, seed })  -> random big files + many small ones
 *   startBinary(argv, { cwd })  -> a running efsbak: kill it, or await its result (+ peak RSS)
 *   record("crash", { trials, failures })  -> one JSON line in SOAK_REPORT (and on stderr)
 *
 * Everything random comes from SOAK_SEED (default fixed), so a failure reproduces.
 */
import { appendFileSync, chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createCipheriv, createHash } from "node:crypto";
import { join } from "node:path";
import { ensureBinary } from "./cli.ts";
import { between, rng } from "./random.ts";

/** True under scripts/soak (SOAK=1): large settings by default. */
export const SOAK = process.env.SOAK === "1";

/** A numeric setting: SOAK_<NAME> if set, else the soak or CI default. */
export function setting(name: string, ci: number, soak: number): number {
  const raw = process.env[`SOAK_${name}`];
  if (raw !== undefined && raw !== "") {
    const v = Number(raw);
    if (!Number.isFinite(v)) throw new Error(`SOAK_${name}="${raw}" is not a number`);
    return v;
  }
  return SOAK ? soak : ci;
}

/** The suite's seed (SOAK_SEED, default 20261124). */
export const SEED = setting("SEED", 20261124, 20261124);

/** n seeded, incompressible bytes (an AES-CTR keystream: fast enough for gigabytes). */
export function randomData(seed: number, n: number): Buffer {
  const key = createHash("sha256").update(`efsbak soak ${seed}`).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(n));
}

/** What makeLargeTree made. */
export interface LargeTree {
  files: number;
  dirs: number;
  bytes: number;
}

/**
 * Writes `bytes` of random data as big files (1–32 MiB) under big/, plus `smallFiles` small
 * files (0–8 KiB, some empty, some text) spread over nested directories under small/.
 */
export function makeLargeTree(root: string, options: { bytes: number; smallFiles: number; seed: number }): LargeTree {
  const random = rng(options.seed);
  const out: LargeTree = { files: 0, dirs: 0, bytes: 0 };
  mkdirSync(join(root, "big"), { recursive: true });
  out.dirs++;
  let left = options.bytes;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(left, between(random, 1 << 20, 32 << 20));
    writeBig(join(root, "big", `f${String(i).padStart(4, "0")}.bin`), options.seed * 1000 + i, n);
    left -= n;
    out.files++;
    out.bytes += n;
  }
  for (let i = 0; i < options.smallFiles; i++) {
    const dir = join(root, "small", `d${i % 37}`, `e${i % 5}`);
    if (i < 37 * 5) {
      mkdirSync(dir, { recursive: true });
      out.dirs++;
    }
    const kind = random();
    const size = kind < 0.1 ? 0 : between(random, 1, 8192);
    const data = kind < 0.5 ? Buffer.from(`text ${i} `.repeat(1 + (size >> 4)).slice(0, size)) : randomData(options.seed + i, size);
    writeFileSync(join(dir, `s${i}.dat`), data);
    out.files++;
    out.bytes += size;
  }
  mkdirSync(join(root, "links"));
  out.dirs++;
  writeFileSync(join(root, "links/target.txt"), "link target\n");
  symlinkSync("target.txt", join(root, "links/rel"));
  symlinkSync("/nonexistent/efsbak", join(root, "links/dangling"));
  linkSync(join(root, "links/target.txt"), join(root, "links/hard"));
  chmodSync(join(root, "links/target.txt"), 0o640);
  out.files += 2;
  return out;
}

/**
 * Changes a tree made by makeLargeTree, as a day of use would: rewrites big files (about
 * `fraction` of them, with new random content of the same size) and edits, adds, removes and
 * re-modes small files. Returns the bytes of new content written.
 */
export function churnTree(root: string, options: { seed: number; fraction: number }): number {
  const random = rng(options.seed);
  let written = 0;
  const big = readdirSync(join(root, "big")).sort();
  for (const [i, name] of big.entries()) {
    if (random() >= options.fraction) continue;
    const p = join(root, "big", name);
    const size = statSync(p).size;
    writeBig(p, options.seed * 7919 + i, size);
    written += size;
  }
  const ds = readdirSync(join(root, "small")).sort();
  const d = ds[between(random, 0, ds.length - 1)];
  const es = readdirSync(join(root, "small", d)).sort();
  const smallDir = join(root, "small", d, es[between(random, 0, es.length - 1)]);
  const small = readdirSync(smallDir).sort();
  for (let k = 0; k < 5 && small.length > 0; k++) {
    const name = small.splice(between(random, 0, small.length - 1), 1)[0];
    const p = join(smallDir, name);
    const action = k % 5;
    if (action === 0) appendFileSync(p, `appended ${options.seed}\n`);
    else if (action === 1) rmSync(p);
    else if (action === 2) chmodSync(p, 0o600);
    else if (action === 3) utimesSync(p, new Date(1_600_000_000_000 + options.seed), new Date(1_600_000_000_000 + options.seed));
    else writeFileSync(p, randomData(options.seed, 4096));
  }
  writeFileSync(join(smallDir, `new-${options.seed}.txt`), `new file of round ${options.seed}\n`);
  return written;
}

/** Writes a big random file in 8 MiB pieces (bounded memory). */
export function writeBig(path: string, seed: number, n: number): void {
  const key = createHash("sha256").update(`efsbak soak ${seed}`).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  const piece = Buffer.alloc(8 << 20);
  writeFileSync(path, "");
  for (let done = 0; done < n; done += piece.length) {
    appendFileSync(path, cipher.update(piece.subarray(0, Math.min(piece.length, n - done))));
  }
}

/** Pack objects in a local vault (count and bytes). */
export function packStats(vault: string): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  let folders: string[];
  try {
    folders = readdirSync(join(vault, "packs"));
  } catch {
    return { count, bytes };
  }
  for (const f of folders) {
    for (const e of readdirSync(join(vault, "packs", f))) {
      if (e.includes(".tmp-")) continue;
      count++;
      bytes += statSync(join(vault, "packs", f, e)).size;
    }
  }
  return { count, bytes };
}

/** What a finished binary run produced, with its peak memory and wall time. */
export interface BinaryRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size (VmHWM, sampled every 20 ms), in KiB; 0 when never sampled. */
  peakRssKb: number;
  ms: number;
}

/** A running binary. */
export interface RunningBinary {
  pid: number;
  kill(signal: "SIGKILL" | "SIGTERM"): void;
  done: Promise<BinaryRun>;
}

/** Starts dist/efsbak (built if stale) with a small environment, sampling its peak RSS. */
export function startBinary(argv: string[], options: { cwd: string; env?: Record<string, string | undefined> }): RunningBinary {
  const bin = ensureBinary();
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;
  const started = performance.now();
  const proc = Bun.spawn([bin, ...argv], { cwd: options.cwd, env, stdout: "pipe", stderr: "pipe" });
  let peak = 0;
  const sample = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch {
      // gone already
    }
  };
  const timer = setInterval(sample, 20);
  const done = (async (): Promise<BinaryRun> => {
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    clearInterval(timer);
    return { code: proc.signalCode ? null : proc.exitCode, signal: proc.signalCode ? String(proc.signalCode) : null, stdout, stderr, peakRssKb: peak, ms: Math.round(performance.now() - started) };
  })();
  return {
    pid: proc.pid,
    kill(signal) {
      sample();
      proc.kill(signal);
    },
    done,
  };
}

/** Runs the binary to its end. */
export function runBinaryMeasured(argv: string[], options: { cwd: string; env?: Record<string, string | undefined> }): Promise<BinaryRun> {
  return startBinary(argv, options).done;
}

/** Parses the --json document a command printed (or fails the test with its stderr). */
export function jsonOf<T = any>(run: { stdout: string; stderr: string }): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`expected JSON on stdout, got: ${run.stdout.slice(0, 500)}\nstderr: ${run.stderr.slice(0, 2000)}`);
  }
}

/** Waits until cond() holds, polling every `everyMs`; false on timeout. */
export async function until(cond: () => boolean, options: { timeoutMs: number; everyMs?: number }): Promise<boolean> {
  const end = performance.now() + options.timeoutMs;
  while (performance.now() < end) {
    if (cond()) return true;
    await Bun.sleep(options.everyMs ?? 10);
  }
  return cond();
}

/**
 * Records the figures of one test: printed on stderr, and appended as a JSON line to the file
 * SOAK_REPORT names (scripts/soak sets it), for docs/reliability.md.
 */
export function record(test: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ test, mode: SOAK ? "soak" : "ci", seed: SEED, at: new Date().toISOString(), ...figures });
  process.stderr.write(`[reliability] ${line}\n`);
  const file = process.env.SOAK_REPORT;
  if (file) appendFileSync(file, `${line}\n`);
}

/** MiB, for figures. */
export function mib(bytes: number): number {
  return Math.round((bytes / (1 << 20)) * 10) / 10;
}

/**
 * Makes a tree of `entries` entries (files, mostly empty, and directories): directories of
 * about 1,000 entries, nested two levels, one file in 100 with a little content, a symlink
 * per directory. Returns the count made (directories included).
 */
export function makeWideTree(root: string, options: { entries: number; seed: number }): number {
  mkdirSync(root, { recursive: true });
  let made = 0;
  for (let top = 0; made < options.entries; top++) {
    const a = join(root, `t${String(top).padStart(3, "0")}`);
    mkdirSync(a);
    made++;
    for (let mid = 0; mid < 10 && made < options.entries; mid++) {
      const b = join(a, `m${mid}`);
      mkdirSync(b);
      made++;
      symlinkSync("f0", join(b, "link"));
      made++;
      for (let f = 0; f < 1000 && made < options.entries; f++, made++) {
        writeFileSync(join(b, `f${f}`), f % 100 === 7 ? `content ${options.seed} ${top}/${mid}/${f}\n` : "");
      }
    }
  }
  return made;
}

/**
 * A digest of a tree (paths, types, modes, mtimes, sizes, link targets, content hashes),
 * computed walking in sorted order with constant memory per directory: compares trees of a
 * million entries without holding a snapshot of them.
 */
export function treeDigest(root: string, options: { ignore?: string[] } = {}): { digest: string; entries: number } {
  const h = createHash("sha256");
  let entries = 0;
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs).sort()) {
      if (!rel && options.ignore?.includes(name)) continue;
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p, { bigint: true });
      entries++;
      if (st.isDirectory()) {
        h.update(`d ${r} ${st.mode & 0o7777n} ${st.mtimeNs}\n`);
        walk(p, r);
      } else if (st.isSymbolicLink()) {
        h.update(`l ${r} ${readlinkSync(p)} ${st.mtimeNs}\n`);
      } else {
        const content = st.size > 0n ? createHash("sha256").update(readFileSync(p)).digest("hex") : "-";
        h.update(`f ${r} ${st.mode & 0o7777n} ${st.mtimeNs} ${st.size} ${content}\n`);
      }
    }
  };
  walk(root, "");
  return { digest: h.digest("hex"), entries };
}
