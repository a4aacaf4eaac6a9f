/**
 * `efsbak copy` end to end, through the compiled binary: blobs by id between vaults whose ids
 * agree (only missing ones travel), chunked and hashed again across encryption and passwords,
 * S3 on either side (s3rver on 127.0.0.1), restore from the copy equal to the source, check
 * --read-data on the destination, COPY jobs in both vaults, and a copy killed with SIGKILL that
 * a second run finishes without sending again what had arrived.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, ensureBinary, runBinary } from "../support/cli.ts";
import { S3RVER_CREDENTIALS, type S3Server, startS3Server } from "../support/s3-server.ts";
import { bytes, snapshotTree } from "../support/tree.ts";

const T = 120_000;
let tmp: string;
const SRC = () => join(tmp, "src");
const base = { EFSBAK_TEST_KDF: "cheap" };

async function efsbak(argv: string[], env: Record<string, string | undefined> = {}) {
  const r = await runBinary(argv, { cwd: tmp, env: { ...base, ...env } });
  return r;
}

async function ok(argv: string[], env: Record<string, string | undefined> = {}) {
  const r = await efsbak(argv, env);
  if (r.code !== 0) throw new Error(`efsbak ${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
}

async function json(argv: string[], env: Record<string, string | undefined> = {}) {
  return JSON.parse((await ok([...argv, "--json"], env)).stdout);
}

/** Restores the latest RP of a vault and compares it with the source. */
async function expectRestoreEqual(vault: string, env: Record<string, string | undefined> = {}, name = "out") {
  const target = join(tmp, name);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target);
  await ok(["restore", "latest", "--vault", vault, "--target", target], env);
  const [dir] = readdirSync(target);
  expect(snapshotTree(join(target, dir))).toEqual(snapshotTree(SRC()));
}

async function copyJobs(vault: string, env: Record<string, string | undefined> = {}) {
  return (await json(["jobs", "--vault", vault, "--type", "copy"], env)).jobs as { state: string; type: string }[];
}

beforeAll(() => {
  ensureBinary();
  tmp = mkdtempSync(join(tmpdir(), "efsbak-copy-"));
  mkdirSync(join(SRC(), "d/e"), { recursive: true });
  writeFileSync(join(SRC(), "big"), bytes(6 * 1024 * 1024, 7));
  writeFileSync(join(SRC(), "d/small"), "small file\n");
  writeFileSync(join(SRC(), "d/e/other"), bytes(300_000, 9));
  writeFileSync(join(SRC(), "empty"), "");
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("copy between vaults whose ids agree", () => {
  test("only missing blobs travel; restore, check and jobs on both sides", async () => {
    await ok(["backup", "./src", "--vault", "./a"]);
    const first = await json(["copy", "latest", "--vault", "./a", "--to", "./b"]);
    expect(first.rehashed).toBe(false);
    expect(first.blobs_copied).toBeGreaterThan(4);
    expect(first.bytes_sent).toBeGreaterThan(6 * 1024 * 1024);
    // The copy keeps the id.
    const rpsA = (await json(["recovery-points", "--vault", "./a"])).recovery_points;
    const rpsB = (await json(["recovery-points", "--vault", "./b"])).recovery_points;
    expect(rpsB.map((r: { id: string }) => r.id)).toEqual(rpsA.map((r: { id: string }) => r.id));

    // An incremental RP: one small file changed; its copy sends a few small blobs only.
    appendFileSync(join(SRC(), "d/small"), "more\n");
    await ok(["backup", "./src", "--vault", "./a"]);
    const second = await json(["copy", "latest", "--vault", "./a", "--to", "./b"]);
    expect(second.rehashed).toBe(false);
    expect(second.blobs_copied).toBeLessThanOrEqual(4); // the chunk, its tree and the root
    expect(second.bytes_sent).toBeLessThan(64 * 1024);
    expect(second.blobs_present).toBeGreaterThan(4);
    expect(second.bytes_read).toBeLessThan(64 * 1024);

    // Again: already there, nothing sent.
    const third = await json(["copy", "latest", "--vault", "./a", "--to", "./b"]);
    expect(third.already).toBe(true);
    expect(third.bytes_sent).toBe(0);

    await expectRestoreEqual("./b");
    const check = await efsbak(["check", "--read-data", "--vault", "./b"]);
    expect(check.code).toBe(0);
    for (const v of ["./a", "./b"]) {
      const jobs = await copyJobs(v);
      expect(jobs.length).toBe(3);
      expect(jobs.every((j) => j.state === "COMPLETED" && j.type === "copy")).toBe(true);
    }
  }, T);

  test("--help lists the exit codes; a missing --to is a usage error", async () => {
    const help = await efsbak(["copy", "--help"]);
    expect(help.stdout + help.stderr).toContain("--to");
    expect(help.stdout + help.stderr).toMatch(/EXIT STATUS|exit/i);
    const r = await efsbak(["copy", "latest", "--vault", "./a"]);
    expect(r.code).toBe(2);
  }, T);
});

describe("copy across encryption (chunked and hashed again)", () => {
  test("unencrypted -> encrypted, then encrypted (A) -> encrypted (B)", async () => {
    await ok(["vault", "init", "./enc-a", "--encryption", "aes-256-gcm"], { EFSBAK_PASSWORD: "password-a" });
    await ok(["vault", "init", "./enc-b", "--encryption", "aes-256-gcm"], { EFSBAK_PASSWORD: "password-b" });
    const toA = await json(["copy", "latest", "--vault", "./a", "--to", "./enc-a"], { EFSBAK_TO_PASSWORD: "password-a" });
    expect(toA.rehashed).toBe(true);
    expect(toA.blobs_copied).toBeGreaterThan(4);
    await expectRestoreEqual("./enc-a", { EFSBAK_PASSWORD: "password-a" });
    expect((await efsbak(["check", "--read-data", "--vault", "./enc-a"], { EFSBAK_PASSWORD: "password-a" })).code).toBe(0);

    // Password B comes from a file given by EFSBAK_TO_PASSWORD_FILE.
    writeFileSync(join(tmp, "pw-b"), "password-b\n");
    const toB = await json(["copy", "latest", "--vault", "./enc-a", "--to", "./enc-b"], { EFSBAK_PASSWORD: "password-a", EFSBAK_TO_PASSWORD_FILE: "pw-b" });
    expect(toB.rehashed).toBe(true);
    await expectRestoreEqual("./enc-b", { EFSBAK_PASSWORD: "password-b" });
    expect((await efsbak(["check", "--read-data", "--vault", "./enc-b"], { EFSBAK_PASSWORD: "password-b" })).code).toBe(0);
    expect((await copyJobs("./enc-b", { EFSBAK_PASSWORD: "password-b" }))[0].state).toBe("COMPLETED");
    expect((await copyJobs("./enc-a", { EFSBAK_PASSWORD: "password-a" })).length).toBe(2); // in, then out

    // The wrong destination password fails and writes nothing.
    const wrong = await efsbak(["copy", "latest", "--vault", "./a", "--to", "./enc-b"], { EFSBAK_TO_PASSWORD: "nope" });
    expect(wrong.code).not.toBe(0);
  }, T);

  test("an older RP copied after a newer one sends only what differs, though it reads all", async () => {
    const rps = (await json(["recovery-points", "--vault", "./a"])).recovery_points as { id: string }[];
    const older = rps[0].id;
    const r = await json(["copy", older, "--vault", "./a", "--to", "./enc-a"], { EFSBAK_TO_PASSWORD: "password-a" });
    expect(r.rehashed).toBe(true);
    expect(r.bytes_read).toBeGreaterThan(6 * 1024 * 1024); // re-chunking reads every file
    expect(r.bytes_sent).toBeLessThan(64 * 1024); // but only the changed chunk and trees travel
  }, T);
});

describe("copy with S3 on either side", () => {
  let server: S3Server;
  const s3env = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, EFSBAK_S3_SETTLE: "100ms" };
  beforeAll(async () => {
    server = await startS3Server({ bucket: "copy-one", extraBuckets: ["copy-two"] });
    mkdirSync(join(tmp, "plans"), { recursive: true });
    const table = (name: string, bucket: string) => `[vaults.${name}]\nurl = "s3://${bucket}/vault"\nendpoint = "${server.endpoint}"\nregion = "us-east-1"\nforce_path_style = true\n`;
    writeFileSync(join(tmp, "plans/vaults.toml"), `${table("s3one", "copy-one")}\n${table("s3two", "copy-two")}\n[vaults.local]\nurl = "./from-s3"\n`);
  }, T);
  afterAll(async () => {
    await server?.stop();
    rmSync(join(tmp, "plans"), { recursive: true, force: true });
  });

  test("local -> S3 -> S3 -> local, restores equal the source", async () => {
    const up = await json(["copy", "latest", "--vault", "./a", "--to", "s3one"], s3env);
    expect(up.blobs_copied).toBeGreaterThan(4);
    await expectRestoreEqual("s3one", s3env, "out-s3one");
    const across = await json(["copy", "latest", "--vault", "s3one", "--to", "s3two"], s3env);
    expect(across.blobs_copied).toBe(up.blobs_copied);
    expect((await efsbak(["check", "--read-data", "--vault", "s3two"], s3env)).code).toBe(0);
    const down = await json(["copy", "latest", "--vault", "s3two", "--to", "local"], s3env);
    expect(down.blobs_copied).toBe(up.blobs_copied);
    await expectRestoreEqual("local", s3env, "out-local");
    expect((await efsbak(["check", "--read-data", "--vault", "local"], s3env)).code).toBe(0);
    expect((await copyJobs("s3two", s3env)).length).toBe(2);
  }, T);
});

describe("a copy killed mid-way", () => {
  test("the next copy adopts what arrived and sends only the rest", async () => {
    const big = join(tmp, "bigsrc");
    mkdirSync(big);
    for (let i = 0; i < 6; i++) writeFileSync(join(big, `f${i}`), bytes(16 * 1024 * 1024, 100 + i));
    await ok(["backup", "./bigsrc", "--vault", "./kill-a"]);
    const proc = Bun.spawn([BINARY, "copy", "latest", "--vault", "./kill-a", "--to", "./kill-b"], { cwd: tmp, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...base }, stdout: "ignore", stderr: "pipe" });
    const packs = () => {
      try {
        return readdirSync(join(tmp, "kill-b/packs"), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !e.name.includes(".tmp")).length;
      } catch {
        return 0;
      }
    };
    const t0 = Date.now();
    while (packs() < 2 && Date.now() - t0 < 60_000) await Bun.sleep(5);
    proc.kill("SIGKILL");
    await proc.exited;
    const arrived = packs();
    expect(arrived).toBeGreaterThanOrEqual(2);
    const rps = readdirSync(join(tmp, "kill-b")).includes("rps") ? readdirSync(join(tmp, "kill-b/rps")) : [];
    expect(rps.length).toBe(0); // killed before the end

    const again = await json(["copy", "latest", "--vault", "./kill-a", "--to", "./kill-b"]);
    console.log(`killed with ${arrived} packs in the destination; the next copy adopted ${again.adopted_packs}, sent ${again.bytes_sent} bytes (${again.blobs_copied} blobs), found ${again.blobs_present} there`);
    expect(again.adopted_packs).toBeGreaterThanOrEqual(arrived - 1);
    expect(again.blobs_present).toBeGreaterThan(0);
    expect(again.bytes_sent).toBeLessThan(96 * 1024 * 1024 - (arrived - 1) * 15 * 1024 * 1024);
    expect((await efsbak(["check", "--read-data", "--vault", "./kill-b"])).code).toBe(0);
    const target = join(tmp, "out-kill");
    mkdirSync(target);
    await ok(["restore", "latest", "--vault", "./kill-b", "--target", target]);
    const [dir] = readdirSync(target);
    expect(snapshotTree(join(target, dir))).toEqual(snapshotTree(big));
    const jobs = await copyJobs("./kill-b");
    expect(jobs.map((j) => j.state).sort()).toEqual(["ABORTED", "COMPLETED"]); // the killed one, found dead by the next copy
  }, T);
});
