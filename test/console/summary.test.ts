import { expect, test } from "bun:test";
import type { JobRecord } from "../../src/vault/job-record.ts";
import type { RecoveryPoint } from "../../src/vault/recovery-point.ts";
import { jobHistory, summarizeVault } from "../../src/console/summary.ts";

const NOW = new Date("2026-11-24T12:00:00Z");
const H = 3_600_000;

function job(id: string, hoursAgo: number, state: JobRecord["state"], patch: Partial<JobRecord> = {}): JobRecord {
  const at = new Date(NOW.getTime() - hoursAgo * H).toISOString();
  return { id, type: "backup", plan: null, rule: null, resource: "a", vault: "v", scheduled_for: null, created_at: at, started_at: at, ended_at: at, state, files: 0, bytes_read: 0, bytes_new: 0, bytes_stored: 0, warnings: [], error: null, recovery_point: null, host: "h", pid: 1, efsbak_version: "0", ...patch };
}

function rp(id: string, resource: string, hoursAgo: number): RecoveryPoint {
  return { id, resource, created_at: new Date(NOW.getTime() - hoursAgo * H).toISOString(), size_bytes: 100 } as RecoveryPoint;
}

// newest first, as listJobs returns them
const jobs = [
  job("j1", 1, "FAILED", { resource: "b", error: "Cannot read source" }),
  job("j2", 2, "COMPLETED"),
  job("j3", 30, "COMPLETED", { resource: "b" }),
  job("j4", 50, "PARTIAL", { type: "restore" }),
  job("j5", 24 * 8, "COMPLETED"),
];

test("counts jobs of the last 24 h and 7 d by state", () => {
  const s = summarizeVault(jobs, [], { now: NOW });
  expect(s.windows.map((w) => [w.label, w.total, w.byState])).toEqual([
    ["24 h", 2, { FAILED: 1, COMPLETED: 1 }],
    ["7 d", 4, { FAILED: 1, COMPLETED: 2, PARTIAL: 1 }],
  ]);
  expect(s.failures.map((f) => f.id)).toEqual(["j1", "j4"]);
});

test("lists resources with failures first, then the stalest", () => {
  const s = summarizeVault(jobs, [rp("r1", "a", 2), rp("r2", "b", 30), rp("r3", "c", 5), rp("r0", "a", 40)], { now: NOW });
  expect(s.resources.map((r) => [r.resource, r.newestRp, r.ageSeconds, r.lastState])).toEqual([
    ["b", "r2", 30 * 3600, "FAILED"],
    ["c", "r3", 5 * 3600, null],
    ["a", "r1", 2 * 3600, "COMPLETED"],
  ]);
  expect(s.logicalBytes).toBe(400);
});

test("history: hourly buckets for a young vault, outcomes per bucket, stored bytes cumulative", () => {
  const h = jobHistory([job("x2", 1, "COMPLETED", { bytes_stored: 5 }), job("x1", 3, "FAILED", { bytes_stored: 0 }), job("x0", 3, "COMPLETED", { bytes_stored: 10 })], { now: NOW });
  expect(h.bucket).toBe("hour");
  expect(h.times.length).toBe(24);
  expect(h.times.at(-1)).toBe(NOW.getTime() / 1000);
  expect(h.completed.slice(-4)).toEqual([1, 0, 1, 0]);
  expect(h.failed.slice(-4)).toEqual([1, 0, 0, 0]);
  expect(h.storedBytes.slice(-5)).toEqual([0, 10, 10, 15, 15]);
});
