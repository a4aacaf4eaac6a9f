/**
 * The compiled binary without its native addons (src/native.ts): with EFSBAK_NATIVE=0, and
 * with $TMPDIR on a noexec mount, where the binary cannot dlopen the addons it extracts there
 * (a tmpfs mounted here; root only, skipped where mounting is refused). Either way every
 * command works on hash-wasm and gives the same bytes as the native engines: a copy of a tree
 * the native binary backed up adds no new data (same blob ids), check --read-data re-hashes
 * every blob, a key file added on the fallback at the default Argon2id parameters opens on
 * the native engine, and the other way round.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CliRun, ensureBinary, runBinary } from "../support/cli.ts";
import { bytes, makeTree, snapshotTree } from "../support/tree.ts";

const PASSWORD = "pw-native-5e1f";
let work: string;
let src: string;
let vault: string;
let noexec: string | null = null;

/** Mounts a noexec tmpfs at dir, or returns null where that is refused (not root, no CAP_SYS_ADMIN). */
function mountNoexec(dir: string): string | null {
  mkdirSync(dir, { recursive: true });
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "noexec,nosuid,size=32m", "tmpfs", dir], { stderr: "pipe" });
  return r.exitCode === 0 ? dir : null;
}

async function efsbak(argv: string[], env: Record<string, string | undefined>): Promise<CliRun> {
  return runBinary(argv, { cwd: work, env: { EFSBAK_PASSWORD: PASSWORD, ...env } });
}

beforeAll(async () => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-native-"));
  src = join(work, "src");
  vault = join(work, "vault");
  makeTree(src, {
    "big.bin": bytes(6_000_000, 21), // several chunks
    "mid.bin": bytes(300_000, 22),
    sub: { "small.txt": "a small file, hashed whole\n", "one-k.bin": bytes(1025, 23) },
  });
  noexec = mountNoexec(join(work, "noexec-tmp"));
  const init = await efsbak(["vault", "init", vault, "--encryption", "aes-256-gcm", "--json"], { EFSBAK_TEST_KDF: "cheap" });
  expect(init.code).toBe(0);
  const first = await efsbak(["backup", src, "--vault", vault, "--json"], {});
  expect(first.code).toBe(0);
  expect(JSON.parse(first.stdout).job.bytes_new).toBe(6_000_000 + 300_000 + 27 + 1025);
});

afterAll(() => {
  if (noexec) Bun.spawnSync(["umount", noexec]);
  if (work) rmSync(work, { recursive: true, force: true });
});

const MODES = [
  { name: "EFSBAK_NATIVE=0", env: () => ({ EFSBAK_NATIVE: "0" }), skip: () => false },
  { name: "TMPDIR on a noexec mount", env: () => ({ TMPDIR: noexec ?? "" }), skip: () => noexec === null },
];

describe("the binary without native addons", () => {
  for (const [i, mode] of MODES.entries()) {
    test(`${mode.name}: same blob ids, restore, check --read-data, key files either way`, async () => {
      if (mode.skip()) {
        console.warn(`skipped: cannot mount a noexec tmpfs here`);
        return;
      }
      const env = mode.env();
      const copy = join(work, `copy-${i}`);
      cpSync(src, copy, { recursive: true });
      // a tree the native binary stored, at another path (no parent to reuse): every file is read and hashed
      const b = await efsbak(["backup", copy, "--vault", vault, "--json"], env);
      expect(b.code).toBe(0);
      // A fallback the operator did not ask for is said, with what to do; one asked for is not.
      if (mode.name === "EFSBAK_NATIVE=0") expect(b.stderr).not.toContain("Native code could not be loaded");
      else expect(b.stderr).toMatch(/Native code could not be loaded: @napi-rs\/blake-hash[^\n]*portable fallback[\s\S]*TMPDIR[^\n]*allow exec/);
      const job = JSON.parse(b.stdout).job;
      expect([job.state, job.bytes_read, job.bytes_new]).toEqual(["COMPLETED", 6_000_000 + 300_000 + 27 + 1025, 0]);

      const target = join(work, `restore-${i}`);
      const r = await efsbak(["restore", JSON.parse(b.stdout).recovery_point, "--vault", vault, "--target", target, "--json"], env);
      expect(r.code).toBe(0);
      const restored = readdirSync(target).filter((n) => n.startsWith("efsbak-restore_"));
      expect(snapshotTree(join(target, restored[0]))).toEqual(snapshotTree(copy));

      const c = await efsbak(["check", "--read-data", "--vault", vault, "--json"], env);
      expect(c.code).toBe(0);
      expect(JSON.parse(c.stdout).problems).toEqual([]);

      // default Argon2id parameters (no EFSBAK_TEST_KDF): made on the fallback, opened natively, and back
      const fallbackPw = `pw-fallback-${i}`;
      expect((await efsbak(["vault", "key", "add", "--vault", vault], { ...env, EFSBAK_NEW_PASSWORD: fallbackPw })).code).toBe(0);
      expect((await efsbak(["recovery-points", "--vault", vault], { EFSBAK_PASSWORD: fallbackPw })).code).toBe(0);
      const nativePw = `pw-native-${i}`;
      expect((await efsbak(["vault", "key", "add", "--vault", vault], { EFSBAK_NEW_PASSWORD: nativePw })).code).toBe(0);
      expect((await efsbak(["recovery-points", "--vault", vault], { ...env, EFSBAK_PASSWORD: nativePw })).code).toBe(0);
      expect((await efsbak(["recovery-points", "--vault", vault], { ...env, EFSBAK_PASSWORD: "not-a-password" })).code).toBe(1);

      if (noexec && mode.name.includes("noexec")) {
        // the binary did try to load its addons there (and could not run them)
        expect(readdirSync(noexec).filter((n) => n.endsWith(".node")).length).toBeGreaterThanOrEqual(2);
      }
    });
  }
});
