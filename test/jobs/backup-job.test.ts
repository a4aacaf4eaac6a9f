// A backup job looks for packs no index names (adoption) only when its lease found a claim
// that was never released: the sign of a crash. Otherwise listing every pack is skipped.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { hostname } from "node:os";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBackupJob } from "../../src/jobs/backup-job.ts";
import { acquireResourceLease } from "../../src/vault/lock.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { leasePrefix } from "../../src/vault/layout.ts";
import { openVault } from "../../src/vault/vault.ts";
import { bytes, makeTree } from "../support/tree.ts";
import { testVault } from "../support/vault.ts";

const T0 = Date.parse("2026-11-01T00:00:00Z");
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "efsbak-adopt-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A vault whose packs hold `src` but whose index names none of them (a killed first backup). */
async function orphanedVault(src: string): Promise<Storage> {
  const storage = memoryStorage();
  const v = await testVault({ storage, now: new Date(T0) });
  const first = await runBackupJob(v, { id: "r", path: src }, { vaultName: "v", now: () => new Date(T0), settleMs: 0 });
  expect(first.bytes_stored).toBeGreaterThan(300_000);
  for await (const o of storage.list("index/")) await storage.remove(o.key);
  for await (const o of storage.list("rps/")) await storage.remove(o.key);
  return storage;
}

/** Leaves a claim of a dead process of this host in the resource's lease folder. */
async function leaveDeadClaim(storage: Storage): Promise<void> {
  const lease = await acquireResourceLease(await openVault(storage, { cold: memoryStorage() }), "r", { purpose: "a killed backup", host: hostname(), pid: 4_000_000, isAlive: () => true });
  const keys: string[] = [];
  for await (const o of storage.list(leasePrefix("r"))) keys.push(o.key);
  const copy = await storage.load(keys[0]);
  await lease.release();
  await storage.save(`${leasePrefix("r")}0000dead0000dead0000dead0000dead`, copy);
}

test("no dead claim: the job does not look for unindexed packs, and stores the data again", async () => {
  const src = join(tmp, "a");
  makeTree(src, { big: bytes(400_000, 1), small: "hello" });
  const storage = await orphanedVault(src);
  const job = await runBackupJob(await openVault(storage, { cold: memoryStorage() }), { id: "r", path: src }, { vaultName: "v", now: () => new Date(T0 + 1000), settleMs: 0 });
  expect(job.state).toBe("COMPLETED");
  expect(job.warnings.some((w) => w.startsWith("Adopted"))).toBe(false);
  expect(job.bytes_stored).toBeGreaterThan(300_000);
});

test("a dead claim in the lease folder: the job adopts the packs and stores next to nothing", async () => {
  const src = join(tmp, "b");
  makeTree(src, { big: bytes(400_000, 2), small: "hello" });
  const storage = await orphanedVault(src);
  await leaveDeadClaim(storage);
  const job = await runBackupJob(await openVault(storage, { cold: memoryStorage() }), { id: "r", path: src }, { vaultName: "v", now: () => new Date(T0 + 1000), settleMs: 0 });
  expect(job.state).toBe("COMPLETED");
  expect(job.warnings.some((w) => /^Adopted \d+ packs/.test(w))).toBe(true);
  expect(job.bytes_stored).toBeLessThan(20_000); // trees and the small file's blob at most
  const keys: string[] = [];
  for await (const o of storage.list(leasePrefix("r"))) keys.push(o.key);
  expect(keys).toEqual([]); // the dead claim was tidied, and the job released its own
});

test("a job that fails before indexing its packs leaves its claim, and the next job adopts the packs", async () => {
  const src = join(tmp, "c");
  makeTree(src, { big: bytes(400_000, 3), small: "hello" });
  const inner = memoryStorage();
  await testVault({ storage: inner, now: new Date(T0) });
  let indexFails = true;
  const flaky: Storage = {
    location: inner.location,
    save: async (key, data) => {
      if (indexFails && key.startsWith("index/")) throw new Error("injected: index write failed");
      return inner.save(key, data);
    },
    load: (key, range) => inner.load(key, range),
    stat: (key) => inner.stat(key),
    list: (prefix) => inner.list(prefix),
    remove: (key) => inner.remove(key),
  };
  const failed = await runBackupJob(await openVault(flaky, { cold: memoryStorage() }), { id: "r", path: src }, { vaultName: "v", now: () => new Date(T0), settleMs: 0 }).catch((e) => e);
  expect(failed).toBeInstanceOf(Error);
  const packs: string[] = [];
  for await (const o of inner.list("packs/")) packs.push(o.key);
  expect(packs.length).toBeGreaterThan(0); // stored, but no index names them
  const claims: string[] = [];
  for await (const o of inner.list(leasePrefix("r"))) claims.push(o.key);
  expect(claims.length).toBe(1); // left behind on purpose, as a crash would

  indexFails = false;
  // A claim of this (still running) test process is not dead: pretend its holder is gone.
  const info = JSON.parse(new TextDecoder().decode(await inner.load(claims[0])));
  info.pid = 4_000_001;
  await inner.save(claims[0], new TextEncoder().encode(JSON.stringify(info)));
  const job = await runBackupJob(await openVault(inner, { cold: memoryStorage() }), { id: "r", path: src }, { vaultName: "v", now: () => new Date(T0 + 1000), settleMs: 0 });
  expect(job.state).toBe("COMPLETED");
  expect(job.warnings.some((w) => /^Adopted \d+ packs/.test(w))).toBe(true);
  expect(job.bytes_stored).toBeLessThan(20_000);
});
