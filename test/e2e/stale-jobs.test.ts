/**
 * Jobs and history through dist/efsbak (issue 17): a backup killed with -9 leaves a RUNNING
 * job that the next job finding it (prune, a backup of the same resource) marks ABORTED, and
 * temp files that check reports and prune removes once older than the pack safety age; job
 * records have a retention applied by prune; run finds the jobs of its window through due
 * marks, and still finds those of a vault written before due marks existed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary, runBinary, runInProcess } from "../support/cli.ts";
import { makeTree } from "../support/tree.ts";
import { createJob, listJobs } from "../../src/vault/job-record.ts";
import { localStorage } from "../../src/storage/local.ts";
import { openVault, readConfig, type Vault } from "../../src/vault/vault.ts";

let work: string;

function run(args: string[], env: Record<string, string> = {}) {
  return runBinary(args, { cwd: work, env });
}

async function openLocalVault(dir: string): Promise<Vault> {
  const storage = localStorage(dir);
  return openVault(storage, { cold: localStorage(join(dir, "cold")), config: (await readConfig(storage))!, keys: null });
}

/** Temp files (name, size) anywhere under dir. */
function tempFiles(dir: string): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tempFiles(p));
    else if (e.name.startsWith(".tmp-")) {
      try {
        out.push({ path: p, size: statSync(p).size });
      } catch {
        // renamed meanwhile
      }
    }
  }
  return out;
}

/** Starts a backup of data/big and kills it with -9 while a pack is half written. */
async function killBackupMidPack(vault: string): Promise<void> {
  const proc = Bun.spawn([ensureBinary(), "backup", "data/big", "--vault", vault], { cwd: work, stdout: "ignore", stderr: "ignore" });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !tempFiles(join(work, vault, "packs")).some((t) => t.size > 1 << 20)) await Bun.sleep(5);
  proc.kill(9);
  await proc.exited;
  // The binary runs its work in a child (cli/io-threads.ts) that dies with it, a few
  // milliseconds later: wait until what it left stops changing.
  const sizes = () => JSON.stringify(tempFiles(join(work, vault, "packs")).map((t) => t.size));
  for (let last = sizes(), i = 0; i < 50; i++) {
    await Bun.sleep(50);
    const now = sizes();
    if (now === last) break;
    last = now;
  }
}

beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-stale-"));
  mkdirSync(join(work, "data/big"), { recursive: true });
  const b = new Uint8Array(48 * 1024 * 1024);
  for (let i = 0; i < 4; i++) {
    for (let o = 0; o < b.length; o += 65536) randomFillSync(b, o, 65536);
    writeFileSync(join(work, `data/big/part-${i}.bin`), b);
  }
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("a backup killed with -9", () => {
  test("prune marks its job ABORTED; check reports the temp files, prune removes them past the safety age", async () => {
    await killBackupMidPack("./v1");
    const left = tempFiles(join(work, "v1"));
    expect(left.length).toBeGreaterThan(0);
    const before = JSON.parse((await run(["jobs", "--vault", "./v1", "--json"])).stdout).jobs;
    expect(before.map((j: { state: string }) => j.state)).toEqual(["RUNNING"]);

    const checked = await run(["check", "--vault", "./v1", "--json"]);
    expect(checked.code).toBe(0);
    const report = JSON.parse(checked.stdout);
    expect(report.leftovers.length).toBe(left.length);
    expect(report.leftovers.reduce((n: number, l: { size: number }) => n + l.size, 0)).toBe(left.reduce((n, l) => n + l.size, 0));

    // Younger than the pack safety age (1h): kept, a save may still be writing them.
    const young = await run(["prune", "--vault", "./v1", "--json"]);
    expect(young.code).toBe(0);
    const pruned = JSON.parse(young.stdout);
    expect(pruned.housekeeping.jobs_aborted).toEqual([before[0].id]);
    expect(pruned.housekeeping.leftovers_kept).toBe(left.length);
    expect(tempFiles(join(work, "v1")).length).toBe(left.length);
    const after = JSON.parse((await run(["jobs", "--vault", "./v1", "--json", "--type", "backup"])).stdout).jobs;
    expect(after.map((j: { state: string }) => j.state)).toEqual(["ABORTED"]);
    expect(after[0].error).toContain("ended without finishing");

    // Two hours later (storage time): past the safety age, they go.
    const past = new Date(Date.now() - 2 * 3600_000);
    for (const t of left) utimesSync(t.path, past, past);
    const old = await run(["prune", "--vault", "./v1", "--json"]);
    expect(old.code).toBe(0);
    expect(JSON.parse(old.stdout).housekeeping.leftovers_deleted.length).toBe(left.length);
    expect(tempFiles(join(work, "v1"))).toEqual([]);
    expect(JSON.parse((await run(["check", "--vault", "./v1", "--json"])).stdout).leftovers).toEqual([]);
  }, 120_000);

  test("the next backup of the resource marks it ABORTED", async () => {
    await killBackupMidPack("./v2");
    const r = await run(["backup", "data/big", "--vault", "./v2", "--json"]);
    expect(r.code).toBe(0);
    const jobs = JSON.parse((await run(["jobs", "--vault", "./v2", "--json"])).stdout).jobs;
    expect(jobs.map((j: { state: string }) => j.state)).toEqual(["COMPLETED", "ABORTED"]);
    expect(r.stderr).toContain("marked ABORTED");
  }, 120_000);
});

describe("job history", () => {
  const PLAN = (extra: string) => `[vaults.main]\nurl = "./v3"\n${extra}\n[[resources]]\nid = "small"\npath = "data/small"\n\n[plan]\nname = "p"\n\n[[plan.rules]]\nname = "hourly"\nschedule = "@hourly"\nstart_window = "1h"\nvault = "main"\n\n[[plan.selections]]\nname = "all"\nresources = ["small"]\n`;

  test("run finds the job of its occurrence without its due mark (a vault from before due marks)", async () => {
    makeTree(join(work, "data/small"), { "a.txt": "a\n" });
    mkdirSync(join(work, "plans"), { recursive: true });
    writeFileSync(join(work, "plans/p.toml"), PLAN(""));
    const first = await run(["run", "--json", "--now", "2026-03-01T04:10:00Z"]);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout).jobs.length).toBe(1);
    expect(readdirSync(join(work, "v3/due")).length).toBe(1);
    rmSync(join(work, "v3/due"), { recursive: true });
    const again = await run(["run", "--json", "--now", "2026-03-01T04:30:00Z"]);
    expect(again.code).toBe(0);
    const doc = JSON.parse(again.stdout);
    expect(doc.jobs).toEqual([]);
    expect(doc.decisions[0].reason).toContain("already handled");
  });

  test("prune removes finished job records older than job_retention (default 90d), and their due marks", async () => {
    const vault = await openLocalVault(join(work, "v3"));
    const day = 86_400_000;
    const now = Date.parse("2026-03-01T05:00:00Z");
    for (const ageDays of [120, 95, 40, 10]) {
      const at = new Date(now - ageDays * day);
      const job = await createJob(vault, { type: "backup", vault: "main", plan: "p", rule: "hourly", resource: "small", scheduledFor: at, state: "RUNNING" }, { now: at });
      await job.update({ state: "COMPLETED", started_at: at.toISOString(), ended_at: at.toISOString() });
    }
    const ages = async () => (await listJobs(vault, { type: "backup" })).map((j) => Math.round((now - Date.parse(j.created_at)) / day));
    expect(await ages()).toEqual([0, 10, 40, 95, 120]);
    const r = await runInProcess(["prune", "--json", "--now", new Date(now).toISOString()], { cwd: work });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).housekeeping.jobs_deleted).toBe(2);
    expect(await ages()).toEqual([0, 10, 40]);
    // Emptied job folders go too, so listings do not wade through them.
    expect(readdirSync(join(work, "v3/jobs")).length).toBe((await listJobs(vault)).length);

    writeFileSync(join(work, "plans/p.toml"), PLAN('job_retention = "30d"'));
    const shorter = await runInProcess(["prune", "--json", "--now", new Date(now).toISOString()], { cwd: work });
    expect(shorter.code).toBe(0);
    expect(await ages()).toEqual([0, 10]);
    const marks = readdirSync(join(work, "v3/due")).flatMap((d) => readdirSync(join(work, "v3/due", d)));
    expect(marks.every((m) => Number.parseInt(m, 16) >= now - 30 * day)).toBe(true);
  });
});
