/**
 * S3 vaults end to end through dist/efsbak, against a real S3 server (s3rver) on 127.0.0.1:
 * backup, incremental backup, check, restore, a lifecycle run, and two processes backing up
 * different resources into one vault at the same time.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytes, makeTree, snapshotTree } from "../support/tree.ts";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from "../support/s3-server.ts";
import { s3Storage } from "../../src/storage/s3.ts";
import { nightlyPlan } from "../support/plans.ts";

let server: S3Server;
let work: string;
let env: Record<string, string>;

beforeAll(async () => {
  ensureBinary();
  server = await startS3Server({ bucket: "vaults" });
  work = mkdtempSync(join(tmpdir(), "efsbak-s3-"));
  // One local S3 server shows every write at once: a short settle (the default is 1.5 s).
  env = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, EFSBAK_S3_SETTLE: "100ms" };
  const small: Record<string, string> = {};
  for (let i = 0; i < 400; i++) small[`f${String(i).padStart(3, "0")}.txt`] = `small file ${i}\n`.repeat(1 + (i % 7));
  makeTree(join(work, "data/a"), { small, "big.bin": bytes(3_000_000, 11) });
  makeTree(join(work, "data/b"), { "b.txt": "resource b\n", deep: { "c.bin": bytes(2_000_000, 12) } });
  mkdirSync(join(work, "plans"));
  writeFileSync(join(work, "plans/s3.toml"), `
[vaults.s3]
url = "s3://${server.bucket}/team/vault"
endpoint = "${server.endpoint}"
region = "us-east-1"
force_path_style = true

[[resources]]
id = "res-a"
path = "data/a"

[[resources]]
id = "res-b"
path = "data/b"
${nightlyPlan({ rule: [`vault = "s3"`, `lifecycle = { delete_after = "100d" }`], selection: [`name = "all"`, `resources = ["res-a", "res-b"]`] })}`);
});

afterAll(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function objectCount(): Promise<number> {
  const s = s3Storage({ bucket: server.bucket, prefix: "team/vault", endpoint: server.endpoint, ...S3RVER_CREDENTIALS, forcePathStyle: true });
  let n = 0;
  for await (const _ of s.list("")) n++;
  return n;
}

function restoredDir(target: string): string {
  const names = readdirSync(target).filter((n) => n.startsWith("efsbak-restore_"));
  expect(names.length).toBe(1);
  return join(target, names[0]);
}

describe("S3 vault through the binary", () => {
  let rp1 = "";

  test("backup packs small files: far fewer objects than files", async () => {
    const r = await runBinary(["backup", "res-a", "--json"], { cwd: work, env });
    expect(r.stderr).not.toContain("S3RVER"); // credentials never appear
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.job.state).toBe("COMPLETED");
    expect(out.job.files).toBe(401);
    rp1 = out.recovery_point;
    expect(await objectCount()).toBeLessThan(20);
  });

  test("incremental backup reads only what changed", async () => {
    appendFileSync(join(work, "data/a/small/f001.txt"), "changed\n");
    const r = await runBinary(["backup", "res-a", "--json"], { cwd: work, env });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.job.bytes_read).toBeLessThan(1000);
    expect(out.recovery_point).not.toBe(rp1);
  });

  test("check --read-data passes", async () => {
    const r = await runBinary(["check", "--read-data", "--json"], { cwd: work, env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).problems).toEqual([]);
  });

  test("restore from S3 is exact", async () => {
    const target = join(work, "restored-a");
    const r = await runBinary(["restore", "latest", "--resource", "res-a", "--target", target], { cwd: work, env });
    expect(r.code).toBe(0);
    expect(snapshotTree(restoredDir(target))).toEqual(snapshotTree(join(work, "data/a")));
  });

  test("two processes back up different resources into one vault at once", async () => {
    appendFileSync(join(work, "data/a/big.bin"), "x");
    appendFileSync(join(work, "data/b/b.txt"), "y");
    const [a, b] = await Promise.all([
      runBinary(["backup", "res-a", "--json"], { cwd: work, env }),
      runBinary(["backup", "res-b", "--json"], { cwd: work, env }),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const check = await runBinary(["check", "--read-data"], { cwd: work, env });
    expect(check.code).toBe(0);
    const target = join(work, "restored-b");
    expect((await runBinary(["restore", JSON.parse(b.stdout).recovery_point, "--target", target], { cwd: work, env })).code).toBe(0);
    expect(snapshotTree(restoredDir(target))).toEqual(snapshotTree(join(work, "data/b")));
  });

  test("a scheduled run and lifecycle work on S3 under a simulated clock", async () => {
    const day1 = "2026-03-01T06:00:00Z";
    const r = await runBinary(["run", "plans", "--now", day1, "--json"], { cwd: work, env });
    expect(r.code).toBe(0);
    const jobs = JSON.parse(r.stdout).jobs;
    expect(jobs.map((j: { resource: string; state: string }) => `${j.resource}:${j.state}`).sort()).toEqual(["res-a:COMPLETED", "res-b:COMPLETED"]);
    const later = await runBinary(["run", "plans", "--now", "2026-06-10T06:00:00Z", "--json"], { cwd: work, env });
    expect(later.code).toBe(0);
    const deleted = JSON.parse(later.stdout).lifecycle.s3.deleted;
    expect(deleted.length).toBe(2);
    const rps = JSON.parse((await runBinary(["recovery-points", "--json"], { cwd: work, env })).stdout).recovery_points;
    expect(rps.some((p: { id: string }) => deleted.includes(p.id))).toBe(false);
  });
});

describe("EFSBAK_S3_SETTLE", () => {
  test("sets how long a claim on an S3 vault settles; a malformed value is a usage error", async () => {
    const started = performance.now();
    const slow = await runBinary(["check", "--vault", "s3"], { cwd: work, env: { ...env, EFSBAK_S3_SETTLE: "2500ms" } });
    expect(slow.code).toBe(0);
    expect(performance.now() - started).toBeGreaterThanOrEqual(2500);
    const bad = await runBinary(["check", "--vault", "s3"], { cwd: work, env: { ...env, EFSBAK_S3_SETTLE: "soon" } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Cannot use EFSBAK_S3_SETTLE="soon"');
  });
});
