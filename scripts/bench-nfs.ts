/**
 * The network file system bench (BENCH_MODE=nfs scripts/bench): the corpus served through
 * latfs, a FUSE mount that answers every request no sooner than 500 µs after it arrived (an
 * EFS-like share on a local disk; ../shared/tools/latfs), efsbak and restic side by side.
 *
 *   for each tool: mount BENCH_DIR/nfs-src on BENCH_DIR/nfs-mnt (latfs --meta-us 500
 *     --io-us 500 --stats), warmed by one untimed `find` (latfs's first lookup of an inode is
 *     slow for reasons of its own); fresh repository on the local disk (untimed); each step starts once the
 *     mount's caches expired (BENCH_NFS_COLD=1: the page cache is dropped too)
 *     backup small        mnt/data/small (20,000 files of 1–16 KiB in 100 directories)
 *     no-change small     the same again (parent found by each tool)
 *     backup large        mnt/data/large (4 × 256 MiB)
 *     restore small       into mnt/restore-TOOL (a directory of the mount's source, written
 *                         through the mount); verified against the source (paths, sizes,
 *                         SHA-1), then deleted
 *   each step: wall time, and from the mount's counters requests in flight on average
 *   (delta busy_ns / delta time) and the requests by kind
 *   unmount (also on failure and on SIGINT/SIGTERM)
 *
 * Environment: BENCH_DIR, EFSBAK_BIN, BENCH_QUICK=1 (2,000 small files, 128 MiB large),
 * LATFS_BIN (default: built from ../shared/tools/latfs into BENCH_DIR/latfs when missing),
 * BENCH_LATENCY_US (default 500), BENCH_NFS_STEPS (comma list, default all four),
 * BENCH_NFS_COLD=1 (drop the page cache, dentries and inodes before each step).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { DEFAULT_SPEC, corpusAt, ensureCorpus, type CorpusSpec } from "./bench-corpus.ts";
import { type Measure, type Tool, canDropCaches, commandPath, dropCaches, efsbakEncryption, efsbakTool, ensureRestic, resticTool, run, treeDigest, warmExecutables } from "./bench-run.ts";

const PASSWORD = "efsbak-bench-password";
const STEPS = ["small", "no-change", "large", "restore"] as const;
type Step = (typeof STEPS)[number];

/** Counters of the mount (latfs --stats): requests by kind, busy_ns, now_ns. */
type Counters = Record<string, number>;

function log(m: string): void {
  process.stderr.write(`${m}\n`);
}

function readCounters(file: string): Counters {
  const out: Counters = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** Counters as of now: the file is rewritten every 0.2 s, so wait for a fresh one. */
function countersNow(file: string): Counters {
  Bun.sleepSync(450);
  return readCounters(file);
}

/** A latfs binary: LATFS_BIN, one built before, or a fresh build. */
function latfsBinary(root: string): string {
  if (process.env.LATFS_BIN) return resolve(process.env.LATFS_BIN);
  const out = join(root, "latfs");
  if (existsSync(out)) return out;
  const build = resolve(import.meta.dir, "..", "..", "shared", "tools", "latfs", "build");
  const fallback = "/work/shared/tools/latfs/build";
  const script = existsSync(build) ? build : fallback;
  const r = run(["bash", script, out]);
  if (r.code !== 0) throw new Error(`Cannot build latfs with ${script}: ${r.stderr}`);
  return out;
}

function mounted(mnt: string): boolean {
  return readFileSync("/proc/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === mnt);
}

/** Mounts src on mnt through latfs; returns the unmount function and the daemon's pid (for its CPU time). */
function mount(bin: string, src: string, mnt: string, stats: string, us: number): { unmount: () => void; pid: number } {
  if (mounted(mnt)) spawnSync("fusermount3", ["-u", mnt]);
  mkdirSync(mnt, { recursive: true });
  rmSync(stats, { force: true }); // a stats file of an earlier mount would name the wrong daemon
  const child = spawn(bin, ["--meta-us", String(us), "--io-us", String(us), "--stats", stats, src, mnt], { stdio: ["ignore", "ignore", "inherit"], detached: false });
  const until = Date.now() + 10_000;
  while (!mounted(mnt) || !existsSync(stats) || !(readCounters(stats).pid > 0)) {
    if (Date.now() > until) throw new Error(`latfs did not mount ${mnt}`);
    Bun.sleepSync(50);
  }
  let done = false;
  const unmount = () => {
    if (done) return;
    done = true;
    const r = spawnSync("fusermount3", ["-u", mnt]);
    if (r.status !== 0) spawnSync("umount", ["-l", mnt]);
    child.kill();
  };
  // latfs may run as a daemon of its own (not the child spawned): its stats file names it.
  return { unmount, pid: readCounters(stats).pid || (child.pid ?? 0) };
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; 0 when unreadable. */
function processCpu(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

/** One step of one tool. */
interface StepResult {
  seconds: number;
  rss: number | null;
  cpu: number | null;
  /** CPU seconds the file server (the latfs daemon) used during the step: it shares the machine's cores. */
  serverCpu: number;
  /** Requests in flight on average at the mount. */
  inflight: number;
  requests: Counters;
}

function delta(a: Counters, b: Counters): Counters {
  const out: Counters = {};
  for (const k of Object.keys(b)) if (k !== "pid" && k !== "max_inflight" && k !== "inflight") out[k] = b[k] - (a[k] ?? 0);
  return out;
}

function main(): void {
  const root = resolve(process.env.BENCH_DIR || "/tmp/efsbak-bench");
  const bin = resolve(process.env.EFSBAK_BIN || join(import.meta.dir, "..", "dist", "efsbak"));
  const quick = process.env.BENCH_QUICK === "1";
  const us = Number(process.env.BENCH_LATENCY_US || 500);
  const steps = new Set((process.env.BENCH_NFS_STEPS || STEPS.join(",")).split(",").map((s) => s.trim()) as Step[]);
  const spec: CorpusSpec = quick ? { ...DEFAULT_SPEC, largeBytes: 32 * 1024 * 1024, smallFiles: 2000 } : DEFAULT_SPEC;
  const src = join(root, "nfs-src");
  const mnt = join(root, "nfs-mnt");
  const work = join(root, "nfs-work");
  const statsFile = join(root, "nfs-latfs.stats");
  mkdirSync(work, { recursive: true });
  mkdirSync(src, { recursive: true });

  const resticVersion = ensureRestic(log);
  const enc = process.env.BENCH_ENCRYPT === "0" ? { encrypted: false, why: "BENCH_ENCRYPT=0" } : efsbakEncryption(bin, work, PASSWORD);
  // Dropping the page cache here also drops the source disk's dentries and inodes, so every
  // first LOOKUP through the mount waits for the local disk too (a shared one, on this kind of
  // machine): not the share being modelled. By default each step starts after the mount's 1 s
  // caches expired (every request pays the latency) with the source warm; BENCH_NFS_COLD=1 drops.
  const dropCold = process.env.BENCH_NFS_COLD === "1" && canDropCaches();
  const cold = dropCold;
  const corpus = corpusAt(join(src, "data"), spec);
  const generated = ensureCorpus(corpus, log);
  if (generated) log(`corpus: generated in ${generated.toFixed(1)} s`);
  for (const t of ["efsbak", "restic"]) rmSync(join(src, `restore-${t}`), { recursive: true, force: true });
  const want = treeDigest(corpus.small);

  const latfs = latfsBinary(root);
  // Each tool gets a mount of its own, warmed by one untimed walk: latfs's first lookup of an
  // inode costs it far more than later ones (its own tables: the first backup through a fresh
  // mount took 8.9 s where the same backup took 4.2 s on a warmed one), which is the model's
  // cost, not the share's; and a fresh mount per tool means deleting one tool's restore
  // under the mount (in its source) cannot leave stale handles for the next.
  let unmount = () => {};
  let serverPid = 0;
  const onSignal = () => {
    unmount();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const results: Record<string, Partial<Record<Step, StepResult>>> = { efsbak: {}, restic: {} };
  try {
    const tools = [efsbakTool(bin, work, { encrypted: enc.encrypted, why: enc.why, password: PASSWORD }), resticTool(work, PASSWORD)];
    const small = join(mnt, "data", "small");
    const large = join(mnt, "data", "large");
    const measure = (tool: Tool, step: Step, f: () => Measure): void => {
      if (dropCold) {
        dropCaches();
        warmExecutables([bin, commandPath("restic")]);
      }
      Bun.sleepSync(1100); // the mount's entry and attribute caches (1 s) expire too
      const a = countersNow(statsFile);
      const cpu0 = processCpu(serverPid);
      const m = f();
      const serverCpu = processCpu(serverPid) - cpu0;
      const b = countersNow(statsFile);
      const d = delta(a, b);
      // busy_ns counts only while requests run: in flight = busy time / wall time of the command.
      const r: StepResult = { seconds: m.seconds, rss: m.rss, cpu: m.cpu ?? null, serverCpu, inflight: d.busy_ns / 1e9 / m.seconds, requests: d };
      results[tool.name][step] = r;
      log(`  ${tool.name.padEnd(6)} ${step.padEnd(10)} ${m.seconds.toFixed(2).padStart(7)} s  in flight ${r.inflight.toFixed(1)}  cpu ${r.cpu?.toFixed(2) ?? "?"} s + file server ${serverCpu.toFixed(2)} s  lookup ${d.lookup} getattr ${d.getattr} open ${d.open} create ${d.create} read ${d.read} write ${d.write}`);
    };
    for (const t of tools) {
      log(`${t.name}:`);
      ({ unmount, pid: serverPid } = mount(latfs, src, mnt, statsFile, us));
      const w0 = performance.now();
      const walked = run(["find", join(mnt, "data"), "-printf", "%s\n"]).stdout.split("\n").length - 1; // %s: an lstat of every entry
      log(`  mount warmed: ${walked} entries walked in ${((performance.now() - w0) / 1000).toFixed(1)} s (untimed)`);
      t.init();
      let snap = "";
      if (steps.has("small") || steps.has("restore")) measure(t, "small", () => {
        const b = t.backup(small);
        snap = b.snapshot;
        return b;
      });
      if (steps.has("no-change")) measure(t, "no-change", () => t.backup(small));
      if (steps.has("large")) measure(t, "large", () => t.backup(large));
      if (steps.has("restore")) {
        const target = join(mnt, `restore-${t.name}`);
        mkdirSync(target, { recursive: true });
        let restored = "";
        try {
          measure(t, "restore", () => {
            const x = t.restore(snap, small, target);
            restored = x.root;
            return x;
          });
        } catch (err) {
          // latfs has lost a restic restore before (a LOOKUP never answered, stale handles):
          // say so and keep the other figures.
          log(`  ${t.name.padEnd(6)} restore FAILED: ${String((err as Error).message).split("\n").slice(-3).join(" ")}`);
          restored = "";
        }
        if (restored) {
          // Verified on the mount's source (the same files, without the latency).
          const got = treeDigest(restored.replace(mnt, src));
          if (got.digest !== want.digest) throw new Error(`${t.name} restored the small files wrongly: ${got.files} files, ${got.bytes} bytes; expected ${want.files} files, ${want.bytes} bytes`);
          log(`  ${t.name.padEnd(6)} restore verified: ${got.files} files, ${got.bytes} bytes`);
        }
      }
      t.remove();
      unmount();
      unmount = () => {};
      rmSync(join(src, `restore-${t.name}`), { recursive: true, force: true });
    }
  } finally {
    unmount();
  }
  const version = run([bin, "--version"]).stdout.trim();
  const table = renderNfsTable(results, { files: corpus.smallFiles, largeBytes: corpus.largeBytes, us, version, resticVersion, encryption: enc.encrypted ? "AES-256-GCM" : "none", cold });
  process.stdout.write(table);
  writeFileSync(join(root, "nfs-results.md"), table);
  writeFileSync(join(root, "nfs-results.json"), JSON.stringify({ results, spec, us, version, resticVersion }, null, 2));
  log(`results: ${join(root, "nfs-results.md")} and nfs-results.json`);
}

interface TableMeta {
  files: number;
  largeBytes: number;
  us: number;
  version: string;
  resticVersion: string;
  encryption: string;
  cold: boolean;
}

/** The mount table: rate per tool, ratio, requests in flight, and the target. */
export function renderNfsTable(results: Record<string, Partial<Record<Step, StepResult>>>, meta: TableMeta): string {
  const rows: { step: Step; label: string; unit: string; amount: number; target: string }[] = [
    { step: "small", label: "backup, small files", unit: "files/s", amount: meta.files, target: "≥ 6,000 files/s, ≥ 5× restic" },
    { step: "no-change", label: "no-change re-run", unit: "files/s", amount: meta.files, target: "≥ 10,000 files/s" },
    { step: "large", label: "backup, large files", unit: "MB/s", amount: meta.largeBytes / 1e6, target: "≥ 500 MB/s" },
    { step: "restore", label: "restore onto the mount", unit: "files/s", amount: meta.files, target: "≥ 3,000 files/s, ≥ 10× restic" },
  ];
  const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1));
  const lines = [
    `Through latfs at ${meta.us} µs per request (1 s entry/attribute cache), ${meta.files.toLocaleString("en-US")} small files, ${(meta.largeBytes / 2 ** 20).toFixed(0)} MiB large; vaults on the local disk; efsbak ${meta.version} (${meta.encryption}), ${meta.resticVersion.split(" ").slice(0, 2).join(" ")}; ${meta.cold ? "page cache, dentries and inodes dropped before each step" : "source warm, mount caches expired before each step"}.`,
    "",
    "| step | efsbak | restic | efsbak / restic | in flight: efsbak | in flight: restic | target |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const e = results.efsbak?.[row.step];
    const r = results.restic?.[row.step];
    if (!e && !r) continue;
    const rate = (x?: StepResult) => (x ? row.amount / x.seconds : NaN);
    const cell = (x?: StepResult) => (x ? `${fmt(rate(x))} ${row.unit} (${x.seconds.toFixed(2)} s)` : "—");
    const ratio = e && r ? `${(rate(e) / rate(r)).toFixed(1)}×` : "—";
    lines.push(`| ${row.label} | ${cell(e)} | ${cell(r)} | ${ratio} | ${e ? e.inflight.toFixed(1) : "—"} | ${r ? r.inflight.toFixed(1) : "—"} | ${row.target} |`);
  }
  // The tools and the file server share the cores: a step whose CPU seconds (tool + server)
  // come near cores × wall time is bound by the machine, not by round trips.
  lines.push("", "CPU seconds (user + system) of the tool + the file server (latfs), and the cores they kept busy:", "", "| step | efsbak | restic |", "|---|---|---|");
  const cpuCell = (x?: StepResult) => (x && x.cpu !== null ? `${x.cpu.toFixed(1)} + ${x.serverCpu.toFixed(1)} s (${((x.cpu + x.serverCpu) / x.seconds).toFixed(1)} cores)` : "—");
  for (const row of rows) {
    const e = results.efsbak?.[row.step];
    const r = results.restic?.[row.step];
    if (e || r) lines.push(`| ${row.label} | ${cpuCell(e)} | ${cpuCell(r)} |`);
  }
  return `${lines.join("\n")}\n`;
}

if (import.meta.main) main();
