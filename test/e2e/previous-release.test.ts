/**
 * A vault written by the previous release (fixtures/v2-encrypted: efsbak at ac6b3b0, whose
 * BLAKE3 and Argon2id were WebAssembly kernels) under this release's binary, whose are native
 * addons: it unlocks, restores byte for byte (names as bytes, xattrs, the symlink), passes
 * `check --read-data` (every blob hashed again to its id), and a backup of the same content
 * stores no new data, so both releases give every chunk the same id.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setXattr } from "../../src/fs/libc.ts";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { type ExactEntry, exactTree } from "../support/exact-tree.ts";

const FIXTURE = join(import.meta.dir, "../vault/fixtures/v2-encrypted/vault");
const env = { EFSBAK_PASSWORD: "round-2-pw" };
let work: string;
let vault: string;

/** The fixture's source tree, as its README says it was made. */
function makeSource(root: string): void {
  mkdirSync(join(root, "sub"), { recursive: true });
  writeFileSync(join(root, "a.txt"), "hello from round 2\n");
  const lines: string[] = [];
  for (let i = 0; i < 40_000; i++) lines.push(`line ${i} ${(i * 2654435761) >>> 0} of a log that spans several chunks`);
  writeFileSync(join(root, "sub/log.txt"), `${lines.join("\n")}\n`);
  writeFileSync(Buffer.concat([Buffer.from(join(root, "sub/")), Buffer.from([0x6e, 0xff, 0x2e, 0x62, 0x69, 0x6e])]), "a name that is not UTF-8\n");
  symlinkSync("sub/log.txt", join(root, "link"));
  setXattr(join(root, "a.txt"), Buffer.from("user.note"), Buffer.from("kept"));
}

/** What the content decides (times and owners are the source's of that day, not this one's). */
function content(root: string): Record<string, Pick<ExactEntry, "type" | "size" | "sha" | "target" | "xattrs">> {
  const out: Record<string, Pick<ExactEntry, "type" | "size" | "sha" | "target" | "xattrs">> = {};
  for (const [path, e] of Object.entries(exactTree(root))) if (path !== "") out[path] = { type: e.type, size: e.size, sha: e.sha, target: e.target, xattrs: e.xattrs };
  return out;
}

beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-previous-"));
  vault = join(work, "vault");
  cpSync(FIXTURE, vault, { recursive: true });
  makeSource(join(work, "src"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

test("the previous release's vault restores exactly, checks clean, and its chunk ids are this release's", async () => {
  const target = join(work, "restore");
  const r = await runBinary(["restore", "latest", "--vault", vault, "--target", target, "--json"], { cwd: work, env });
  expect(r.code).toBe(0);
  const restored = join(target, readdirSync(target).find((n) => n.startsWith("efsbak-restore_"))!);
  const got = content(restored);
  expect(Object.keys(got).length).toBe(5);
  expect(got).toEqual(content(join(work, "src")));

  const c = await runBinary(["check", "--read-data", "--vault", vault, "--json"], { cwd: work, env });
  expect(c.code).toBe(0);
  expect(JSON.parse(c.stdout).problems).toEqual([]);

  const b = await runBinary(["backup", join(work, "src"), "--vault", vault, "--json"], { cwd: work, env });
  expect(b.code).toBe(0);
  const job = JSON.parse(b.stdout).job;
  // every file read (19 + 2,258,535 + 25 bytes: another path, so no parent to reuse), nothing new stored
  expect([job.state, job.bytes_read, job.bytes_new]).toEqual(["COMPLETED", 2_258_579, 0]);
});
