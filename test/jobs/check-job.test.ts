/**
 * jobs/check-job.ts: the check job's record (COMPLETED, FAILED with damage), and a vault this
 * process cannot write (no lock, no job, the warning said), in process on memory storage.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBackupJob } from "../../src/jobs/backup-job.ts";
import { runCheckJob } from "../../src/jobs/check-job.ts";
import { listJobs } from "../../src/vault/job-record.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import { StorageError, type Storage } from "../../src/storage/storage.ts";
import { openVault } from "../../src/vault/vault.ts";
import { bytes, makeTree } from "../support/tree.ts";
import { testVault } from "../support/vault.ts";

const T0 = Date.parse("2026-11-01T00:00:00Z");
const now = () => new Date(T0);
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "efsbak-check-job-"));
  makeTree(join(tmp, "src"), { "a.bin": bytes(200_000, 3), "b.txt": "b\n" });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function backedUp(): Promise<Storage> {
  const storage = memoryStorage();
  const vault = await testVault({ storage, now: now() });
  await runBackupJob(vault, { id: "r", path: join(tmp, "src") }, { vaultName: "v", now, settleMs: 0 });
  return storage;
}

describe("runCheckJob", () => {
  test("a sound vault: COMPLETED, with the counts in the record", async () => {
    const storage = await backedUp();
    const vault = await openVault(storage, { cold: memoryStorage() });
    const { report, job } = await runCheckJob(vault, { vaultName: "v", readData: { share: 1 }, now, settleMs: 0, onReadOnly: () => { throw new Error("not read-only"); } });
    expect(report.problems).toEqual([]);
    expect(report.packsRead).toBeGreaterThan(0);
    const [recorded] = await listJobs(vault, { type: "check" });
    expect(recorded.id).toBe(job!.record.id);
    expect(recorded.state).toBe("COMPLETED");
    expect(recorded.error).toBeNull();
    expect((recorded.details as { packs_read: number }).packs_read).toBe(report.packsRead);
    // The shared lock is released: nothing is left under locks/ but what lease tidying keeps.
    const locks: string[] = [];
    for await (const o of storage.list("locks/")) if (!o.key.endsWith(".alive")) locks.push(o.key);
    expect(locks).toEqual([]);
  });

  test("a missing pack: FAILED, naming how many problems", async () => {
    const storage = await backedUp();
    for await (const o of storage.list("packs/")) {
      await storage.remove(o.key);
      break;
    }
    const vault = await openVault(storage, { cold: memoryStorage() });
    const { report } = await runCheckJob(vault, { vaultName: "v", readData: false, now, settleMs: 0, onReadOnly: () => {} });
    expect(report.problems.length).toBeGreaterThan(0);
    const [recorded] = await listJobs(vault, { type: "check" });
    expect(recorded.state).toBe("FAILED");
    expect(recorded.error).toBe(`${report.problems.length} problems found`);
  });

  test("a vault this process may only read: checked, no lock, no job, one warning", async () => {
    const storage = await backedUp();
    const readOnly: Storage = Object.create(storage);
    readOnly.save = async (key: string) => {
      throw new StorageError(`Cannot save "${key}": access denied`, { permanent: true, key, denied: "AccessDenied" });
    };
    const vault = await openVault(readOnly, { cold: memoryStorage() });
    const warnings: string[] = [];
    const { report, job } = await runCheckJob(vault, { vaultName: "v", readData: false, now, settleMs: 0, onWarning: (m) => warnings.push(m), onReadOnly: () => warnings.push("job") });
    expect(report.problems).toEqual([]);
    expect(job).toBeNull();
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toContain("going on without a lock");
    expect(await listJobs(vault, { type: "check" })).toEqual([]);
  });
});
