/**
 * Encrypted vaults end to end through dist/efsbak: every command works unchanged; the raw
 * bytes of the vault hold no file name, no file content and no password; passwords come from
 * the environment, a file or a command and never show in any output; keys can be added,
 * listed, removed and changed; a modified object is reported by name, and a restore salvages
 * what it can. Key files are made with EFSBAK_TEST_KDF=cheap (cheap Argon2id, tests only).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { bytes, makeTree, snapshotTree } from "../support/tree.ts";
import { type CliRun, ensureBinary, runBinary } from "../support/cli.ts";
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from "../support/s3-server.ts";
import { nightlyPlan } from "../support/plans.ts";

const PASSWORD = "pw-Alpha-7a1c9e";
const NEW_PASSWORD = "pw-Bravo-33d0f2";
const THIRD_PASSWORD = "pw-Charlie-90be14";
const SECRET_NAME = "zebra-quasar-unique-name-5Kq2.txt";
/** 64 bytes that occur once in the source (inside an incompressible file). */
const MARKER = bytes(64, 4242);

let work: string;
let src: string;
let vault: string;
const outputs: CliRun[] = [];
const env = (extra: Record<string, string | undefined> = {}) => ({ EFSBAK_PASSWORD: PASSWORD, EFSBAK_TEST_KDF: "cheap", ...extra });

async function efsbak(argv: string[], extraEnv: Record<string, string | undefined> = {}): Promise<CliRun> {
  const r = await runBinary(argv, { cwd: work, env: env(extraEnv) });
  outputs.push(r);
  return r;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

function onlyDir(parent: string, prefix: string): string {
  const names = readdirSync(parent).filter((n) => n.startsWith(prefix));
  expect(names.length).toBe(1);
  return join(parent, names[0]);
}

/** Every file of a vault whose raw bytes contain needle (relative paths). */
function filesContaining(dir: string, needle: Uint8Array | string): string[] {
  const n = typeof needle === "string" ? Buffer.from(needle, "utf8") : Buffer.from(needle);
  return filesUnder(dir).filter((f) => readFileSync(f).includes(n)).map((f) => relative(dir, f));
}

function flipByte(file: string, at: number): void {
  const data = readFileSync(file);
  data[at] ^= 0x40;
  writeFileSync(file, data);
}

beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-enc-"));
  src = join(work, "src");
  vault = join(work, "vault");
  const data = bytes(1_000_000, 99);
  data.set(MARKER, 300_000);
  makeTree(src, {
    [SECRET_NAME]: "the name of this file is the secret\n",
    "data.bin": data,
    "big.bin": bytes(3_000_000, 5),
    sub: { "notes.md": "# notes\n", deeper: { "x.dat": bytes(70_000, 3) } },
  });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("an encrypted local vault through the binary", () => {
  let rp1: string;
  let rp2: string;

  test("vault init --encryption writes config and one key file", async () => {
    const r = await efsbak(["vault", "init", vault, "--encryption", "aes-256-gcm", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout).vault;
    expect(out.encryption).toEqual({ cipher: "aes-256-gcm", kdf: "argon2id" });
    expect(out.key).toMatch(/^[0-9a-f]{32}$/);
    expect(readdirSync(join(vault, "keys"))).toEqual([out.key]);
    expect(JSON.parse(readFileSync(join(vault, "config"), "utf8")).hash).toBe("blake3-keyed");
    expect(r.stderr).toContain("EFSBAK_TEST_KDF=cheap");
  });

  test("backup, then an incremental backup that reads only the change", async () => {
    let r = await efsbak(["backup", src, "--vault", vault, "--json"]);
    expect(r.code).toBe(0);
    rp1 = JSON.parse(r.stdout).recovery_point;
    appendFileSync(join(src, "sub/notes.md"), "one more line\n");
    r = await efsbak(["backup", src, "--vault", vault, "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    rp2 = out.recovery_point;
    expect(out.job.state).toBe("COMPLETED");
    expect(out.job.bytes_read).toBeLessThan(1000);
  });

  test("restore gives back the exact tree; check --read-data finds nothing", async () => {
    const target = join(work, "restore");
    const r = await efsbak(["restore", rp2, "--vault", vault, "--target", target, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).fragments).toEqual([]);
    expect(snapshotTree(onlyDir(target, "efsbak-restore_"))).toEqual(snapshotTree(src));
    const c = await efsbak(["check", "--read-data", "--vault", vault, "--json"]);
    expect(c.code).toBe(0);
    expect(JSON.parse(c.stdout).problems).toEqual([]);
  });

  test("ls, diff, recovery-points and jobs work unchanged", async () => {
    const ls = await efsbak(["ls", rp2, "--vault", vault, "--json"]);
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.stdout).entries.map((e: { path: string }) => e.path)).toContain(SECRET_NAME);
    const diff = await efsbak(["diff", rp1, rp2, "--vault", vault, "--json"]);
    expect(diff.code).toBe(0);
    expect(JSON.parse(diff.stdout).changed).toContain("sub/notes.md");
    const rps = await efsbak(["recovery-points", "--vault", vault, "--json"]);
    expect(JSON.parse(rps.stdout).recovery_points.map((p: { id: string }) => p.id)).toEqual([rp1, rp2]);
    const jobs = await efsbak(["jobs", "--vault", vault, "--json"]);
    expect(jobs.code).toBe(0);
    expect(JSON.parse(jobs.stdout).jobs.map((j: { type: string; state: string }) => `${j.type}:${j.state}`)).toEqual([
      "check:COMPLETED", "restore:COMPLETED", "backup:COMPLETED", "backup:COMPLETED",
    ]);
  });

  test("the raw vault holds no file name, no file content, no path and no password", async () => {
    expect(filesUnder(vault).length).toBeGreaterThan(10);
    expect(filesContaining(vault, SECRET_NAME)).toEqual([]);
    expect(filesContaining(vault, MARKER)).toEqual([]);
    expect(filesContaining(vault, src)).toEqual([]);
    expect(filesContaining(vault, "notes.md")).toEqual([]);
    expect(filesContaining(vault, PASSWORD)).toEqual([]);
    // Control: the same scan finds the content in an unencrypted vault, so it can see.
    const plain = join(work, "plain-vault");
    expect((await efsbak(["backup", src, "--vault", plain], { EFSBAK_PASSWORD: undefined })).code).toBe(0);
    expect(filesContaining(plain, MARKER).length).toBeGreaterThan(0);
    rmSync(plain, { recursive: true });
  });

  test("a wrong password: exit 1, \"wrong password\", no stack; --json says so too", async () => {
    const r = await efsbak(["ls", rp2, "--vault", vault], { EFSBAK_PASSWORD: "not-the-password" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("wrong password");
    expect(r.stderr).not.toContain("    at ");
    expect(r.stderr).not.toContain("not-the-password");
    const j = await efsbak(["recovery-points", "--vault", vault, "--json"], { EFSBAK_PASSWORD: "not-the-password" });
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout).error.message).toContain("wrong password");
    expect(j.stdout).not.toContain("not-the-password");
  });

  test("no password: exit 1, naming the three variables", async () => {
    const r = await efsbak(["jobs", "--vault", vault], { EFSBAK_PASSWORD: undefined });
    expect(r.code).toBe(1);
    for (const v of ["EFSBAK_PASSWORD", "EFSBAK_PASSWORD_FILE", "EFSBAK_PASSWORD_COMMAND"]) expect(r.stderr).toContain(v);
    expect(r.stderr).not.toContain("    at ");
    const empty = await efsbak(["jobs", "--vault", vault], { EFSBAK_PASSWORD: "" });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain("EFSBAK_PASSWORD is set but empty");
  });

  test("the password from a file or a command; a command's output is never shown", async () => {
    const file = join(work, "pw.txt");
    writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
    const viaFile = await efsbak(["recovery-points", "--vault", vault], { EFSBAK_PASSWORD: undefined, EFSBAK_PASSWORD_FILE: file });
    expect(viaFile.code).toBe(0);
    const viaCommand = await efsbak(["recovery-points", "--vault", vault, "--verbose"], { EFSBAK_PASSWORD: undefined, EFSBAK_PASSWORD_COMMAND: `cat '${file}'` });
    expect(viaCommand.code).toBe(0);
    expect(viaCommand.stdout).toContain(rp2);
    const failing = await efsbak(["jobs", "--vault", vault], { EFSBAK_PASSWORD: undefined, EFSBAK_PASSWORD_COMMAND: "echo secret-in-output; exit 3" });
    expect(failing.code).toBe(1);
    expect(failing.stderr).toContain("EFSBAK_PASSWORD_COMMAND exited with status 3");
    expect(failing.stderr).not.toContain("secret-in-output");
    const both = await efsbak(["jobs", "--vault", vault], { EFSBAK_PASSWORD_FILE: file });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("EFSBAK_PASSWORD and EFSBAK_PASSWORD_FILE are set together");
    const missing = await efsbak(["jobs", "--vault", vault], { EFSBAK_PASSWORD: undefined, EFSBAK_PASSWORD_FILE: join(work, "nope.txt") });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("ENOENT");
  });

  test("vault key add: a second password unlocks too; list shows both", async () => {
    const add = await efsbak(["vault", "key", "add", "--vault", vault, "--label", "ci runner", "--json"], { EFSBAK_NEW_PASSWORD: NEW_PASSWORD });
    expect(add.code).toBe(0);
    const added = JSON.parse(add.stdout).added;
    expect(added.label).toBe("ci runner");
    const viaSecond = await efsbak(["ls", rp2, "--vault", vault], { EFSBAK_PASSWORD: NEW_PASSWORD });
    expect(viaSecond.code).toBe(0);
    expect(viaSecond.stdout).toContain(SECRET_NAME);
    const list = await efsbak(["vault", "key", "list", "--vault", vault, "--json"], { EFSBAK_PASSWORD: NEW_PASSWORD });
    const keys = JSON.parse(list.stdout).keys;
    expect(keys.length).toBe(2);
    expect(keys.find((k: { current: boolean }) => k.current).id).toBe(added.id);
    expect(keys.map((k: { kdf: { algorithm: string } }) => k.kdf.algorithm)).toEqual(["argon2id", "argon2id"]);
    expect(filesContaining(vault, "ci runner")).toEqual([]);
  });

  test("vault key remove: never the key in use, never the last one", async () => {
    const keys = JSON.parse((await efsbak(["vault", "key", "list", "--vault", vault, "--json"])).stdout).keys as { id: string; current: boolean }[];
    const mine = keys.find((k) => k.current)!;
    const other = keys.find((k) => !k.current)!;
    const inUse = await efsbak(["vault", "key", "remove", mine.id, "--vault", vault]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain("the key the current password opened");
    // Remove the first password's key while unlocked with the second...
    const removed = await efsbak(["vault", "key", "remove", mine.id.slice(0, 8), "--vault", vault], { EFSBAK_PASSWORD: NEW_PASSWORD });
    expect(removed.code).toBe(0);
    expect((await efsbak(["jobs", "--vault", vault])).stderr).toContain("wrong password");
    // ...and the second one is now the last: refused.
    const last = await efsbak(["vault", "key", "remove", other.id, "--vault", vault], { EFSBAK_PASSWORD: NEW_PASSWORD });
    expect(last.code).toBe(1);
    expect(last.stderr).toContain("last key");
    expect(readdirSync(join(vault, "keys"))).toEqual([other.id]);
  });

  test("vault key passwd: the old password fails after, the new one works", async () => {
    const r = await efsbak(["vault", "key", "passwd", "--vault", vault, "--json"], { EFSBAK_PASSWORD: NEW_PASSWORD, EFSBAK_NEW_PASSWORD: THIRD_PASSWORD });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.added.label).toBe("ci runner");
    expect(readdirSync(join(vault, "keys"))).toEqual([out.added.id]);
    const old = await efsbak(["ls", rp2, "--vault", vault], { EFSBAK_PASSWORD: NEW_PASSWORD });
    expect(old.code).toBe(1);
    expect(old.stderr).toContain("wrong password");
    const now = await efsbak(["check", "--vault", vault], { EFSBAK_PASSWORD: THIRD_PASSWORD });
    expect(now.code).toBe(0);
  });

  test("a modified recovery point or index file is reported by name", async () => {
    const copy = join(work, "tampered-meta");
    cpSync(vault, copy, { recursive: true });
    flipByte(join(copy, "rps", rp1), 40);
    const index = readdirSync(join(copy, "index"))[0];
    flipByte(join(copy, "index", index), 30);
    const r = await efsbak(["check", "--vault", copy, "--json"], { EFSBAK_PASSWORD: THIRD_PASSWORD });
    expect(r.code).toBe(1);
    const objects = JSON.parse(r.stdout).problems.map((p: { object: string; message: string }) => `${p.object}: ${p.message}`).join("\n");
    expect(objects).toContain(`rps/${rp1}`);
    expect(objects).toContain(`index/${index}`);
    expect(objects).toContain("authentication failed");
  });

  test("a modified pack: check --read-data names it; restore salvages into lost+found", async () => {
    const copy = join(work, "tampered-pack");
    cpSync(vault, copy, { recursive: true });
    // The biggest pack holds data: change one byte in its middle.
    const packs = filesUnder(join(copy, "packs")).sort((a, b) => statSync(b).size - statSync(a).size);
    const pack = packs[0];
    flipByte(pack, Math.floor(statSync(pack).size / 2));
    const c = await efsbak(["check", "--read-data", "--vault", copy, "--json"], { EFSBAK_PASSWORD: THIRD_PASSWORD });
    expect(c.code).toBe(1);
    const problems = JSON.parse(c.stdout).problems as { object: string }[];
    expect(problems.map((p) => p.object)).toContain(relative(copy, pack));
    const target = join(work, "restore-tampered");
    const r = await efsbak(["restore", rp2, "--vault", copy, "--target", target, "--json"], { EFSBAK_PASSWORD: THIRD_PASSWORD });
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout);
    expect(out.fragments.length).toBeGreaterThan(0);
    const dir = onlyDir(target, "efsbak-restore_");
    expect(existsSync(join(dir, "efsbak-lost+found", "MANIFEST.json"))).toBe(true);
    // What was intact went back in place.
    expect(readFileSync(join(dir, SECRET_NAME), "utf8")).toBe("the name of this file is the secret\n");
  });

  test("no password ever appeared in any output", () => {
    expect(outputs.length).toBeGreaterThan(20);
    for (const o of outputs) {
      for (const pw of [PASSWORD, NEW_PASSWORD, THIRD_PASSWORD]) {
        expect(o.stdout.includes(pw) || o.stderr.includes(pw)).toBe(false);
      }
    }
  });
});

describe("encrypted vaults from the plans", () => {
  let plansWork: string;

  beforeAll(() => {
    plansWork = join(work, "planned");
    mkdirSync(join(plansWork, "plans"), { recursive: true });
    makeTree(join(plansWork, "home"), { [SECRET_NAME]: "x\n", "a.bin": bytes(200_000, 8) });
    writeFileSync(join(plansWork, "plans/main.toml"), `
[vaults.main]
url = "./vault"
encryption = "aes-256-gcm"

[vaults.plain]
url = "./plain"
encryption = "aes-256-gcm"

[[resources]]
id = "fs-home-secret-id"
path = "home"
${nightlyPlan({ rule: [`vault = "main"`], selection: [`name = "all"`, `resources = ["fs-home-secret-id"]`] })}`);
  });

  const run = (argv: string[], extra: Record<string, string | undefined> = {}) => runBinary(argv, { cwd: plansWork, env: env({ EFSBAK_NOW: "2026-03-02T05:30:00Z", ...extra }) }).then((r) => (outputs.push(r), r));

  test("run creates the vault encrypted and backs up; backup RESOURCE works too", async () => {
    const r = await run(["run", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(plansWork, "vault/config"), "utf8")).encryption).toEqual({ cipher: "aes-256-gcm", kdf: "argon2id" });
    expect(readdirSync(join(plansWork, "vault/keys")).length).toBe(1);
    const b = await run(["backup", "fs-home-secret-id", "--vault", "main", "--json"]);
    expect(b.code).toBe(0);
    const rps = JSON.parse((await run(["recovery-points", "--vault", "main", "--json"])).stdout).recovery_points;
    expect(rps.length).toBe(2);
    expect(filesContaining(join(plansWork, "vault"), "fs-home-secret-id")).toEqual([]);
    expect(filesContaining(join(plansWork, "vault"), SECRET_NAME)).toEqual([]);
  });

  test("a vault the plans call encrypted but whose config says plaintext is refused", async () => {
    // Made unencrypted behind the plans' back (e.g. a config rewritten by someone with write access).
    const direct = await runBinary(["backup", join(plansWork, "home"), "--vault", join(plansWork, "plain")], { cwd: work, env: { EFSBAK_NOW: "2026-03-02T05:30:00Z" } });
    expect(direct.code).toBe(0);
    const r = await run(["jobs", "--vault", "plain"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the plans say it is encrypted");
  });

  test("a config downgraded to plaintext beside key files is refused", async () => {
    const copy = join(plansWork, "downgraded");
    cpSync(join(plansWork, "vault"), copy, { recursive: true });
    const config = JSON.parse(readFileSync(join(copy, "config"), "utf8"));
    // format 2 is only ever encrypted: the plain config is refused as it is
    writeFileSync(join(copy, "config"), JSON.stringify({ ...config, encryption: null, hash: "blake3" }, null, 2));
    const v2 = await runBinary(["backup", join(plansWork, "home"), "--vault", copy], { cwd: work, env: {} });
    expect(v2.code).toBe(1);
    expect(v2.stderr).toContain("format version 2, which only encrypted vaults have");
    writeFileSync(join(copy, "config"), JSON.stringify({ ...config, version: 1, encryption: null, hash: "blake3" }, null, 2));
    const r = await runBinary(["backup", join(plansWork, "home"), "--vault", copy], { cwd: work, env: {} });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("it has key files");
    rmSync(join(copy, "keys"), { recursive: true });
    const sealed = await runBinary(["backup", join(plansWork, "home"), "--vault", copy], { cwd: work, env: {} });
    expect(sealed.code).toBe(1);
    expect(sealed.stderr).toContain("it has a sealed config (config.sealed)");
  });
});

// Attack 5 of "Vaults under attack": someone with write access wipes the vault and writes an
// unencrypted config with the same vault id; `efsbak backup` with EFSBAK_PASSWORD set used to
// exit 0 and store plaintext packs. And config was not authenticated: chunker parameters of
// 32/64/128 bytes made a backup store 2.5x more at 4x the time.
describe("downgrade and config tampering", () => {
  let dir: string;
  let wiped: string;
  beforeAll(async () => {
    dir = join(work, "attack5");
    mkdirSync(dir, { recursive: true });
    wiped = join(dir, "vault");
    expect((await efsbak(["vault", "init", wiped, "--encryption", "aes-256-gcm"])).code).toBe(0);
    expect((await efsbak(["backup", src, "--vault", wiped])).code).toBe(0);
  });

  test("a wiped vault with an unencrypted config of the same id: backup with a password set writes nothing", async () => {
    const config = JSON.parse(readFileSync(join(wiped, "config"), "utf8"));
    const copy = join(dir, "wiped-copy");
    mkdirSync(copy);
    writeFileSync(join(copy, "config"), JSON.stringify({ ...config, version: 1, encryption: null, hash: "blake3" }, null, 2) + "\n");
    for (const source of [{}, { EFSBAK_PASSWORD: undefined, EFSBAK_PASSWORD_FILE: join(dir, "pw") }, { EFSBAK_PASSWORD: undefined, EFSBAK_PASSWORD_COMMAND: `echo ${PASSWORD}` }]) {
      writeFileSync(join(dir, "pw"), PASSWORD);
      const r = await efsbak(["backup", src, "--vault", copy], source);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Cannot open vault "${copy}": its config at`);
      expect(r.stderr).toMatch(/says it is not encrypted, but EFSBAK_PASSWORD(_FILE|_COMMAND)? is set/);
      expect(r.stderr).toContain("hint:");
      expect(readdirSync(copy)).toEqual(["config"]); // nothing written: no pack, no job, no lock
    }
    // and when the whole vault is gone, it is not re-created unencrypted either
    const gone = join(dir, "gone");
    const r = await efsbak(["backup", src, "--vault", gone]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unencrypted: EFSBAK_PASSWORD is set");
    expect(existsSync(gone)).toBe(false);
  });

  test('a vault the plans call encryption = "none" is used unencrypted with a password set', async () => {
    const planned = join(dir, "planned-none");
    mkdirSync(join(planned, "plans"), { recursive: true });
    writeFileSync(join(planned, "plans/v.toml"), '[vaults.open]\nurl = "./open"\nencryption = "none"\n');
    const r = await runBinary(["backup", src, "--vault", "open"], { cwd: planned, env: env() });
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(planned, "open/config"), "utf8")).encryption).toBe(null);
    expect((await runBinary(["recovery-points", "--vault", "open"], { cwd: planned, env: env() })).code).toBe(0);
  });

  test("chunker parameters changed in config: every command refuses, naming config, before writing", async () => {
    const copy = join(dir, "tampered");
    cpSync(wiped, copy, { recursive: true });
    const config = JSON.parse(readFileSync(join(copy, "config"), "utf8"));
    expect(config.version).toBe(2);
    expect(existsSync(join(copy, "config.sealed"))).toBe(true);
    writeFileSync(join(copy, "config"), JSON.stringify({ ...config, chunker: { min_size: 32, avg_size: 64, max_size: 128, seed: 0 } }, null, 2) + "\n");
    const before = filesUnder(copy).length;
    for (const argv of [["backup", src, "--vault", copy], ["check", "--vault", copy], ["recovery-points", "--vault", copy]]) {
      const r = await efsbak(argv);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('Cannot read "config": config does not match its sealed copy (config.sealed): chunker differ');
    }
    expect(filesUnder(copy).length).toBe(before);
    // taking the version back to 1 and deleting the sealed copy is caught by the index files
    writeFileSync(join(copy, "config"), JSON.stringify({ ...config, version: 1, chunker: { min_size: 32, avg_size: 64, max_size: 128, seed: 0 } }, null, 2) + "\n");
    rmSync(join(copy, "config.sealed"));
    const r = await efsbak(["backup", src, "--vault", copy]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Cannot read "config": config says format version 1, but "index\/[0-9a-f]{32}" was written in format 2/);
    expect(filesUnder(copy).length).toBe(before - 1);
  });
});

describe("a vault made by the previous release (format 1)", () => {
  test("check leaves it as it is; the first backup upgrades it; everything still restores", async () => {
    const old = join(work, "v1-vault");
    cpSync(join(import.meta.dir, "../vault/fixtures/v1-encrypted/vault"), old, { recursive: true });
    const pw = { EFSBAK_PASSWORD: "old-release-pw" };
    const checked = await efsbak(["check", "--read-data", "--vault", old], pw);
    expect(checked.code).toBe(0);
    expect(JSON.parse(readFileSync(join(old, "config"), "utf8")).version).toBe(1);
    expect(existsSync(join(old, "config.sealed"))).toBe(false);
    const b = await efsbak(["backup", src, "--vault", old], pw);
    expect(b.code).toBe(0);
    expect(JSON.parse(readFileSync(join(old, "config"), "utf8"))).toMatchObject({ version: 2, upgraded_from: 1 });
    expect(existsSync(join(old, "config.sealed"))).toBe(true);
    expect((await efsbak(["check", "--read-data", "--vault", old], pw)).code).toBe(0);
    const rps = JSON.parse((await efsbak(["recovery-points", "--vault", old, "--json"], pw)).stdout).recovery_points;
    expect(rps.length).toBe(2);
  });
});

describe("an encrypted S3 vault", () => {
  let server: S3Server;
  let s3Work: string;

  beforeAll(async () => {
    server = await startS3Server({ bucket: "enc" });
    s3Work = join(work, "s3");
    mkdirSync(join(s3Work, "plans"), { recursive: true });
    makeTree(join(s3Work, "data"), { [SECRET_NAME]: "on s3\n", "b.bin": bytes(2_500_000, 21) });
    writeFileSync(join(s3Work, "plans/s3.toml"), `
[vaults.s3]
url = "s3://${server.bucket}/team/vault"
endpoint = "${server.endpoint}"
region = "us-east-1"
force_path_style = true
encryption = "aes-256-gcm"
`);
  });

  afterAll(async () => {
    await server?.stop();
  });

  test("init, backup, restore and check --read-data", async () => {
    const s3env = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, EFSBAK_S3_SETTLE: "100ms" };
    const run = (argv: string[], extra: Record<string, string | undefined> = {}) => runBinary(argv, { cwd: s3Work, env: env({ ...s3env, ...extra }) }).then((r) => (outputs.push(r), r));
    expect((await run(["vault", "init", "s3"])).code).toBe(0);
    const b = await run(["backup", join(s3Work, "data"), "--vault", "s3", "--json"]);
    expect(b.code).toBe(0);
    const rp = JSON.parse(b.stdout).recovery_point;
    const target = join(s3Work, "restore");
    expect((await run(["restore", rp, "--vault", "s3", "--target", target])).code).toBe(0);
    expect(snapshotTree(onlyDir(target, "efsbak-restore_"))).toEqual(snapshotTree(join(s3Work, "data")));
    expect((await run(["check", "--read-data", "--vault", "s3"])).code).toBe(0);
    const wrong = await run(["ls", rp, "--vault", "s3"], { EFSBAK_PASSWORD: "nope" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("wrong password");
  });
});
