/**
 * Running the tools under measurement: one command = wall time (spawn to exit, measured here)
 * and peak RSS (from /usr/bin/time's %M, which covers every thread of the process). Each
 * tool is an adapter with the same verbs, so bench.ts treats efsbak and restic alike.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";

/** What one measured command cost. */
export interface Measure {
  seconds: number;
  /** Peak resident set size in bytes, or null when /usr/bin/time is missing. */
  rss: number | null;
  /** CPU seconds the command used (user + system), or null without /usr/bin/time. */
  cpu?: number | null;
  /** Cores kept busy by everything else on the machine during the run (0 on a quiet one). */
  background?: number | null;
}

/** Busy and total jiffies of all CPUs so far (/proc/stat), or null off Linux. */
function cpuJiffies(): { busy: number; total: number } | null {
  try {
    const v = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy: total - v[3] - v[4], total };
  } catch {
    return null;
  }
}

const HZ = 100;

const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;

/** Runs argv, measured; throws with its stderr when it fails. */
export function measured(argv: string[], options: { env?: Record<string, string>; cwd?: string; okCodes?: number[] } = {}): Measure & { stdout: string } {
  const tmp = mkdtempSync("/tmp/efsbak-bench-time-");
  const timeFile = join(tmp, "time");
  const full = TIME ? [TIME, "-f", "%M %U %S", "-o", timeFile, ...argv] : argv;
  const j0 = cpuJiffies();
  const t0 = Bun.nanoseconds();
  const r = spawnSync(full[0], full.slice(1), { env: { ...process.env, ...options.env }, cwd: options.cwd, encoding: "utf8", maxBuffer: 1 << 28 });
  const seconds = (Bun.nanoseconds() - t0) / 1e9;
  const j1 = cpuJiffies();
  let rss: number | null = null;
  let cpu: number | null = null;
  if (TIME && existsSync(timeFile)) {
    const lines = readFileSync(timeFile, "utf8").trim().split("\n");
    const [kib, user, sys] = lines[lines.length - 1].split(" ").map(Number);
    if (Number.isFinite(kib)) rss = kib * 1024;
    if (Number.isFinite(user) && Number.isFinite(sys)) cpu = user + sys;
  }
  // What the rest of the machine did meanwhile: busy CPU time not spent by the command (the
  // kernel's writeback for it counts as background too, so a quiet machine shows ~0.1).
  const background = j0 && j1 && cpu !== null ? Math.max(0, (j1.busy - j0.busy) / HZ - cpu) / seconds : null;
  rmSync(tmp, { recursive: true, force: true });
  if (r.error) throw new Error(`Cannot run "${argv.join(" ")}": ${r.error.message}`);
  if (!(options.okCodes ?? [0]).includes(r.status ?? -1)) {
    throw new Error(`"${argv.join(" ")}" exited ${r.status}:\n${(r.stderr || "").slice(-4000)}`);
  }
  return { seconds, rss, cpu, background, stdout: r.stdout };
}

function strip(m: Measure & { stdout: string }): Measure {
  return { seconds: m.seconds, rss: m.rss, cpu: m.cpu, background: m.background };
}

/** Runs argv unmeasured; returns exit code and output. */
export function run(argv: string[], env: Record<string, string> = {}, cwd?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(argv[0], argv.slice(1), { env: { ...process.env, ...env }, cwd, encoding: "utf8", maxBuffer: 1 << 28 });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? r.error.message : "") };
}

/**
 * Waits (at most maxMs) until the rest of the machine has been quiet for a second: busy
 * below `cores` on average. Other people's jobs on a shared machine skew a side-by-side run;
 * returns the load it settled for.
 */
export function waitQuiet(maxMs: number, cores = 0.15): number {
  const until = Date.now() + maxMs;
  let load = 0;
  for (;;) {
    const a = cpuJiffies();
    Bun.sleepSync(1000);
    const b = cpuJiffies();
    if (!a || !b) return 0;
    load = (b.busy - a.busy) / HZ;
    if (load < cores || Date.now() >= until) return load;
  }
}

/** True when the page cache can be dropped (root with a writable drop_caches). */
export function canDropCaches(): boolean {
  try {
    dropCaches();
    return true;
  } catch {
    return false;
  }
}

/** Writes dirty pages and empties the page cache, so the next run reads from disk. */
export function dropCaches(): void {
  spawnSync("sync");
  writeFileSync("/proc/sys/vm/drop_caches", "3");
}

/**
 * Reads each executable once, so that it is in the page cache again after dropCaches(): the
 * data a tool works on is cold, the tool itself is warm, as on a machine that runs it
 * regularly. (efsbak's binary is the 110 MB Bun runtime; read cold, it adds ~0.2 s to every
 * command, restic's 19 MB far less; docs/performance.md gives the cold-start figure apart.)
 */
export function warmExecutables(paths: string[]): void {
  for (const p of paths) if (p && existsSync(p)) readFileSync(p);
}

/** The path of a command found on PATH, or "" when it is not there. */
export function commandPath(name: string): string {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "";
}

/** Sum of the sizes of every file under dir (apparent size, as "du -sb" without directories). */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += treeBytes(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

const HASH_BUF = new Uint8Array(8 * 1024 * 1024);

/** Digest of a tree: every regular file's relative path, size and SHA-1, in sorted order. */
export function treeDigest(dir: string): { files: number; bytes: number; digest: string } {
  const h = createHash("sha1");
  let files = 0;
  let bytes = 0;
  function walk(abs: string, rel: string): void {
    const entries = readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith(".")) continue; // corpus stamps
      const p = join(abs, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p, r);
      else if (e.isFile()) {
        const fd = openSync(p, "r");
        try {
          const size = fstatSync(fd).size;
          const fh = createHash("sha1");
          for (let pos = 0; pos < size; ) {
            const n = readSync(fd, HASH_BUF, 0, HASH_BUF.length, pos);
            if (n === 0) break;
            fh.update(HASH_BUF.subarray(0, n));
            pos += n;
          }
          h.update(`${r}\0${size}\0${fh.digest("hex")}\n`);
          files++;
          bytes += size;
        } finally {
          closeSync(fd);
        }
      }
    }
  }
  walk(dir, "");
  return { files, bytes, digest: h.digest("hex") };
}

/** One backup tool under test, with a repository of its own. */
export interface Tool {
  readonly name: string;
  /** How the repository is protected, for the table ("AES-256-GCM", "none"…). */
  readonly encryption: string;
  /** Creates a fresh, empty repository (untimed). */
  init(): void;
  /** Backs up a directory; returns the snapshot id. */
  backup(dir: string): Measure & { snapshot: string };
  /** Restores a snapshot under target; returns where the backed-up directory's content landed. */
  restore(snapshot: string, source: string, target: string): Measure & { root: string };
  /** Bytes of the repository on disk. */
  repoBytes(): number;
  /** Removes the repository (and caches). */
  remove(): void;
}

/** efsbak, the compiled binary. */
export function efsbakTool(bin: string, work: string, options: { encrypted: boolean; why: string; password: string }): Tool {
  const vault = join(work, "efsbak-vault");
  const env: Record<string, string> = options.encrypted ? { EFSBAK_PASSWORD: options.password } : {};
  // No plans directory in cwd: the CLI takes --vault as a path.
  return {
    name: "efsbak",
    encryption: options.encrypted ? "AES-256-GCM" : `none (${options.why})`,
    init() {
      rmSync(vault, { recursive: true, force: true });
      const argv = [bin, "vault", "init", vault, ...(options.encrypted ? ["--encryption", "aes-256-gcm"] : [])];
      const r = run(argv, env, work);
      if (r.code !== 0) throw new Error(`Cannot create the efsbak vault: ${r.stderr}`);
    },
    backup(dir) {
      const m = measured([bin, "backup", dir, "--vault", vault, "--json"], { env, cwd: work });
      const out = JSON.parse(m.stdout);
      return { ...strip(m), snapshot: out.recovery_point };
    },
    restore(snapshot, _source, target) {
      const m = measured([bin, "restore", snapshot, "--vault", vault, "--target", target, "--json"], { env, cwd: work });
      const out = JSON.parse(m.stdout);
      if (out.fragments?.length) throw new Error(`efsbak restore left ${out.fragments.length} fragments in lost+found`);
      return { ...strip(m), root: out.restore_dir };
    },
    repoBytes: () => treeBytes(vault),
    remove() {
      rmSync(vault, { recursive: true, force: true });
    },
  };
}

/** restic, from the system (Debian package), with its cache inside the work dir. */
export function resticTool(work: string, password: string): Tool {
  const repo = join(work, "restic-repo");
  const cache = join(work, "restic-cache");
  const env = { RESTIC_PASSWORD: password, RESTIC_CACHE_DIR: cache };
  return {
    name: "restic",
    encryption: "AES-256-CTR + Poly1305 (always on)",
    init() {
      rmSync(repo, { recursive: true, force: true });
      rmSync(cache, { recursive: true, force: true });
      const r = run(["restic", "-r", repo, "init", "-q"], env, work);
      if (r.code !== 0) throw new Error(`Cannot create the restic repository: ${r.stderr}`);
    },
    backup(dir) {
      const m = measured(["restic", "-r", repo, "backup", dir, "--json"], { env, cwd: work });
      const summary = m.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((o) => o.message_type === "summary");
      return { ...strip(m), snapshot: summary.snapshot_id };
    },
    restore(snapshot, source, target) {
      const m = measured(["restic", "-r", repo, "restore", snapshot, "--target", target], { env, cwd: work });
      return { ...strip(m), root: join(target, source) };
    },
    repoBytes: () => treeBytes(repo),
    remove() {
      rmSync(repo, { recursive: true, force: true });
      rmSync(cache, { recursive: true, force: true });
    },
  };
}

/** Version line of restic (installing it from Debian's packages when missing). */
export function ensureRestic(log: (m: string) => void): string {
  let v = run(["restic", "version"]);
  if (v.code !== 0) {
    log("restic: not found, installing it with apt-get");
    const r = run(["apt-get", "install", "-y", "restic"], { DEBIAN_FRONTEND: "noninteractive" });
    if (r.code !== 0) throw new Error(`Cannot install restic: ${r.stderr.slice(-2000)}`);
    v = run(["restic", "version"]);
  }
  if (v.code !== 0) throw new Error("Cannot run restic after installing it");
  return v.stdout.trim();
}

/** Whether this efsbak binary can make an encrypted vault (help mentions it and a trial works). */
export function efsbakEncryption(bin: string, work: string, password: string): { encrypted: boolean; why: string } {
  const help = run([bin, "vault", "init", "--help"]);
  if (!/encryption/i.test(help.stdout + help.stderr)) return { encrypted: false, why: '"vault init --help" does not mention encryption' };
  const trial = join(work, "efsbak-encryption-trial");
  rmSync(trial, { recursive: true, force: true });
  const r = run([bin, "vault", "init", trial, "--encryption", "aes-256-gcm"], { EFSBAK_PASSWORD: password }, work);
  rmSync(trial, { recursive: true, force: true });
  if (r.code !== 0) return { encrypted: false, why: `a trial "vault init --encryption aes-256-gcm" failed: ${r.stderr.trim().split("\n")[0]}` };
  return { encrypted: true, why: "" };
}
