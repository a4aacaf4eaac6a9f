/**
 * `efsbak run` through the binary under a simulated clock: due backups, windows, EXPIRED
 * jobs, lifecycle, --dry-run, leases, and plan validation.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTree } from "../support/tree.ts";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { acquireResourceLease } from "../../src/vault/lock.ts";
import { localStorage } from "../../src/storage/local.ts";
import { openVault } from "../../src/vault/vault.ts";
import { localPlan, nightlyPlan, planWorkdir, removeWorkdir } from "../support/plans.ts";

let work: string;

const PLAN = localPlan({ "fs-home": { path: "data/home", lines: [`tags = { backup = "nightly" }`] }, "fs-other": "data/other" }, { vault: ["allow_short_cold = true"], extra: nightlyPlan({ rule: [`start_window = "2h"`, `vault = "main"`, `recovery_point_tags = { kind = "daily" }`, `lifecycle = { delete_after = "3d" }`], selection: [`name = "tagged"`, `tags = { backup = "nightly" }`] }) });

function vaultSnapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  function walk(p: string, rel: string) {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const abs = join(p, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(abs, r);
      else out[r] = `${statSync(abs).size}:${new Bun.CryptoHasher("sha256").update(readFileSync(abs)).digest("hex")}`;
    }
  }
  walk(dir, "");
  return out;
}

async function run(args: string[]) {
  return runBinary(args, { cwd: work });
}

beforeAll(() => {
  ensureBinary();
  work = planWorkdir("efsbak-run-", { "nightly.toml": PLAN });
  makeTree(join(work, "data"), { home: { "a.txt": "alpha\n", docs: { "b.txt": "beta\n" } }, other: { "c.txt": "gamma\n" } });
});

afterAll(() => {
  removeWorkdir(work);
});

describe("efsbak run under a simulated clock", () => {
  test("validate accepts the plans", async () => {
    const r = await run(["validate", "plans"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test("a first due run makes one recovery point, for the selected resource only", async () => {
    const r = await run(["run", "plans", "--now", "2026-03-01T05:30:00Z", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.jobs.map((j: { resource: string; state: string; scheduled_for: string }) => [j.resource, j.state, j.scheduled_for])).toEqual([
      ["fs-home", "COMPLETED", "2026-03-01T05:00:00.000Z"],
    ]);
    const rps = JSON.parse((await run(["recovery-points", "--json"])).stdout).recovery_points;
    expect(rps.length).toBe(1);
    expect(rps[0].resource).toBe("fs-home");
    expect(rps[0].tags).toEqual({ kind: "daily" });
    expect(rps[0].delete_at).toMatch(/^2026-03-04T05:30:00/);
  });

  test("a second run inside the same window starts nothing", async () => {
    const r = await run(["run", "plans", "--now", "2026-03-01T06:10:00Z", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).jobs).toEqual([]);
    expect(JSON.parse((await run(["recovery-points", "--json"])).stdout).recovery_points.length).toBe(1);
  });

  test("--dry-run explains and leaves the vault byte-for-byte unchanged", async () => {
    const before = vaultSnapshot(join(work, "vault"));
    const r = await run(["run", "plans", "--dry-run", "--now", "2026-03-02T05:10:00Z"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/START\s+nightly\/daily fs-home -> main: due since 2026-03-02T05:00:00/);
    expect(vaultSnapshot(join(work, "vault"))).toEqual(before);
  });

  test("a run after a missed window records one EXPIRED job and exits 3", async () => {
    const r = await run(["run", "plans", "--now", "2026-03-02T09:00:00Z", "--json"]);
    expect(r.code).toBe(3);
    const jobs = JSON.parse(r.stdout).jobs;
    expect(jobs.map((j: { state: string; scheduled_for: string }) => [j.state, j.scheduled_for])).toEqual([["EXPIRED", "2026-03-02T05:00:00.000Z"]]);
    const again = await run(["run", "plans", "--now", "2026-03-02T10:00:00Z", "--json"]);
    expect(again.code).toBe(0); // recorded once, not again
    expect(JSON.parse(again.stdout).jobs).toEqual([]);
    const expired = JSON.parse((await run(["jobs", "--state", "EXPIRED", "--json"])).stdout).jobs;
    expect(expired.length).toBe(1);
  });

  test("a held lease blocks the scheduled backup: recorded FAILED, exit 4", async () => {
    const storage = localStorage(join(work, "vault"));
    const lease = await acquireResourceLease(await openVault(storage, { cold: storage }), "fs-home", { purpose: "a backup elsewhere", host: "other-host", pid: 4242, isAlive: () => true });
    try {
      const r = await run(["run", "plans", "--now", "2026-03-03T05:20:00Z", "--json"]);
      expect(r.code).toBe(4);
      const [job] = JSON.parse(r.stdout).jobs;
      expect(job.state).toBe("FAILED");
      expect(job.error).toContain('host "other-host", pid 4242');
      const cli = await run(["backup", "fs-home"]);
      expect(cli.code).toBe(4);
      expect(cli.stderr).toContain("other-host");
    } finally {
      await lease.release();
    }
  });

  test("lifecycle deletes a recovery point at its delete_at", async () => {
    const r = await run(["run", "plans", "--now", "2026-03-04T06:00:00Z", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.jobs.map((j: { state: string }) => j.state)).toEqual(["COMPLETED"]);
    expect(out.lifecycle.main.deleted.length).toBe(1);
    const rps = JSON.parse((await run(["recovery-points", "--json"])).stdout).recovery_points;
    expect(rps.map((p: { created_at: string }) => p.created_at.slice(0, 10))).toEqual(["2026-03-04"]);
  });
});

describe("plan validation through the binary", () => {
  test("a directory of broken plans yields every error with its position, and run refuses to start", async () => {
    const dir = join(work, "broken");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.toml"), [
      "[vaults.main]",
      'url = "./vault"',
      "",
      "[[resources]]",
      'id = "r1"',
      'path = "/does/not/exist"',
      "",
      "[plan]",
      'name = "p"',
      "",
      "[[plan.rules]]",
      'name = "every-minute"',
      'schedule = "cron(* * ? * * *)"',
      'start_window = "30m"',
      'vault = "nope"',
      "colour = 1",
      "",
      "[[plan.selections]]",
      'name = "s"',
      'resources = ["r2"]',
      "",
    ].join("\n"));
    const r = await run(["validate", "broken"]);
    expect(r.code).toBe(2);
    const lines = r.stdout.trim().split("\n").filter((l) => /^broken\/|\.toml:/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(6);
    const text = r.stdout;
    expect(text).toMatch(/a\.toml:6:\d+: .*does not exist/);
    expect(text).toMatch(/a\.toml:13:\d+: .*(hour|often)/);
    expect(text).toMatch(/a\.toml:14:\d+: .*1h/);
    expect(text).toMatch(/a\.toml:15:\d+: .*"nope"/);
    expect(text).toMatch(/a\.toml:16:\d+: .*colour/);
    expect(text).toMatch(/a\.toml:20:\d+: .*"r2"/);
    expect(r.stderr).not.toContain("    at ");
    // A TOML syntax error is reported with its position beside the other files' problems.
    writeFileSync(join(dir, "b.toml"), "[vaults.x\nurl = 1\n");
    const withSyntax = await run(["validate", "broken", "--json"]);
    expect(withSyntax.code).toBe(2);
    const problems = JSON.parse(withSyntax.stdout).problems as { file: string; line: number; message: string }[];
    expect(problems.some((p) => p.file.endsWith("b.toml") && p.line === 1)).toBe(true);
    expect(problems.some((p) => p.file.endsWith("a.toml") && p.line === 14)).toBe(true);
    const runIt = await run(["run", "broken"]);
    expect(runIt.code).toBe(2);
    expect(runIt.stderr).toMatch(/a\.toml:14:\d+: /);
  });
});
