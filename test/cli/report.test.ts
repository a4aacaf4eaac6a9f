/**
 * `efsbak report --since`: counts per resource from real job records (completed, EXPIRED,
 * failed drills), newest recovery point ages against the plan clock, and the period filter.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { parseSince, reportVault } from "../../src/cli/report.ts";
import type { JobRecord } from "../../src/vault/job-record.ts";
import { runInProcess } from "../support/cli.ts";
import { makeTree } from "../support/tree.ts";
import { fakeRecoveryPoint } from "../support/vault.ts";
import { localPlan, nightlyPlan, planWorkdir, removeWorkdir } from "../support/plans.ts";

let work: string;

const PLAN = localPlan({ "fs-home": "data/home", "fs-empty": { path: "data/empty", lines: [`tags = { never = "backed-up" }`] } }, { extra: nightlyPlan({ rule: [`start_window = "2h"`, `vault = "main"`], selection: [`name = "home"`, `resources = ["fs-home"]`] }) });

const SECOND_PLAN = `
[plan]
name = "never"

[[plan.rules]]
name = "yearly"
schedule = "cron(0 5 1 1 ? *)"
vault = "main"

[[plan.selections]]
name = "empty"
tags = { never = "backed-up" }
`;

function cli(args: string[]) {
  return runInProcess([...args, "--plans", join(work, "plans")], { cwd: work });
}

beforeAll(async () => {
  work = planWorkdir("efsbak-cli-report-", { "plan.toml": PLAN, "never.toml": SECOND_PLAN });
  makeTree(join(work, "data"), { home: { "a.txt": "alpha\n" }, empty: {} });
  // Day 1 and day 2: completed backups; day 3: missed (EXPIRED); a drill of a resource with
  // no recovery point fails.
  for (const [now, code] of [["2026-03-01T05:10:00Z", 0], ["2026-03-02T05:10:00Z", 0], ["2026-03-03T09:00:00Z", 3]] as const) {
    const r = await cli(["run", "--rule", "daily", "--now", now]);
    if (r.code !== code) throw new Error(`run at ${now}: exit ${r.code}: ${r.stdout}${r.stderr}`);
  }
  const d = await cli(["drill", "--resource", "fs-empty", "--now", "2026-03-03T09:05:00Z"]);
  expect(d.code).toBe(1);
});

afterAll(() => {
  removeWorkdir(work);
});

describe("efsbak report", () => {
  test("--since 7d counts every job per resource and ages the newest recovery point", async () => {
    const r = await cli(["report", "--since", "7d", "--json", "--now", "2026-03-03T10:00:00Z"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    // The plan clock starts at --now and moves on with real time.
    expect(out.since).toMatch(/^2026-02-24T10:00:00\.\d{3}Z$/);
    expect(out.until).toMatch(/^2026-03-03T10:00:00\.\d{3}Z$/);
    const by = Object.fromEntries(out.resources.map((x: { resource: string }) => [x.resource, x]));
    expect(Object.keys(by)).toEqual(["fs-empty", "fs-home"]);
    expect(by["fs-home"].backups).toEqual({ succeeded: 2, failed: 0, expired: 1, partial: 0, aborted: 0, running: 0 });
    expect(by["fs-home"].recovery_points).toBe(2);
    // Newest: the run at 2026-03-02T05:10:00Z, 28h50m before now.
    expect(by["fs-home"].newest_recovery_point.created_at).toMatch(/^2026-03-02T05:10:00/);
    expect(Math.abs(by["fs-home"].newest_recovery_point.age_seconds - (28 * 3600 + 50 * 60))).toBeLessThanOrEqual(2);
    expect(by["fs-home"].problems).toEqual(["1 scheduled backup expired (not started in the start window)"]);
    expect(by["fs-empty"].drills.failed).toBe(1);
    expect(by["fs-empty"].newest_recovery_point).toBeNull();
    expect(by["fs-empty"].problems).toEqual(["1 drill failed", "no AVAILABLE recovery point"]);
    expect(out.vaults[0].vault).toBe("main");
    expect(out.vaults[0].recovery_points).toBe(2);
    expect(out.vaults[0].bytes.warm).toBeGreaterThan(0);
  });

  test("--since 24h leaves older jobs out and flags a resource with no recent recovery point", async () => {
    const r = await cli(["report", "--since", "24h", "--json", "--now", "2026-03-03T10:00:00Z"]);
    const home = JSON.parse(r.stdout).resources.find((x: { resource: string }) => x.resource === "fs-home");
    expect(home.backups).toEqual({ succeeded: 0, failed: 0, expired: 1, partial: 0, aborted: 0, running: 0 });
    expect(home.problems).toContain("no recovery point since 2026-03-02 10:00:00Z (newest is 1d4h50m old)");
  });

  test("text output is a table with a problem list", async () => {
    const r = await cli(["report", "--since", "7d", "--now", "2026-03-03T10:00:00Z"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Report from 2026-02-24 10:00:00Z to 2026-03-03 10:00:00Z\n/);
    expect(r.stdout).toMatch(/\nmain +fs-home +2\/0\/1\/0 +0\/0\/0\/0 +2 +2026-03-02 05:10:00Z +1d4h50m +-\n/);
    expect(r.stdout).toContain("Problems:\n  main/fs-empty: 1 drill failed\n  main/fs-empty: no AVAILABLE recovery point\n  main/fs-home: 1 scheduled backup expired");
  });

  test("a bad --since is a usage error", async () => {
    const r = await cli(["report", "--since", "yesterday"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Cannot read --since "yesterday"');
  });
});

describe("reportVault and parseSince", () => {
  const now = new Date("2026-05-01T00:00:00Z");
  test("parseSince takes durations and ISO times", () => {
    expect(parseSince("24h", now).toISOString()).toBe("2026-04-30T00:00:00.000Z");
    expect(parseSince("1d12h", now).toISOString()).toBe("2026-04-29T12:00:00.000Z");
    expect(parseSince("2026-04-01T00:00:00Z", now).toISOString()).toBe("2026-04-01T00:00:00.000Z");
  });

  test("jobs outside the period, and of other resources, are not counted", () => {
    const job = (created: string, state: string, resource = "r", type = "backup") => ({ id: created, type, state, resource, created_at: created, ended_at: created, error: null, details: {}, recovery_point: null }) as unknown as JobRecord;
    const jobs = [job("2026-04-30T12:00:00.000Z", "PARTIAL"), job("2026-04-30T06:00:00.000Z", "FAILED"), job("2026-04-20T00:00:00.000Z", "FAILED"), job("2026-04-30T07:00:00.000Z", "COMPLETED", "s")];
    const rps = [fakeRecoveryPoint("t", { id: "p1", resource: "r", created_at: "2026-04-30T12:00:00.000Z", status: "PARTIAL" }), fakeRecoveryPoint("t", { id: "a1", resource: "r", created_at: "2026-04-29T00:00:00.000Z" })];
    const r = reportVault("v", { jobs, rps, packs: [{ tier: "warm", size: 10 }, { tier: "cold", size: 5 }], resources: [], since: new Date("2026-04-30T00:00:00Z"), now });
    const rr = r.resources.find((x) => x.resource === "r")!;
    expect(rr.backups).toEqual({ succeeded: 0, failed: 1, expired: 0, partial: 1, aborted: 0, running: 0 });
    expect(rr.newest_recovery_point).toEqual({ id: "a1", created_at: "2026-04-29T00:00:00.000Z", age_seconds: 2 * 86400 });
    expect(rr.last_backup?.state).toBe("PARTIAL");
    expect(r.resources.find((x) => x.resource === "s")!.backups.succeeded).toBe(1);
    expect(r.vault.bytes).toEqual({ warm: 10, cold: 5 });
  });
});
