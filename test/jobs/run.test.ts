/**
 * jobs/run.ts, in process on memory storage: the exit policy, EXPIRED records, the backup
 * loop's tally (started, expired, skipped, blocked by a held lease), and lifecycle skipped
 * while another job holds the vault.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBackupJob } from "../../src/jobs/backup-job.ts";
import type { Decision } from "../../src/jobs/due.ts";
import { type JobRecord, listJobs } from "../../src/vault/job-record.ts";
import { type RunLog, recordExpired, runDueBackups, runExitCode, runVaultLifecycle } from "../../src/jobs/run.ts";
import type { Plans } from "../../src/plan/plans.ts";
import { parseSchedule, type Schedule } from "../../src/plan/schedule.ts";
import { acquireResourceLease, acquireVaultLock } from "../../src/vault/lock.ts";
import { bytes, makeTree } from "../support/tree.ts";
import { reopenVault, testVault } from "../support/vault.ts";

const T0 = Date.parse("2026-11-01T05:30:00Z");
const now = () => new Date(T0);
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "efsbak-run-"));
  makeTree(join(tmp, "src"), { "a.bin": bytes(50_000, 5) });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function log(): RunLog & { lines: string[] } {
  const lines: string[] = [];
  return { lines, verbose: (m) => lines.push(`verbose ${m}`), info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

function plansFor(path: string): Plans {
  const schedule = (parseSchedule("cron(0 5 ? * * *)") as { schedule: Schedule }).schedule;
  return {
    dir: "plans",
    vaults: new Map([["v", { name: "v", url: "./v", allowShortCold: false, file: "v.toml", line: 1 }]]),
    resources: new Map([["r", { id: "r", path, tags: {}, exclude: [], excludeIfPresent: [], oneFileSystem: false, file: "v.toml", line: 3 }]]),
    plans: [{ name: "p", file: "v.toml", selections: [{ name: "all", resources: ["r"], tags: {} }], rules: [{ name: "daily", schedule, scheduleText: "cron(0 5 ? * * *)", timezone: "UTC", startWindowMs: 8 * 3600_000, completionWindowMs: 7 * 86_400_000, vault: "v", recoveryPointTags: {} }] }],
    restoreTests: [],
    notifications: [],
  };
}

const decision = (action: Decision["action"], reason = "due"): Decision => ({ action, plan: "p", rule: "daily", resource: "r", vault: "v", scheduledFor: new Date("2026-11-01T05:00:00Z"), reason });
const job = (state: JobRecord["state"]) => ({ state }) as JobRecord;

describe("runExitCode", () => {
  test.each([
    [{ failed: false, blocked: false, jobs: [] }, 0],
    [{ failed: false, blocked: false, jobs: [job("COMPLETED")] }, 0],
    [{ failed: false, blocked: false, jobs: [job("COMPLETED"), job("PARTIAL")] }, 3],
    [{ failed: false, blocked: false, jobs: [job("EXPIRED")] }, 3],
    [{ failed: false, blocked: true, jobs: [job("EXPIRED")] }, 4],
    [{ failed: true, blocked: true, jobs: [job("PARTIAL")] }, 1],
  ] as const)("%j -> %d", (tally, code) => {
    expect(runExitCode({ ...tally, jobs: [...tally.jobs] })).toBe(code);
  });
});

describe("runDueBackups", () => {
  test("skip records nothing, expire records EXPIRED with the reason, start backs up", async () => {
    const vault = await testVault({ now: now() });
    const l = log();
    const tally = await runDueBackups([decision("skip", "done already"), decision("expire", "the start window passed"), decision("start")], {
      plans: plansFor(join(tmp, "src")), vaults: new Map([["v", vault]]), now, log: l, settleMs: () => 0,
    });
    expect(tally.failed).toBe(false);
    expect(tally.blocked).toBe(false);
    expect(tally.jobs.map((j) => j.state)).toEqual(["EXPIRED", "COMPLETED"]);
    expect(tally.jobs[0].error).toBe("Not started: the start window passed");
    expect(tally.jobs[1].recovery_point).toBeTruthy();
    expect(runExitCode(tally)).toBe(3);
    expect(l.lines).toContain("verbose p/daily r: done already");
    expect((await listJobs(vault, { type: "backup" })).map((j) => j.state).sort()).toEqual(["COMPLETED", "EXPIRED"]);
  });

  test("a held resource lease: blocked, the FAILED record in the tally, exit 4", async () => {
    const vault = await testVault({ now: now() });
    const lease = await acquireResourceLease(vault, "r", { purpose: "another backup" });
    // Claims are ordered by their storage time, ties by random id, and neither side settles
    // here: a second claim in the same millisecond could sort first. In use, the settle
    // (longer than the storage clock's step) decides such ties; here the clock must move on.
    await Bun.sleep(5);
    try {
      const l = log();
      const tally = await runDueBackups([decision("start")], { plans: plansFor(join(tmp, "src")), vaults: new Map([["v", vault]]), now, log: l, settleMs: () => 0 });
      expect(tally.blocked).toBe(true);
      expect(tally.failed).toBe(false);
      expect(tally.jobs.map((j) => j.state)).toEqual(["FAILED"]);
      expect(runExitCode(tally)).toBe(4);
      expect(l.lines.some((m) => m.startsWith("error p/daily r: ") && m.includes("another backup"))).toBe(true);
    } finally {
      await lease.release();
    }
  });
});

describe("recordExpired and runVaultLifecycle", () => {
  test("recordExpired writes one EXPIRED record, ended, with the reason", async () => {
    const vault = await testVault({ now: now() });
    const rec = await recordExpired(vault, { type: "drill", vault: "v", plan: null, rule: "weekly", resource: "r", scheduledFor: new Date(T0) }, { now, reason: "missed" });
    const [stored] = await listJobs(vault, { type: "drill" });
    expect(stored.id).toBe(rec.id);
    expect(stored.state).toBe("EXPIRED");
    expect(stored.ended_at).toBe(new Date(T0).toISOString());
    expect(stored.error).toBe("Not started: missed");
  });

  test("lifecycle is skipped (not failed) while a shared lock is held, applied once it is gone, null for no vault", async () => {
    const backedUp = await testVault({ now: now() });
    const made = await runBackupJob(backedUp, { id: "r", path: join(tmp, "src") }, { vaultName: "v", now, deleteAfterMs: 86_400_000, settleMs: 0 });
    const vault = await reopenVault(backedUp);
    const later = () => new Date(T0 + 2 * 86_400_000);
    const shared = await acquireVaultLock(vault, { purpose: "a restore", exclusive: false });
    const l = log();
    expect(await runVaultLifecycle("v", async () => vault, { now: later, settleMs: 0, log: l })).toEqual({ skipped: true });
    expect(l.lines.some((m) => m.startsWith("warn v: lifecycle skipped this time"))).toBe(true);
    await shared.release();
    const applied = await runVaultLifecycle("v", async () => vault, { now: later, settleMs: 0, minPackAgeMs: 0, log: l });
    expect(applied && "result" in applied && applied.result.deleted).toEqual([made.recovery_point!]);
    expect(await runVaultLifecycle("v", async () => null, { now: later, settleMs: 0, log: l })).toBeNull();
    expect(await runVaultLifecycle("v", async () => { throw new Error("unreachable"); }, { now: later, settleMs: 0, log: l })).toEqual({ failed: true });
    expect(l.lines.at(-1)).toBe("error v: lifecycle failed: unreachable");
  });
});
