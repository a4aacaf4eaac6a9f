/**
 * Storage faults (issue #10): backup, restore, prune and check run in process on storage that
 * fails, throttles and stalls, wrapped in withRetry as the product wraps S3.
 *
 *   memory / local storage  <- faulty() (seeded)  <- withRetry  <- vault
 *   S3: s3rver <- loopback proxy answering 503 SlowDown / 500 / late / never <- s3Storage <- withRetry
 *
 * Sustained: about 5% of calls of every kind fail (transient), about 5% are delayed, bursts of
 * consecutive failures hit pack uploads, 1% of loads are slow. Every operation completes and
 * every recovery point restores exactly.
 * Harsh: up to 50% of calls fail and listings break off midway, with fewer retries. Every
 * operation either completes or fails with a clear "Cannot …" StorageError/EfsbakError; after
 * each, with the faults gone, check finds nothing wrong and every recovery point that prune was
 * not allowed to delete restores exactly. Nothing stored is lost.
 */
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { check } from "../../src/check/check.ts";
import { EfsbakError } from "../../src/errors.ts";
import { applyLifecycle } from "../../src/prune/lifecycle.ts";
import { restore } from "../../src/restore/restore.ts";
import { localStorage } from "../../src/storage/local.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import { withRetry } from "../../src/storage/retry.ts";
import { s3Storage } from "../../src/storage/s3.ts";
import { type Storage, StorageError } from "../../src/storage/storage.ts";
import { type RecoveryPoint, listRecoveryPoints } from "../../src/vault/recovery-point.ts";
import { type Vault, openVault } from "../../src/vault/vault.ts";
import { type FaultOp, type FaultyStorage, faulty } from "../storage/faulty.ts";
import { type Snapshot, bytes, makeTree, snapshotTree } from "../support/tree.ts";
import { testVault } from "../support/vault.ts";
import { S3RVER_CREDENTIALS, type S3Proxy, type S3Server, startS3Proxy, startS3Server } from "../support/s3-server.ts";
import { SEED, SOAK, record, runBinaryMeasured, setting } from "../support/soak.ts";
import { between, rng } from "../support/random.ts";

const ROUNDS = setting("FAULT_ROUNDS", 4, 12);
const RATE = setting("FAULT_RATE", 0.05, 0.05);
const HARSH_TRIALS = setting("FAULT_HARSH_TRIALS", 16, 120);
const S3_ROUNDS = setting("FAULT_S3_ROUNDS", 4, 8);
const OPS: FaultOp[] = ["save", "load", "stat", "list", "remove"];
const DAY = 86_400_000;
const T0 = Date.parse("2026-03-01T05:00:00Z");
const TIMEOUT = SOAK ? 3_600_000 : 120_000;

let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-faults-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** A source tree of a few MB: many small chunks (test vaults cut at ~4 KiB), links, empties. */
function makeSource(root: string, seed: number, files = 40): void {
  const random = rng(seed);
  const spec: Record<string, unknown> = { empty: "", sub: { deeper: { "leaf.txt": "leaf\n" } } };
  for (let i = 0; i < files; i++) spec[`f${i}.bin`] = bytes(between(random, 5_000, 100_000), seed * 100 + i);
  const small: Record<string, string> = {};
  for (let i = 0; i < 100; i++) small[`s${i}.txt`] = `small ${i}\n`.repeat(1 + (i % 9));
  spec.small = small;
  makeTree(root, spec as Parameters<typeof makeTree>[1]);
}

/** Rewrites a few files and adds one, so each recovery point differs and data dies. */
function churn(root: string, seed: number): void {
  const random = rng(seed);
  for (let k = 0; k < 4; k++) writeFileSync(join(root, `f${between(random, 0, 39)}.bin`), bytes(between(random, 5_000, 100_000), seed * 1000 + k));
  writeFileSync(join(root, `small/new-${seed}.txt`), `round ${seed}\n`);
  rmSync(join(root, `small/s${between(random, 0, 99)}.txt`), { force: true });
}

/** A vault on faulty storage; `inner` and `coldInner` are the storage without faults. */
interface Rig {
  inner: Storage;
  coldInner: Storage;
  warm: FaultyStorage;
  cold: FaultyStorage;
  vault: Vault;
  retries: number;
  attempts: number;
  /** Opens the vault again through the faulty storage (what the next command would see). */
  reopen(): Promise<Vault>;
}

async function makeRig(kind: "memory" | "local", seed: number): Promise<Rig> {
  const inner = kind === "memory" ? memoryStorage() : localStorage(join(tmp, "vault"));
  const coldInner = kind === "memory" ? memoryStorage({ location: "memory:cold" }) : localStorage(join(tmp, "vault-cold"));
  const sleep = (ms: number) => Bun.sleep(ms);
  const warm = faulty(inner, { seed, sleep });
  const cold = faulty(coldInner, { seed: seed + 1, sleep });
  const random = rng(seed + 2);
  const rig = { inner, coldInner, warm, cold, retries: 0, attempts: 6 } as Rig;
  const storage = retryWith(warm, rig, random);
  const coldStorage = retryWith(cold, rig, random);
  rig.vault = await testVault({ storage, cold: coldStorage, now: new Date(T0) });
  rig.reopen = () => openVault(storage, { cold: coldStorage });
  return rig;
}

/** withRetry whose attempt count follows rig.attempts (harsh trials lower it). */
function retryWith(s: Storage, rig: Rig, random: () => number): Storage {
  const wrapped = new Map<number, Storage>();
  const current = () => {
    let w = wrapped.get(rig.attempts);
    if (!w) wrapped.set(rig.attempts, (w = withRetry(s, { attempts: rig.attempts, baseMs: 1, maxMs: 8, random, onRetry: () => rig.retries++ })));
    return w;
  };
  return {
    location: s.location,
    save: (k, d) => current().save(k, d),
    load: (k, r) => current().load(k, r),
    stat: (k) => current().stat(k),
    list: (p) => current().list(p),
    remove: (k) => current().remove(k),
  };
}

/** Sustained faults: `rate` of every call fails, `rate` is delayed, bursts on pack uploads, slow loads. */
function sustained(f: FaultyStorage, rate: number): void {
  for (const op of OPS) {
    f.on(op, { rate, error: "transient" });
    f.on(op, { rate, delayMs: 2 });
  }
  f.on("save", { key: /^packs\//, nth: 1, times: 3, error: "transient" }); // a burst: throttled thrice in a row
  f.on("load", { rate: 0.01, delayMs: 25 }); // slow responses
}

/** Harsh faults: many failures, listings that break off after the first item. */
function harsh(f: FaultyStorage, rate: number): void {
  for (const op of OPS) f.on(op, { rate, error: "transient" });
  f.on("list", { rate: rate / 2, error: "transient", afterItems: 1 });
  f.on("load", { rate: 0.02, delayMs: 5 });
}

function faultCount(r: Rig): number {
  return OPS.reduce((n, op) => n + r.warm.hits[op] + r.cold.hits[op], 0);
}

function callCount(r: Rig): number {
  return OPS.reduce((n, op) => n + r.warm.calls[op] + r.cold.calls[op], 0);
}

function onlyRestoreDir(target: string): string {
  const names = readdirSync(target).filter((n) => n.startsWith("efsbak-restore_"));
  expect(names).toHaveLength(1);
  return join(target, names[0]);
}

let restores = 0;
async function expectExactRestore(vault: Vault, rp: RecoveryPoint, snapshot: Snapshot): Promise<void> {
  const target = join(tmp, `restore-${restores++}`);
  const r = await restore(vault, rp, target, { now: new Date(T0) });
  expect(r.fragments).toEqual([]);
  expect(snapshotTree(onlyRestoreDir(target))).toEqual(snapshot);
  rmSync(target, { recursive: true, force: true });
}

/** A failure must be a StorageError or EfsbakError with a "Cannot …" message, never a stray exception. */
function expectClearFailure(err: unknown): string {
  const ok = err instanceof StorageError || err instanceof EfsbakError;
  if (!ok) throw new Error(`unclear failure: ${(err as Error)?.name}: ${(err as Error)?.message}\n${(err as Error)?.stack}`);
  const message = (err as Error).message;
  expect(message).toMatch(/^Cannot /);
  expect(message).not.toMatch(/undefined|\[object /);
  return message;
}

const totals: Record<string, { calls: number; faults: number; retries: number; ops: Record<string, number> }> = {};
afterAll(() => record("faults", { sustained_rate: RATE, rounds: ROUNDS, harsh_trials: HARSH_TRIALS, s3_rounds: S3_ROUNDS, totals, data_lost: 0 }));

for (const kind of ["memory", "local"] as const) {
  describe(`storage faults on ${kind} storage`, () => {
    test(`sustained ${RATE * 100}% transient failures and delays: ${ROUNDS} backups, every restore, prune and check complete; nothing is lost`, async () => {
      const src = join(tmp, "src");
      makeSource(src, SEED);
      const rig = await makeRig(kind, SEED);
      sustained(rig.warm, RATE);
      sustained(rig.cold, RATE);
      const made: { rp: RecoveryPoint; snapshot: Snapshot }[] = [];
      let parent: RecoveryPoint | null = null;
      for (let r = 0; r < ROUNDS; r++) {
        if (r > 0) churn(src, SEED + r);
        const snapshot = snapshotTree(src);
        const out = await backup(rig.vault, src, { resource: "res", now: new Date(T0 + r * DAY), jobId: `job-${r}`, parent, deleteAfterMs: r % 2 === 0 ? 2 * DAY : undefined });
        expect(out.rp.status).toBe("AVAILABLE");
        parent = out.rp;
        made.push({ rp: out.rp, snapshot });
      }
      for (const m of made) await expectExactRestore(rig.vault, m.rp, m.snapshot);

      // Prune under the same faults: the even rounds expire, their data goes, the rest stays.
      const pruned = await applyLifecycle(await rig.reopen(), { vaultName: "v", now: () => new Date(T0 + (ROUNDS + 5) * DAY), minPackAgeMs: 0, alwaysGc: true, settleMs: 0 });
      const expired = made.filter((_, r) => r % 2 === 0).map((m) => m.rp.id).sort();
      expect(pruned.deleted.slice().sort()).toEqual(expired);
      expect(pruned.gcDone?.packsDeleted ?? 0).toBeGreaterThan(0);
      const after = await rig.reopen();
      const live = made.filter((m) => !expired.includes(m.rp.id));
      expect((await listRecoveryPoints(after)).map((r) => r.id).sort()).toEqual(live.map((m) => m.rp.id).sort());
      for (const m of live) await expectExactRestore(after, m.rp, m.snapshot);
      const report = await check(after, { readData: { share: 1 } });
      expect(report.problems).toEqual([]);

      // Enough faults to mean something, at about the rate asked for. (Restore reads each
      // pack's blobs in coalesced ranges, so a run makes ~150 storage calls, not thousands.)
      expect(faultCount(rig)).toBeGreaterThanOrEqual(10);
      expect(faultCount(rig) / callCount(rig)).toBeGreaterThan(RATE / 2);
      totals[`${kind}-sustained`] = { calls: callCount(rig), faults: faultCount(rig), retries: rig.retries, ops: { backups: ROUNDS, restores: made.length + live.length, prunes: 1, checks: 1 } };

      // And with the faults gone, the vault is just as sound.
      rig.warm.clear();
      rig.cold.clear();
      expect((await check(await rig.reopen(), { readData: { share: 1 } })).problems).toEqual([]);
    }, TIMEOUT);

    test(`harsh faults (up to 50% of calls, broken listings, 3 attempts): ${HARSH_TRIALS} operations complete or fail clearly; nothing stored is lost`, async () => {
      const src = join(tmp, "src");
      makeSource(src, SEED + 7, 15);
      const rig = await makeRig(kind, SEED + 7);
      const random = rng(SEED + 8);
      const expected = new Map<string, { rp: RecoveryPoint; snapshot: Snapshot }>();
      const outcomes: Record<string, number> = {};
      const messages = new Set<string>();
      let day = 0;
      {
        const snapshot = snapshotTree(src);
        const first = await backup(rig.vault, src, { resource: "res", now: new Date(T0), jobId: "job-0" });
        expected.set(first.rp.id, { rp: first.rp, snapshot });
      }
      const ops = ["backup", "restore", "prune", "check"] as const;
      for (let trial = 0; trial < HARSH_TRIALS; trial++) {
        const op = ops[trial % ops.length];
        const rate = [0.05, 0.15, 0.3, 0.5][between(random, 0, 3)];
        let vault: Vault;
        try {
          vault = await rig.reopen();
        } catch (err) {
          throw new Error(`reopen without faults failed: ${(err as Error).message}`);
        }
        harsh(rig.warm, rate);
        harsh(rig.cold, rate);
        rig.attempts = 3;
        const now = new Date(T0 + ++day * DAY);
        try {
          if (op === "backup") {
            churn(src, SEED + 100 + trial);
            const snapshot = snapshotTree(src);
            const rps = [...expected.values()].map((e) => e.rp).sort((a, b) => a.created_at.localeCompare(b.created_at));
            const out = await backup(vault, src, { resource: "res", now, jobId: `job-${trial}`, parent: rps.at(-1) ?? null, deleteAfterMs: random() < 0.5 ? DAY : undefined });
            expected.set(out.rp.id, { rp: out.rp, snapshot });
          } else if (op === "restore") {
            const all = [...expected.values()];
            const pick = all[between(random, 0, all.length - 1)];
            await expectExactRestore(vault, pick.rp, pick.snapshot);
          } else if (op === "prune") {
            await applyLifecycle(vault, { vaultName: "v", now: () => now, minPackAgeMs: 0, alwaysGc: true, settleMs: 0 });
          } else {
            const report = await check(vault, { readData: { share: 1 } });
            expect(report.problems).toEqual([]);
          }
          outcomes[`${op} completed`] = (outcomes[`${op} completed`] ?? 0) + 1;
        } catch (err) {
          messages.add(expectClearFailure(err).replace(/[0-9a-f]{16,}/g, "…"));
          outcomes[`${op} failed clearly`] = (outcomes[`${op} failed clearly`] ?? 0) + 1;
        } finally {
          rig.warm.clear();
          rig.cold.clear();
          rig.attempts = 6;
          for (const name of readdirSync(tmp)) if (name.startsWith("restore-")) rmSync(join(tmp, name), { recursive: true, force: true });
        }

        // Without faults: the vault is sound and nothing that should be there is gone.
        await dropLeftoverLeases(rig.inner); // what their expiry would do (a failed release leaves them)
        const clean = await openVault(rig.inner, { cold: rig.coldInner });
        const report = await check(clean, { readData: { share: 1 } });
        expect(report.problems).toEqual([]);
        const live = await listRecoveryPoints(clean);
        for (const [id, e] of expected) {
          if (live.some((r) => r.id === id)) continue;
          // Only prune removes recovery points, and only those whose delete_at has passed.
          expect(e.rp.delete_at !== null && Date.parse(e.rp.delete_at) <= now.getTime()).toBe(true);
          expected.delete(id);
        }
        for (const rp of live) {
          const e = expected.get(rp.id);
          expect(e).toBeDefined();
          await expectExactRestore(clean, rp, e!.snapshot);
        }
      }
      expect(Object.keys(outcomes).some((k) => k.endsWith("failed clearly"))).toBe(true);
      expect(Object.keys(outcomes).some((k) => k.endsWith("completed"))).toBe(true);
      totals[`${kind}-harsh`] = { calls: callCount(rig), faults: faultCount(rig), retries: rig.retries, ops: outcomes };
      record(`faults-harsh-${kind}-messages`, { messages: [...messages].slice(0, 12) });
    }, TIMEOUT);
  });
}

/** Removes lease objects (locks/, leases/): stands in for their expiry after a failed release. */
async function dropLeftoverLeases(storage: Storage): Promise<void> {
  for (const prefix of ["locks/", "leases/"]) {
    const keys: string[] = [];
    for await (const o of storage.list(prefix)) keys.push(o.key);
    for (const k of keys) await storage.remove(k);
  }
}

describe("storage faults against the S3 test server (HTTP level)", () => {
  let server: S3Server;
  let proxy: S3Proxy;

  afterEach(async () => {
    await proxy?.stop();
    await server?.stop();
  });

  test(`5% of requests answered 503 SlowDown or 500, 3% late, a few never: ${S3_ROUNDS} backups and their restores are exact`, async () => {
    server = await startS3Server({ bucket: "faults" });
    proxy = startS3Proxy(server.endpoint);
    const random = rng(SEED + 99);
    const injected = { slowDown: 0, internal: 0, late: 0, hang: 0 };
    let requests = 0;
    proxy.intercept = async () => {
      requests++;
      const x = random();
      if (x < 0.03) {
        injected.slowDown++;
        return xmlError(503, "SlowDown", "Please reduce your request rate.");
      }
      if (x < 0.05) {
        injected.internal++;
        return xmlError(500, "InternalError", "We encountered an internal error. Please try again.");
      }
      if (x < 0.08) {
        injected.late++;
        await Bun.sleep(between(random, 20, 150));
        return undefined;
      }
      if (x < 0.082) {
        injected.hang++;
        return "hang";
      }
      return undefined;
    };
    let retries = 0;
    const open = (prefix: string) => withRetry(s3Storage({
      bucket: server.bucket, prefix, endpoint: proxy.endpoint, region: S3RVER_CREDENTIALS.region,
      accessKeyId: S3RVER_CREDENTIALS.accessKeyId, secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey, timeoutMs: 1500,
    }), { baseMs: 5, maxMs: 100, onRetry: () => retries++ });
    const vault = await testVault({ storage: open("vault"), cold: open("vault/cold"), now: new Date(T0) });
    const src = join(tmp, "src");
    mkdirSync(src);
    makeSource(src, SEED + 50, 12);
    const made: { rp: RecoveryPoint; snapshot: Snapshot }[] = [];
    for (let r = 0; r < S3_ROUNDS; r++) {
      if (r > 0) churn(src, SEED + 50 + r);
      const snapshot = snapshotTree(src);
      const out = await backup(vault, src, { resource: "res", now: new Date(T0 + r * DAY), jobId: `s3-${r}`, parent: made.at(-1)?.rp ?? null });
      made.push({ rp: out.rp, snapshot });
    }
    for (const m of made) await expectExactRestore(vault, m.rp, m.snapshot);
    const again = await openVault(vault.storage, { cold: vault.cold });
    expect((await check(again, { readData: { share: 1 } })).problems).toEqual([]);
    const faults = injected.slowDown + injected.internal + injected.hang;
    expect(requests).toBeGreaterThan(80);
    expect(faults).toBeGreaterThanOrEqual(3);
    expect(faults / requests).toBeGreaterThan(0.02);
    totals["s3-proxy"] = { calls: proxy.requests.length, faults: faults + injected.late, retries, ops: { backups: S3_ROUNDS, restores: made.length, checks: 1, ...injected } };
  }, TIMEOUT);
});

describe("a vault that stays unreachable, through the binary", () => {
  test("backup exits 1 with a clear error and a next step, not an internal error", async () => {
    const down = await startS3Server({ bucket: "gone" });
    const endpoint = down.endpoint;
    await down.stop(); // nothing listens there any more: every request is refused
    const src = join(tmp, "src");
    makeTree(src, { a: "a\n" });
    const env = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_ENDPOINT_URL: endpoint };
    const r = await runBinaryMeasured(["backup", src, "--vault", "s3://gone/vault"], { cwd: tmp, env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: Cannot load "config" in "s3:\/\/gone\/vault": .*\(gave up after 6 attempts\)$/m);
    expect(r.stderr).toContain("hint: check that the vault is reachable");
    expect(r.stderr).not.toContain("internal error");
  }, 60_000);
});

function xmlError(status: number, code: string, message: string): Response {
  const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>1</RequestId></Error>`;
  return new Response(body, { status, headers: { "content-type": "application/xml" } });
}
