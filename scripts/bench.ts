/**
 * efsbak against restic, side by side on the same data (a benchmark, not a test).
 *
 *   corpus = ensureCorpus()                      (bench-corpus.ts; generated once, reused)
 *   for each repeat (tools alternate, the first one swaps every repeat):
 *     each tool: fresh repository (untimed)
 *     step large        backup data/large                    each tool, page cache dropped
 *     step small        backup data/small
 *     step no-change    backup data/large + data/small again (parents found by each tool)
 *     mutate corpus
 *     step incremental  backup data/large + data/small
 *     step restore      restore the incremental snapshots of large and small; verified
 *                       against the source (paths, sizes, SHA-1), then deleted
 *     unmutate corpus
 *   startup: efsbak --help, median of 20 (warm)          index: bench-index.ts, 1M blobs
 *   table of medians -> stdout and BENCH_DIR/results.md, raw numbers -> BENCH_DIR/results.json
 *
 * Environment: BENCH_DIR (default /tmp/efsbak-bench), BENCH_REPEATS (default 1),
 * EFSBAK_BIN (default dist/efsbak), BENCH_QUICK=1 (a small corpus, to try the script),
 * BENCH_WAIT_IDLE=0 (do not wait up to 30 s for a quiet machine before each timed run),
 * BENCH_ENCRYPT=0 (efsbak unencrypted even when it could encrypt; restic always encrypts).
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { DEFAULT_SPEC, corpusAt, ensureCorpus, mutate, unmutate, type CorpusSpec } from "./bench-corpus.ts";
import { type Measure, type Tool, canDropCaches, commandPath, dropCaches, warmExecutables, efsbakEncryption, efsbakTool, ensureRestic, resticTool, run, treeDigest, waitQuiet } from "./bench-run.ts";
import { type Sample, renderTable } from "./bench-table.ts";

const PASSWORD = "efsbak-bench-password";
const STARTUP_RUNS = 20;

function log(m: string): void {
  process.stderr.write(`${m}\n`);
}

function main(): void {
  const root = resolve(process.env.BENCH_DIR || "/tmp/efsbak-bench");
  const repeats = Math.max(1, Number(process.env.BENCH_REPEATS || 1));
  const bin = resolve(process.env.EFSBAK_BIN || join(import.meta.dir, "..", "dist", "efsbak"));
  const quick = process.env.BENCH_QUICK === "1";
  const waitIdle = process.env.BENCH_WAIT_IDLE !== "0";
  const spec: CorpusSpec = quick ? { ...DEFAULT_SPEC, largeBytes: 128 * 1024 * 1024, smallFiles: 2000 } : DEFAULT_SPEC;
  const work = join(root, "work");
  mkdirSync(work, { recursive: true });

  const resticVersion = ensureRestic(log);
  const enc = process.env.BENCH_ENCRYPT === "0" ? { encrypted: false, why: "BENCH_ENCRYPT=0" } : efsbakEncryption(bin, work, PASSWORD);
  if (!enc.encrypted) log(`efsbak: runs unencrypted (${enc.why})`);
  const cold = canDropCaches();
  if (!cold) log("page cache: cannot drop it (not root?); every run reads from a warm cache");

  const corpus = corpusAt(join(root, "data"), spec);
  const generated = ensureCorpus(corpus, log);
  if (generated) log(`corpus: generated in ${generated.toFixed(1)} s`);
  const largeDir = corpus.large;
  const smallDir = corpus.small;

  const tools = [efsbakTool(bin, work, { encrypted: enc.encrypted, why: enc.why, password: PASSWORD }), resticTool(work, PASSWORD)];
  const samples: Record<string, Sample[]> = { efsbak: [], restic: [] };
  let mutatedDigest: { large: ReturnType<typeof treeDigest>; small: ReturnType<typeof treeDigest> } | null = null;

  function timed(tool: Tool, what: string, f: () => Measure): Measure {
    if (cold) {
      dropCaches();
      warmExecutables([bin, commandPath("restic")]);
    }
    if (waitIdle) waitQuiet(30_000);
    const m = f();
    const extra = [m.rss ? `${(m.rss / 2 ** 20).toFixed(0)} MiB` : "", m.cpu != null ? `cpu ${m.cpu.toFixed(2)} s` : "", m.background != null ? `background ${m.background.toFixed(2)} cores` : ""];
    log(`  ${tool.name.padEnd(6)} ${what.padEnd(22)} ${m.seconds.toFixed(2).padStart(7)} s  ${extra.filter(Boolean).join(", ")}`);
    return m;
  }

  for (let r = 0; r < repeats; r++) {
    const order = r % 2 === 0 ? tools : [...tools].reverse();
    log(`repeat ${r + 1}/${repeats}: ${order.map((t) => t.name).join(" then ")}`);
    const s = new Map<Tool, Sample>(tools.map((t) => [t, {} as Sample]));
    const snaps = new Map<Tool, { large: string; small: string }>();
    for (const t of order) t.init();

    for (const t of order) {
      const m = timed(t, "backup large", () => t.backup(largeDir));
      s.get(t)!.large = { ...m, repo: t.repoBytes() };
    }
    for (const t of order) {
      const before = t.repoBytes();
      const m = timed(t, "backup small", () => t.backup(smallDir));
      s.get(t)!.small = { ...m, repo: t.repoBytes() - before };
    }
    for (const t of order) {
      const a = timed(t, "no-change large", () => t.backup(largeDir));
      const b = timed(t, "no-change small", () => t.backup(smallDir));
      s.get(t)!.noChange = sum(a, b);
      s.get(t)!.repoInitial = t.repoBytes();
    }
    mutate(corpus);
    try {
      if (!mutatedDigest) mutatedDigest = { large: treeDigest(largeDir), small: treeDigest(smallDir) };
      for (const t of order) {
        const before = t.repoBytes();
        let large = "";
        let small = "";
        const a = timed(t, "incremental large", () => {
          const b = t.backup(largeDir);
          large = b.snapshot;
          return b;
        });
        const b = timed(t, "incremental small", () => {
          const x = t.backup(smallDir);
          small = x.snapshot;
          return x;
        });
        snaps.set(t, { large, small });
        s.get(t)!.incremental = { ...sum(a, b), repo: t.repoBytes() - before };
      }
      // Restores are deleted only once both tools have restored: on ext4 without a journal,
      // creating files shortly after many deletes is slowed down (the kernel skips recently
      // deleted inodes), and deleting one tool's 20,000 files right before the other's
      // restore would charge that to the other tool.
      const targets: string[] = [];
      for (const t of order) {
        for (const [key, dir] of [["large", largeDir], ["small", smallDir]] as const) {
          const target = join(work, `restore-${t.name}-${key}`);
          targets.push(target);
          rmSync(target, { recursive: true, force: true });
          mkdirSync(target, { recursive: true });
          const snap = snaps.get(t)![key];
          let root = "";
          const m = timed(t, `restore ${key}`, () => {
            const x = t.restore(snap, dir, target);
            root = x.root;
            return x;
          });
          const got = treeDigest(root);
          const want = mutatedDigest[key];
          if (got.digest !== want.digest) {
            throw new Error(`${t.name} restored ${key} wrongly: ${got.files} files, ${got.bytes} bytes; expected ${want.files} files, ${want.bytes} bytes`);
          }
          if (key === "large") s.get(t)!.restoreLarge = m;
          else s.get(t)!.restoreSmall = m;
        }
      }
      for (const target of targets) rmSync(target, { recursive: true, force: true });
    } finally {
      unmutate(corpus);
    }
    for (const t of tools) {
      samples[t.name].push(s.get(t)!);
      t.remove();
    }
  }

  log("startup: efsbak --help and restic --help, 20 runs each (warm)");
  const startup = { efsbak: startupMs([bin, "--help"]), restic: startupMs(["restic", "--help"]) };
  const idx = spawnSync(process.execPath, [join(import.meta.dir, "bench-index.ts")], { encoding: "utf8" });
  if (idx.status !== 0) throw new Error(`bench-index.ts failed: ${idx.stderr}`);
  const index = JSON.parse(idx.stdout);

  const efsbakVersion = run([bin, "--version"]).stdout.trim();
  const table = renderTable({
    samples,
    startup,
    index,
    corpus,
    repeats,
    cold,
    efsbakEncryption: tools[0].encryption,
    resticEncryption: tools[1].encryption,
    efsbakVersion,
    resticVersion,
    cpus: navigator.hardwareConcurrency,
    restored: { largeBytes: mutatedDigest!.large.bytes, smallFiles: mutatedDigest!.small.files, smallBytes: mutatedDigest!.small.bytes },
  });
  process.stdout.write(table);
  writeFileSync(join(root, "results.md"), table);
  writeFileSync(join(root, "results.json"), JSON.stringify({ samples, startup, index, repeats, cold, efsbakVersion, resticVersion, corpus: corpus.spec }, null, 2));
  log(`results: ${join(root, "results.md")} and results.json`);
}

function sum(a: Measure, b: Measure): Measure {
  return {
    seconds: a.seconds + b.seconds,
    rss: a.rss === null || b.rss === null ? null : Math.max(a.rss, b.rss),
    cpu: a.cpu == null || b.cpu == null ? null : a.cpu + b.cpu,
    background: a.background == null || b.background == null ? null : (a.background * a.seconds + b.background * b.seconds) / (a.seconds + b.seconds),
  };
}

/** Median wall time in ms of a command (one warm-up run first). */
function startupMs(argv: string[]): number {
  spawnSync(argv[0], argv.slice(1));
  const times: number[] = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    const t0 = Bun.nanoseconds();
    const r = spawnSync(argv[0], argv.slice(1));
    times.push((Bun.nanoseconds() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`"${argv.join(" ")}" exited ${r.status}`);
  }
  times.sort((a, b) => a - b);
  const m = times.length >> 1;
  return times.length % 2 ? times[m] : (times[m - 1] + times[m]) / 2;
}

main();
