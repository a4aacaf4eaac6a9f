import { describe, expect, test } from "bun:test";
import { createJob, listJobs } from "../../src/vault/job-record.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import { initVault, openVault } from "../../src/vault/vault.ts";

async function vault() {
  const storage = memoryStorage();
  const cold = memoryStorage();
  await initVault(storage, { cold, now: new Date("2026-01-01T00:00:00Z") });
  return openVault(storage, { cold });
}

describe("job records", () => {
  test("each state change is a new object; the newest is the job's state", async () => {
    const v = await vault();
    const job = await createJob(v, { type: "backup", vault: "main", resource: "fs-a", plan: "p", rule: "r", scheduledFor: new Date("2026-01-02T05:00:00Z") }, { now: new Date("2026-01-02T05:01:00Z"), host: "h", pid: 7 });
    await job.update({ state: "RUNNING", started_at: "2026-01-02T05:01:00.000Z" });
    await job.update({ state: "COMPLETED", ended_at: "2026-01-02T05:02:00.000Z", files: 3 });
    const keys: string[] = [];
    for await (const o of v.storage.list(`jobs/${job.record.id}/`)) keys.push(o.key);
    expect(keys.sort()).toEqual([0, 1, 2].map((n) => `jobs/${job.record.id}/000${n}`));
    const [listed] = await listJobs(v);
    expect(listed.state).toBe("COMPLETED");
    expect(listed.files).toBe(3);
    expect(listed.scheduled_for).toBe("2026-01-02T05:00:00.000Z");
    expect(listed.host).toBe("h");
  });

  test("newest first, with filters by state, type and resource", async () => {
    const v = await vault();
    const mk = async (t: string, type: "backup" | "restore", resource: string, state: "COMPLETED" | "FAILED") => {
      const j = await createJob(v, { type, vault: "main", resource }, { now: new Date(t) });
      await j.update({ state });
      return j.record.id;
    };
    const a = await mk("2026-01-01T01:00:00Z", "backup", "x", "COMPLETED");
    const b = await mk("2026-01-01T02:00:00Z", "restore", "x", "FAILED");
    const c = await mk("2026-01-01T03:00:00Z", "backup", "y", "FAILED");
    expect((await listJobs(v)).map((j) => j.id)).toEqual([c, b, a]);
    expect((await listJobs(v, { state: "failed" })).map((j) => j.id)).toEqual([c, b]);
    expect((await listJobs(v, { type: "backup" })).map((j) => j.id)).toEqual([c, a]);
    expect((await listJobs(v, { resource: "x" })).map((j) => j.id)).toEqual([b, a]);
    expect((await listJobs(v, { since: new Date("2026-01-01T02:00:00Z") })).map((j) => j.id)).toEqual([c, b]);
  });
});
