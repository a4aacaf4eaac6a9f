/**
 * Due marks, the time-started listing, and dead-job detection, in process on memory storage
 * with the liveness of processes and the clock injected.
 */
import { describe, expect, test } from "bun:test";
import { createJob, jobsForOccurrences, listJobEntries, listJobs } from "../../src/vault/job-record.ts";
import { acquireVaultLock } from "../../src/vault/lock.ts";
import { abortDeadJobs, deadJobs } from "../../src/vault/stale-jobs.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import type { ObjectInfo } from "../../src/storage/storage.ts";
import { testVault } from "../support/vault.ts";

const T = Date.parse("2026-05-01T10:00:00Z");
const slot = { type: "backup" as const, plan: "p", rule: "hourly", resource: "fs-a" };

describe("due marks", () => {
  test("a scheduled job is found through its mark, without listing jobs/", async () => {
    const storage = memoryStorage();
    const vault = await testVault({ storage });
    for (let h = 0; h < 50; h++) {
      const at = new Date(T - h * 3600_000);
      await createJob(vault, { ...slot, vault: "main", scheduledFor: at, state: "COMPLETED" }, { now: at });
    }
    const listed: string[] = [];
    const list = storage.list.bind(storage);
    storage.list = (prefix: string, o?: { startAfter?: string }): AsyncIterable<ObjectInfo> => (listed.push(prefix), list(prefix, o));
    const found = await jobsForOccurrences(vault, [{ ...slot, scheduledFor: new Date(T) }, { ...slot, resource: "fs-b", scheduledFor: new Date(T) }]);
    expect(found.complete).toBe(false); // fs-b has no job, so no mark
    expect(found.jobs.map((e) => e.record.scheduled_for)).toEqual([new Date(T).toISOString()]);
    expect(listed.filter((p) => p === "jobs/")).toEqual([]);
  });

  test("listJobs since a time starts the listing there (startAfter), and filters again", async () => {
    const vault = await testVault();
    for (let d = 0; d < 10; d++) await createJob(vault, { type: "check", vault: "main" }, { now: new Date(T - d * 86_400_000) });
    expect((await listJobs(vault, { since: new Date(T - 2.5 * 86_400_000) })).length).toBe(3);
    let seen = 0;
    for await (const _ of vault.storage.list("jobs/", { startAfter: `jobs/${(T - 2.5 * 86_400_000).toString(16).padStart(12, "0")}` })) seen++;
    expect(seen).toBe(3);
  });
});

describe("dead jobs", () => {
  const alive = new Set([100]);
  const isAlive = (pid: number) => alive.has(pid);

  test("on this host: a RUNNING job of a dead pid is dead, of a live pid not, a finished one never", async () => {
    const vault = await testVault();
    for (const [pid, state] of [[100, "RUNNING"], [200, "RUNNING"], [300, "COMPLETED"]] as const) {
      await createJob(vault, { type: "backup", vault: "main", resource: "fs-a", state }, { now: new Date(T), host: "here", pid });
    }
    const entries = await listJobEntries(vault);
    const dead = await deadJobs(vault, entries, { host: "here", isAlive });
    expect(dead.map((e) => e.record.pid)).toEqual([200]);
    const aborted = await abortDeadJobs(vault, entries, { host: "here", isAlive, now: new Date(T + 60_000), by: "a test" });
    expect(aborted.map((j) => [j.pid, j.state])).toEqual([[200, "ABORTED"]]);
    expect((await listJobs(vault)).map((j) => [j.pid, j.state]).sort()).toEqual([[100, "RUNNING"], [200, "ABORTED"], [300, "COMPLETED"]]);
  });

  test("on another host: alive while it holds a live lease or its record is young; dead after the TTL without one", async () => {
    const vault = await testVault();
    await createJob(vault, { type: "backup", vault: "main", resource: "fs-a", state: "RUNNING" }, { now: new Date(T), host: "there", pid: 7 });
    await createJob(vault, { type: "backup", vault: "main", resource: "fs-b", state: "RUNNING" }, { now: new Date(T), host: "there", pid: 8 });
    const entries = await listJobEntries(vault);
    const ttlMs = 600_000;
    // Young records: not judged yet.
    expect(await deadJobs(vault, entries, { host: "here", isAlive, ttlMs })).toEqual([]);
    // Records last written past the TTL ago; pid 7 on "there" holds a live (fresh) lease on the vault, pid 8 none.
    const old = entries.map((e) => ({ ...e, mtimeMs: e.mtimeMs - ttlMs - 5000 }));
    await acquireVaultLock(vault, { purpose: "a backup", exclusive: false, host: "there", pid: 7 });
    const later = await deadJobs(vault, old, { host: "here", isAlive, ttlMs });
    expect(later.map((e) => e.record.pid)).toEqual([8]);
  });
});
