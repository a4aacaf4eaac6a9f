/**
 * `efsbak drill` and the `[[restore_tests]]` that `efsbak run` does, in process, on a local
 * vault: verified counts, job records, a corrupted pack, due / skipped / EXPIRED drills.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runInProcess } from "../support/cli.ts";
import { bytes, makeTree, symlink } from "../support/tree.ts";
import { localPlan, nightlyPlan, planWorkdir, removeWorkdir } from "../support/plans.ts";

let work: string;

const PLAN = localPlan({ "fs-home": { path: "data/home", lines: [`tags = { drill = "yes" }`] }, "fs-other": "data/other" }, { extra: `${nightlyPlan({ rule: [`start_window = "2h"`, `vault = "main"`], selection: [`name = "all"`, `resources = ["fs-home", "fs-other"]`] })}
[[restore_tests]]
name = "morning-drill"
schedule = "cron(0 6 ? * * *)"
start_window = "2h"
tags = { drill = "yes" }
algorithm = "latest"
` });

// --plans as an absolute path: in process, a relative one would be read from the process's
// working directory, not the CLI's.
function cli(args: string[]) {
  return runInProcess([...args, "--plans", join(work, "plans")], { cwd: work });
}

function packFiles(dir: string): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) {
      const p = join(e.parentPath, e.name);
      out.push({ path: p, size: statSync(p).size });
    }
  }
  return out.sort((a, b) => b.size - a.size);
}

beforeAll(async () => {
  work = planWorkdir("efsbak-cli-drill-", { "plan.toml": PLAN });
  makeTree(join(work, "data"), {
    home: { "a.txt": "alpha\n", docs: { "b.txt": "beta\n", "big.bin": bytes(2_500_000, 11) }, link: symlink("a.txt"), empty: {} },
    other: { "c.txt": "gamma\n" },
  });
  // Backups only (--rule filters out the restore tests, which --dry-run shows below).
  const r = await cli(["run", "--rule", "daily", "--now", "2026-03-01T05:10:00Z"]);
  if (r.code !== 0) throw new Error(`run failed: ${r.stdout}${r.stderr}`);
});

afterAll(() => {
  removeWorkdir(work);
});

describe("efsbak drill", () => {
  test("verifies every file of the latest recovery point of each resource and records the jobs", async () => {
    const scratch = join(work, "scratch");
    const r = await cli(["drill", "--json", "--scratch", scratch]);
    expect(r.code).toBe(0);
    const jobs = JSON.parse(r.stdout).jobs;
    expect(jobs.map((j: { resource: string; type: string; state: string; plan: null }) => [j.resource, j.type, j.state, j.plan])).toEqual([
      ["fs-home", "drill", "COMPLETED", null],
      ["fs-other", "drill", "COMPLETED", null],
    ]);
    const home = jobs[0].details;
    expect([home.files_verified, home.dirs_verified, home.symlinks_verified, home.bytes_verified]).toEqual([3, 2, 1, 6 + 5 + 2_500_000]);
    expect(home.mismatches).toEqual([]);
    expect(typeof home.time_to_restore_ms).toBe("number");
    const rps = JSON.parse((await cli(["recovery-points", "--json", "--resource", "fs-home"])).stdout).recovery_points;
    expect(jobs[0].recovery_point).toBe(rps.at(-1).id);
    expect(readdirSync(scratch)).toEqual([]);
    const listed = JSON.parse((await cli(["jobs", "--type", "drill", "--json"])).stdout).jobs;
    expect(listed.length).toBe(2);
  });

  test("text output says what was verified", async () => {
    const r = await cli(["drill", "--resource", "fs-home"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^COMPLETED +drill fs-home: recovery point [0-9a-f]{32} \(.*\) restored in .*, 3 files \(2\.38 MiB\), 2 directories, 1 symlinks verified in /);
  });

  test("a resource without recovery points is a failed drill, exit 1", async () => {
    const r = await cli(["drill", "--resource", "nobody", "--json"]);
    expect(r.code).toBe(1);
    const [job] = JSON.parse(r.stdout).jobs;
    expect(job.state).toBe("FAILED");
    expect(job.error).toContain('"nobody"');
  });

  test("a bad --algorithm is a usage error, exit 2", async () => {
    const r = await cli(["drill", "--algorithm", "oldest"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Cannot use --algorithm "oldest"');
  });
});

describe("restore tests in efsbak run", () => {
  test("--dry-run lists the drill that is due", async () => {
    const r = await cli(["run", "--dry-run", "--now", "2026-03-01T06:30:00Z"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/START +drill morning-drill fs-home -> main: due since 2026-03-01T06:00:00\.000Z/);
    expect(r.stdout).not.toContain("fs-other -> main: due since 2026-03-01T06");
  });

  test("a due restore test drills the selected resource once per occurrence", async () => {
    const r = await cli(["run", "--json", "--now", "2026-03-01T06:30:00Z"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const drills = out.jobs.filter((j: { type: string }) => j.type === "drill");
    expect(drills.map((j: { rule: string; resource: string; state: string; scheduled_for: string }) => [j.rule, j.resource, j.state, j.scheduled_for])).toEqual([
      ["morning-drill", "fs-home", "COMPLETED", "2026-03-01T06:00:00.000Z"],
    ]);
    expect(drills[0].details.files_verified).toBe(3);
    expect(out.restore_tests.map((d: { action: string }) => d.action)).toEqual(["start"]);
    const again = await cli(["run", "--json", "--now", "2026-03-01T07:00:00Z"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).jobs).toEqual([]);
    expect(JSON.parse(again.stdout).restore_tests[0].action).toBe("skip");
  });

  test("a missed restore test is recorded EXPIRED once, exit 3", async () => {
    // 2026-03-02: the backup window (05:00-07:00) and the drill window (06:00-08:00) both passed.
    const r = await cli(["run", "--json", "--now", "2026-03-02T09:00:00Z"]);
    expect(r.code).toBe(3);
    const jobs = JSON.parse(r.stdout).jobs;
    const drill = jobs.filter((j: { type: string }) => j.type === "drill");
    expect(drill.map((j: { state: string; scheduled_for: string; rule: string }) => [j.state, j.scheduled_for, j.rule])).toEqual([["EXPIRED", "2026-03-02T06:00:00.000Z", "morning-drill"]]);
    const again = await cli(["run", "--json", "--now", "2026-03-02T10:00:00Z"]);
    expect(JSON.parse(again.stdout).jobs).toEqual([]);
  });

  test("a drill that finds damage fails the run, exit 1, naming the file", async () => {
    // The biggest pack holds big.bin's chunks: flip a byte in its middle.
    const [pack] = packFiles(join(work, "vault/packs"));
    const data = readFileSync(pack.path);
    data[Math.floor(data.length / 2)] ^= 0xff;
    writeFileSync(pack.path, data);
    const r = await cli(["run", "--now", "2026-03-03T06:10:00Z"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED +drill morning-drill fs-home: .*\n {2}mismatch: docs\/big\.bin: not restored in place: missing or corrupt data/);
    const failed = JSON.parse((await cli(["jobs", "--state", "FAILED", "--type", "drill", "--resource", "fs-home", "--json"])).stdout).jobs;
    expect(failed.length).toBe(1);
    expect(failed[0].error).toContain('"docs/big.bin"');
    expect(failed[0].details.mismatches.map((m: { path: string }) => m.path)).toEqual(["docs/big.bin"]);
  });
});
