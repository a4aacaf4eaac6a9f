/**
 * Does `efsbak run` cost what its window needs, or the vault's history? A no-op run (nothing
 * due) of dist/efsbak on a vault holding 10 job records, then the same vault with 20,000
 * (finished backup jobs spread over the 89 days before, as an hourly plan leaves them within
 * the 90-day job retention). Prints the median wall time of each and the ratio.
 *
 *   bun scripts/bench-history.ts [--jobs 20000] [--runs 9]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createJob } from "../src/jobs/job.ts";
import { localStorage } from "../src/storage/local.ts";
import { openVault, readConfig } from "../src/vault/vault.ts";

const argv = process.argv.slice(2);
const opt = (name: string, d: number) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : d);
const JOBS = opt("jobs", 20_000);
const RUNS = opt("runs", 15);
const BIN = join(import.meta.dir, "../dist/efsbak");
const T0 = Date.parse("2026-06-01T10:05:00Z");

const work = mkdtempSync(join(tmpdir(), "efsbak-bench-history-"));
mkdirSync(join(work, "data/home"), { recursive: true });
for (let i = 0; i < 20; i++) writeFileSync(join(work, `data/home/f${i}.txt`), `file ${i}\n`);
mkdirSync(join(work, "plans"));
writeFileSync(join(work, "plans/p.toml"), `[vaults.main]\nurl = "./vault"\n\n[[resources]]\nid = "fs-home"\npath = "data/home"\n\n[plan]\nname = "p"\n\n[[plan.rules]]\nname = "hourly"\nschedule = "@hourly"\nstart_window = "1h"\nvault = "main"\n\n[[plan.selections]]\nname = "all"\nresources = ["fs-home"]\n`);

function efsbak(args: string[]): number {
  const t = Bun.nanoseconds();
  const r = Bun.spawnSync([BIN, ...args], { cwd: work, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`efsbak ${args.join(" ")}: exit ${r.exitCode}: ${r.stderr.toString()}`);
  return (Bun.nanoseconds() - t) / 1e6;
}

async function addJobs(n: number): Promise<void> {
  const storage = localStorage(join(work, "vault"));
  const vault = await openVault(storage, { cold: localStorage(join(work, "vault/cold")), config: (await readConfig(storage))!, keys: null });
  const span = 89 * 86_400_000;
  const queue = Array.from({ length: n }, (_, i) => i);
  async function worker() {
    for (let i = queue.pop(); i !== undefined; i = queue.pop()) {
      const at = new Date(T0 - 2 * 3600_000 - Math.floor((span * i) / n));
      const job = await createJob(vault, { type: "backup", vault: "main", plan: "p", rule: "hourly", resource: "fs-home", scheduledFor: at, state: "RUNNING" }, { now: at });
      await job.update({ state: "COMPLETED", started_at: at.toISOString(), ended_at: at.toISOString() });
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker));
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function measure(label: string): number {
  const now = new Date(T0 + 10 * 60_000).toISOString();
  efsbak(["run", "plans/", "--now", now]); // warm the page cache
  const times = Array.from({ length: RUNS }, () => efsbak(["run", "plans/", "--now", now]));
  const m = median(times);
  console.log(`${label}: median ${m.toFixed(1)} ms over ${RUNS} runs (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)})`);
  return m;
}

try {
  if (process.env.KEEP) console.log(work);
  efsbak(["run", "plans/", "--now", new Date(T0).toISOString()]); // the backup that is due, job 1
  await addJobs(9);
  const small = measure("10 job records");
  await addJobs(JOBS - 10);
  const big = measure(`${JOBS} job records`);
  console.log(`ratio ${(big / small).toFixed(2)}x`);
} finally {
  if (!process.env.KEEP) rmSync(work, { recursive: true, force: true });
}
