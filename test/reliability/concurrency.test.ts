/**
 * Concurrency (issue #10): several backups of different resources and a prune against one
 * vault at the same time, repeated, locally and on S3, through the binary. Then `check
 * --read-data` passes and every recovery point restores exactly; prune removed only recovery
 * points whose delete_at had passed, and a process that found the vault locked said so (exit
 * 4) and touched nothing.
 *
 *   round r:  churn every resource (part of its data is new, most is shared with round r-1)
 *             start at staggered moments: backup R1 … backup Rn (--delete-after 1d) + prune
 *             (--now moves to day 2r, so the recovery points of the round before expire and
 *             their data dies unless a newer recovery point shares it; EFSBAK_GC_MIN_AGE=0)
 *             whoever was locked out (exit 4) runs again afterwards
 *             check --read-data; restore every recovery point still listed
 *
 * Two in-process tests pin the races this found: a prune must plan from what the vault holds
 * once it has the lock, and a backup must not deduplicate against an index read before a prune
 * that ended while it waited for its lease.
 */
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { check } from "../../src/check/check.ts";
import { runBackupJob } from "../../src/jobs/backup-job.ts";
import { applyLifecycle } from "../../src/prune/lifecycle.ts";
import { restore } from "../../src/restore/restore.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { listRecoveryPoints } from "../../src/vault/recovery-point.ts";
import { resolveRecoveryPoint as findRecoveryPoint } from "../../src/cli/rp-ref.ts";
import { openVault } from "../../src/vault/vault.ts";
import { ensureBinary } from "../support/cli.ts";
import { type Snapshot, bytes, makeTree, snapshotTree } from "../support/tree.ts";
import { testVault } from "../support/vault.ts";
import { S3RVER_CREDENTIALS, type S3Server, startS3Server } from "../support/s3-server.ts";
import { SEED, SOAK, churnTree, jsonOf, makeLargeTree, record, runBinaryMeasured, setting, startBinary } from "../support/soak.ts";
import { between, rng } from "../support/random.ts";

const ROUNDS = setting("CONC_ROUNDS", 3, 10);
const RESOURCES = setting("CONC_RESOURCES", 4, 6);
const RES_MIB = setting("CONC_MIB", 16, 128);
const S3_ROUNDS = setting("CONC_S3_ROUNDS", 2, 6);
const S3_RESOURCES = setting("CONC_S3_RESOURCES", 3, 4);
const S3_RES_MIB = setting("CONC_S3_MIB", 3, 16);
const DAY = 86_400_000;
const T0 = Date.parse("2026-06-01T05:00:00Z");
const TIMEOUT = SOAK ? 3_600_000 : 115_000;

let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-conc-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));
const figures: Record<string, unknown> = {};
afterAll(() => record("concurrency", { rounds: ROUNDS, resources: RESOURCES, resource_mib: RES_MIB, s3_rounds: S3_ROUNDS, s3_resources: S3_RESOURCES, s3_resource_mib: S3_RES_MIB, ...figures, data_lost: 0 }));

describe("races between prune and backup (in process)", () => {
  test("a prune plans from what the vault holds once it has the lock, not from what it read before", async () => {
    const src = join(tmp, "src");
    makeTree(src, { a: bytes(200_000, 1), b: bytes(150_000, 2), sub: { c: "c\n" } });
    const inner = memoryStorage();
    const v0 = await testVault({ storage: inner, now: new Date(T0) });
    const rp1 = (await backup(v0, src, { resource: "r", now: new Date(T0), jobId: "j1", deleteAfterMs: DAY })).rp;
    const snapshot = snapshotTree(src);
    // The prune's storage: just before its lock is written, another host's backup finishes (a
    // recovery point made entirely of rp1's data, which is about to expire).
    let rp2Id = "";
    const hooked: Storage = {
      ...inner,
      location: inner.location,
      async save(key, data) {
        if (key.startsWith("locks/") && !rp2Id) {
          const other = await openVault(inner, { cold: v0.cold });
          rp2Id = (await backup(other, src, { resource: "r", now: new Date(T0 + 2 * DAY), jobId: "j2", parent: rp1 })).rp.id;
        }
        return inner.save(key, data);
      },
    };
    const pv = await openVault(hooked, { cold: v0.cold });
    const r = await applyLifecycle(pv, { vaultName: "v", now: () => new Date(T0 + 3 * DAY), minPackAgeMs: 0, alwaysGc: true, settleMs: 0 });
    expect(r.deleted).toEqual([rp1.id]);
    const after = await openVault(inner, { cold: v0.cold });
    expect((await check(after, { readData: { share: 1 } })).problems).toEqual([]);
    const rp2 = findRecoveryPoint(await listRecoveryPoints(after), rp2Id);
    const out = await restore(after, rp2, join(tmp, "out"), { now: new Date(T0) });
    expect(out.fragments).toEqual([]);
    expect(snapshotTree(out.restoreDir)).toEqual(snapshot);
  });

  test("a backup whose vault was opened before a prune ran does not reuse data the prune deleted", async () => {
    const src = join(tmp, "src");
    makeTree(src, { a: bytes(200_000, 3), b: bytes(150_000, 4) });
    const inner = memoryStorage();
    const v0 = await testVault({ storage: inner, now: new Date(T0) });
    await backup(v0, src, { resource: "r", now: new Date(T0), jobId: "j1", deleteAfterMs: DAY });
    const snapshot = snapshotTree(src);
    const stale = await openVault(inner, { cold: v0.cold }); // read its index, then waited for its lease…
    const pruned = await applyLifecycle(await openVault(inner, { cold: v0.cold }), { vaultName: "v", now: () => new Date(T0 + 3 * DAY), minPackAgeMs: 0, alwaysGc: true, settleMs: 0 });
    expect(pruned.gcDone?.packsDeleted).toBeGreaterThan(0);
    const job = await runBackupJob(stale, { id: "r", path: src }, { vaultName: "v", now: () => new Date(T0 + 4 * DAY), settleMs: 0 });
    expect(job.state).toBe("COMPLETED");
    const after = await openVault(inner, { cold: v0.cold });
    expect((await check(after, { readData: { share: 1 } })).problems).toEqual([]);
    const out = await restore(after, findRecoveryPoint(await listRecoveryPoints(after), job.recovery_point!), join(tmp, "out"), { now: new Date(T0) });
    expect(out.fragments).toEqual([]);
    expect(snapshotTree(out.restoreDir)).toEqual(snapshot);
  });

  test("two backups that stored the same blob at once, then a prune: check --read-data finds nothing wrong", async () => {
    // A small shared blob in big packs: the packs stay (over 90% live), the copy is dead bytes.
    makeTree(join(tmp, "a"), { same: "the same small file\n", own: bytes(300_000, 6) });
    makeTree(join(tmp, "b"), { same: "the same small file\n", own: bytes(300_000, 7) });
    const inner = memoryStorage();
    const v0 = await testVault({ storage: inner, now: new Date(T0) });
    // Opened at the same time: neither knows what the other stores.
    const [va, vb] = await Promise.all([openVault(inner, { cold: v0.cold }), openVault(inner, { cold: v0.cold })]);
    await Promise.all([
      backup(va, join(tmp, "a"), { resource: "a", now: new Date(T0), jobId: "ja" }),
      backup(vb, join(tmp, "b"), { resource: "b", now: new Date(T0), jobId: "jb" }),
    ]);
    // Something for prune to delete, so that it writes a new index.
    makeTree(join(tmp, "c"), { gone: bytes(40_000, 8) });
    await backup(await openVault(inner, { cold: v0.cold }), join(tmp, "c"), { resource: "c", now: new Date(T0), jobId: "jc", deleteAfterMs: DAY });
    const pruned = await applyLifecycle(await openVault(inner, { cold: v0.cold }), { vaultName: "v", now: () => new Date(T0 + 3 * DAY), minPackAgeMs: 0, alwaysGc: true, settleMs: 0 });
    expect(pruned.gcDone?.indexFilesReplaced).toBeGreaterThan(0);
    const after = await openVault(inner, { cold: v0.cold });
    expect((await check(after, { readData: { share: 1 } })).problems).toEqual([]);
  });
});

/** One vault as the binary reaches it. */
interface Target {
  /** For `vault init`. */
  url: string;
  vaultArgs: string[];
  env: Record<string, string>;
}

/** The rounds described in the file comment; returns figures. */
async function stress(target: Target, options: { rounds: number; resources: number; mib: number; smallFiles: number; seed: number }): Promise<Record<string, number>> {
  const random = rng(options.seed);
  const f = { backups_started: 0, backups_locked_out: 0, prunes_started: 0, prunes_locked_out: 0, recovery_points: 0, deleted_by_prune: 0, restores_exact: 0, checks_passed: 0 };
  const resources = Array.from({ length: options.resources }, (_, i) => join(tmp, `res${i}`));
  resources.forEach((p, i) => makeLargeTree(p, { bytes: options.mib << 20, smallFiles: options.smallFiles, seed: options.seed * 10 + i }));
  const known = new Map<string, Snapshot>();
  const run = (argv: string[]) => startBinary([...argv, ...target.vaultArgs, "--json"], { cwd: tmp, env: { ...target.env, EFSBAK_GC_MIN_AGE: "0" } });
  const init = await runBinaryMeasured(["vault", "init", target.url], { cwd: tmp, env: target.env });
  expect({ code: init.code, stderr: init.code === 0 ? "" : init.stderr }).toEqual({ code: 0, stderr: "" });

  for (let r = 0; r < options.rounds; r++) {
    // Two days apart: the previous round's recovery points (delete after 1 day) expire now.
    const now = new Date(T0 + 2 * r * DAY).toISOString();
    const snaps = resources.map((p, i) => {
      if (r > 0) churnTree(p, { seed: options.seed * 100 + r * 10 + i, fraction: 0.3 });
      return snapshotTree(p);
    });
    const backupArgs = (i: number) => ["backup", resources[i], "--now", now, "--delete-after", "1d"];
    const pruneArgs = ["prune", "--now", now];
    // Staggered starts: in some rounds prune gets a head start (the backups then find the
    // vault locked), in others the backups do (prune is locked out).
    const pruneFirst = random() < 0.5;
    const started = await Promise.all([...resources.map((_, i) => i), -1].map(async (i) => {
      await Bun.sleep(pruneFirst ? (i < 0 ? 0 : between(random, 20, 300)) : between(random, 0, 400));
      return { i, run: await run(i < 0 ? pruneArgs : backupArgs(i)).done };
    }));
    const retry: number[] = [];
    for (const { i, run: res } of started) {
      if (i < 0) f.prunes_started++;
      else f.backups_started++;
      if (res.code === 4) {
        expect(res.stderr).toMatch(/holds the lease/);
        if (i < 0) f.prunes_locked_out++;
        else f.backups_locked_out++;
        retry.push(i);
        continue;
      }
      expect({ i, code: res.code, stderr: res.code === 0 ? "" : res.stderr }).toEqual({ i, code: 0, stderr: "" });
      if (i >= 0) known.set(jsonOf(res).recovery_point, snaps[i]);
    }
    for (const i of retry.sort((a, b) => b - a)) {
      const res = await run(i < 0 ? pruneArgs : backupArgs(i)).done;
      expect({ i, code: res.code, stderr: res.code === 0 ? "" : res.stderr }).toEqual({ i, code: 0, stderr: "" });
      if (i >= 0) known.set(jsonOf(res).recovery_point, snaps[i]);
    }

    const checked = await runBinaryMeasured(["check", "--read-data", ...target.vaultArgs, "--json"], { cwd: tmp, env: target.env });
    expect({ code: checked.code, problems: jsonOf(checked).problems }).toEqual({ code: 0, problems: [] });
    f.checks_passed++;
    const listed = jsonOf(await runBinaryMeasured(["recovery-points", ...target.vaultArgs, "--json"], { cwd: tmp, env: target.env })).recovery_points as { id: string; delete_at: string }[];
    for (const id of [...known.keys()]) {
      const rp = listed.find((l) => l.id === id);
      if (rp) continue;
      f.deleted_by_prune++;
      known.delete(id);
    }
    for (const rp of listed) {
      expect(known.has(rp.id)).toBe(true);
      expect(Date.parse(rp.delete_at)).toBeGreaterThan(Date.parse(now)); // prune left none it should have taken
      const into = join(tmp, `restore-${rp.id}`);
      const res = await runBinaryMeasured(["restore", rp.id, "--target", into, ...target.vaultArgs, "--json"], { cwd: tmp, env: target.env });
      expect({ code: res.code, stderr: res.code === 0 ? "" : res.stderr }).toEqual({ code: 0, stderr: "" });
      const dir = readdirSync(into).find((n) => n.startsWith("efsbak-restore_"))!;
      expect(snapshotTree(join(into, dir))).toEqual(known.get(rp.id)!);
      f.restores_exact++;
      rmSync(into, { recursive: true, force: true });
    }
  }
  f.recovery_points = known.size + f.deleted_by_prune;
  expect(f.deleted_by_prune).toBeGreaterThan(0);
  return f;
}

describe("backups and prune at the same time, through the binary", () => {
  test(`local vault: ${RESOURCES} backups and a prune at once, ${ROUNDS} rounds`, async () => {
    ensureBinary();
    figures.local = await stress({ url: join(tmp, "vault"), vaultArgs: ["--vault", join(tmp, "vault")], env: {} }, { rounds: ROUNDS, resources: RESOURCES, mib: RES_MIB, smallFiles: 300, seed: SEED });
  }, TIMEOUT);

  let server: S3Server | null = null;
  afterEach(async () => {
    await server?.stop();
    server = null;
  });

  test(`S3 vault (s3rver): ${S3_RESOURCES} backups and a prune at once, ${S3_ROUNDS} rounds`, async () => {
    ensureBinary();
    server = await startS3Server({ bucket: "conc" });
    mkdirSync(join(tmp, "plans"));
    writeFileSync(join(tmp, "plans/vault.toml"), `[vaults.s3]\nurl = "s3://${server.bucket}/vault"\nendpoint = "${server.endpoint}"\nregion = "us-east-1"\nforce_path_style = true\n`);
    const env = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey };
    figures.s3 = await stress({ url: "s3", vaultArgs: ["--vault", "s3"], env }, { rounds: S3_ROUNDS, resources: S3_RESOURCES, mib: S3_RES_MIB, smallFiles: 60, seed: SEED + 1 });
  }, TIMEOUT);
});
