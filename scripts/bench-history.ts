/**
 * Does `efsbak run` cost what its window needs, or the vault's history? A no-op run (nothing
 * due) of dist/efsbak on a vault holding 10 job records and on one holding 20,000 (finished
 * backup jobs spread over the 89 days before, as an hourly plan leaves them within the 90-day
 * job retention). Runs alternate between the two vaults, so load from elsewhere on the machine
 * falls on both alike; prints the median wall and CPU time of each and the ratios.
 *
 *   bun scripts/bench-history.ts [--jobs 20000] [--runs 21]     (EFSBAK_BIN: another build)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createJob } from "../src/vault/job-record.ts";
import { localStorage } from "../src/storage/local.ts";
import { openVault, readConfig } from "../src/vault/vault.ts";

const argv = process.argv.slice(2);
const opt = (name: string, d: number) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : d);
const JOBS = opt("jobs", 20_000);
const RUNS = opt("runs", 21);
const BIN = process.env.EFSBAK_BIN ?? join(import.meta.dir, "../dist/efsbak"); // another build, to compare
const T0 = Date.parse("2026-06-01T10:05:00Z");
const PLAN = `[vaults.main]\nurl = "./vault"\n\n[[resources]]\nid = "fs-home"\npath = "data/home"\n\n[plan]\nname = "p"\n\n[[plan.rules]]\nname = "hourly"\nschedule = "@hourly"\nstart_window = "1h"\nvault = "main"\n\n[[plan.selections]]\nname = "all"\nresources = ["fs-home"]\n`;

interface Run {
  wallMs: number;
  cpuMs: number;
}

function efsbak(work: string, args: string[]): Run {
  const t = Bun.nanoseconds();
  const r = Bun.spawnSync([BIN, ...args], { cwd: work, stdout: "pipe", stderr: "pipe" });
  const wallMs = (Bun.nanoseconds() - t) / 1e6;
  if (r.exitCode !== 0) throw new Error(`efsbak ${args.join(" ")}: exit ${r.exitCode}: ${r.stderr.toString()}`);
  const cpu = r.resourceUsage?.cpuTime;
  return { wallMs, cpuMs: cpu ? (Number(cpu.user) + Number(cpu.system)) / 1000 : NaN };
}

/** A plans dir and a vault after one due backup (job 1), plus n - 1 older finished jobs. */
async function setUp(jobs: number): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), "efsbak-bench-history-"));
  mkdirSync(join(work, "data/home"), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(work, `data/home/f${i}.txt`), `file ${i}\n`);
  mkdirSync(join(work, "plans"));
  writeFileSync(join(work, "plans/p.toml"), PLAN);
  efsbak(work, ["run", "plans/", "--now", new Date(T0).toISOString()]);
  const storage = localStorage(join(work, "vault"));
  const vault = await openVault(storage, { cold: localStorage(join(work, "vault/cold")), config: (await readConfig(storage))!, keys: null });
  const span = 89 * 86_400_000;
  const n = jobs - 1;
  const queue = Array.from({ length: n }, (_, i) => i);
  async function worker() {
    for (let i = queue.pop(); i !== undefined; i = queue.pop()) {
      const at = new Date(T0 - 2 * 3600_000 - Math.floor((span * i) / n));
      const job = await createJob(vault, { type: "backup", vault: "main", plan: "p", rule: "hourly", resource: "fs-home", scheduledFor: at, state: "RUNNING" }, { now: at });
      await job.update({ state: "COMPLETED", started_at: at.toISOString(), ended_at: at.toISOString() });
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker));
  return work;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const small = await setUp(10);
const big = await setUp(JOBS);
try {
  const now = new Date(T0 + 10 * 60_000).toISOString();
  const args = ["run", "plans/", "--now", now];
  efsbak(small, args); // warm the page cache
  efsbak(big, args);
  const runs: Record<"small" | "big", Run[]> = { small: [], big: [] };
  for (let i = 0; i < RUNS; i++) {
    runs.small.push(efsbak(small, args));
    runs.big.push(efsbak(big, args));
  }
  const show = (label: string, rs: Run[]) => console.log(`${label}: wall median ${median(rs.map((r) => r.wallMs)).toFixed(1)} ms (min ${Math.min(...rs.map((r) => r.wallMs)).toFixed(1)}), CPU median ${median(rs.map((r) => r.cpuMs)).toFixed(1)} ms`);
  show("10 job records", runs.small);
  show(`${JOBS} job records`, runs.big);
  const ratio = (f: (r: Run) => number) => (median(runs.big.map(f)) / median(runs.small.map(f))).toFixed(2);
  console.log(`ratio (${JOBS} / 10): wall ${ratio((r) => r.wallMs)}x, CPU ${ratio((r) => r.cpuMs)}x; load average ${(await Bun.file("/proc/loadavg").text()).split(" ")[0]}`);
} finally {
  for (const w of [small, big]) rmSync(w, { recursive: true, force: true });
}
