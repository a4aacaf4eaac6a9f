/**
 * Issue 14, end to end through dist/efsbak: a tree with what real trees hold (names and link
 * targets that are not UTF-8, xattrs of the user/trusted/security namespaces, access and
 * default ACLs, a capability, devices, a path past PATH_MAX, a sparse file, hard links, a
 * top-level efsbak-lost+found, setuid files) is backed up and restored, and the restore equals
 * the source byte for byte and attribute for attribute (what `rsync -naHAXc --numeric-ids`
 * compares), FIFOs and sockets excepted as documented. Then the same restore as a user who
 * cannot chown: setuid is dropped, and what could not be set is said once per kind.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, chownSync, closeSync, linkSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mknod, setXattr } from "../../src/fs/libc.ts";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { exactTree, readable } from "../support/exact-tree.ts";
import { ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, NO_ID, posixAcl } from "../support/acl.ts";

let work: string;
beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-trust-rt-"));
  chmodSync(work, 0o755);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** user::rw- user:EXTRA:r-- group::r-- mask::r-- other::--- */
function acl(extraUser: number): Buffer {
  return posixAcl([[ACL_USER_OBJ, 6, NO_ID], [ACL_USER, 4, extraUser], [ACL_GROUP_OBJ, 4, NO_ID], [ACL_MASK, 4, NO_ID], [ACL_OTHER, 0, NO_ID]]);
}
const CAPABILITY = Buffer.concat([Buffer.from([0, 0, 0, 2, 0x00, 0x04, 0, 0]), Buffer.alloc(12)]);
const b = (dir: string, ...name: number[]) => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name)]);

function makeSource(src: string): void {
  mkdirSync(src, { mode: 0o750 });
  writeFileSync(b(src, 0x78, 0xff), "a\n");
  writeFileSync(b(src, 0x78, 0xfe), "b\n");
  writeFileSync(Buffer.from(`${src}/x\uFFFD`), "c\n");
  symlinkSync(Buffer.from([0x74, 0xff, 0x2f, 0x75]), b(src, 0x6c, 0xe9));
  const x = join(src, "xattrs");
  writeFileSync(x, "attributes\n");
  setXattr(x, Buffer.from("user.comment"), Buffer.from("hello"));
  setXattr(x, Buffer.from("user.bin"), Buffer.from([0, 255, 1]));
  setXattr(x, Buffer.from("trusted.t"), Buffer.from("trusted"));
  setXattr(x, Buffer.from("security.s"), Buffer.from("sec"));
  setXattr(x, Buffer.from("system.posix_acl_access"), acl(1000));
  const cap = join(src, "cap-bin");
  writeFileSync(cap, "#!/bin/sh\n", { mode: 0o755 });
  setXattr(cap, Buffer.from("security.capability"), CAPABILITY);
  mkdirSync(join(src, "shared"));
  setXattr(join(src, "shared"), Buffer.from("system.posix_acl_default"), acl(1001));
  setXattr(join(src, "shared"), Buffer.from("system.posix_acl_access"), acl(1001));
  mknod(join(src, "null"), 0o20666, (1n << 8n) | 3n);
  mknod(join(src, "loop0"), 0o60660, 7n << 8n);
  let deep = join(src, "deep");
  mkdirSync(deep);
  const fd = openSync(deep, "r");
  let cur = fd;
  for (let i = 0; i < 20; i++) {
    const name = `${"d".repeat(240)}${i}`;
    mkdirSync(`/proc/self/fd/${cur}/${name}`);
    const next = openSync(`/proc/self/fd/${cur}/${name}`, "r");
    if (cur !== fd) closeSync(cur);
    cur = next;
  }
  writeFileSync(`/proc/self/fd/${cur}/leaf`, "deep leaf\n");
  closeSync(cur);
  closeSync(fd);
  const sparse = join(src, "sparse.img");
  writeFileSync(sparse, "");
  truncateSync(sparse, 256 * 2 ** 20);
  const s = openSync(sparse, "r+");
  writeSync(s, Buffer.alloc(70_000, 7), 0, 70_000, 100 * 2 ** 20);
  closeSync(s);
  writeFileSync(join(src, "h1"), "linked\n");
  linkSync(join(src, "h1"), join(src, "h2"));
  mkdirSync(join(src, "efsbak-lost+found"));
  writeFileSync(join(src, "efsbak-lost+found", "mine"), "the source's own\n");
  writeFileSync(join(src, "suid"), "#!/bin/sh\n", { mode: 0o755 });
  chownSync(join(src, "suid"), 1234, 1234);
  chmodSync(join(src, "suid"), 0o4755);
  mkdirSync(join(src, "sgid-dir"), { mode: 0o2775 });
  chmodSync(join(src, "sgid-dir"), 0o2775);
  chownSync(join(src, "sgid-dir"), 0, 1234);
  utimesSync(join(src, "sgid-dir"), 1_600_000_000, 1_600_000_000);
}

test("a real-world tree restores exactly: bytes, xattrs, ACLs, capabilities, devices, long paths, holes, links", async () => {
  const src = join(work, "src");
  makeSource(src);
  const vault = join(work, "vault");
  const backed = await runBinary(["backup", src, "--vault", vault, "--json"], { cwd: work });
  expect({ code: backed.code, stderr: backed.stderr }).toMatchObject({ code: 0 });
  const restored = await runBinary(["restore", "latest", "--vault", vault, "--target", join(work, "out"), "--json"], { cwd: work });
  expect(restored.stderr).toBe("");
  expect(restored.code).toBe(0);
  const result = JSON.parse(restored.stdout);
  expect(result.fragments).toEqual([]);
  expect(result.lost_found).toBe("efsbak-lost+found.1");
  const want = exactTree(src, { rootMeta: true });
  const got = exactTree(result.restore_dir, { rootMeta: true });
  expect(readable(got)).toEqual(readable(want));
  expect(want[Buffer.from("sparse.img").toString("hex")]!.sparse).toBe(true);
  expect(Object.keys(want).length).toBeGreaterThan(30);
}, 120_000);

test("restored by a user who cannot chown: setuid dropped, refused xattrs and devices summarized once per kind", async () => {
  // The user's own copy of the vault (a vault is private to its owner: 0600 files, 0700 folders).
  const vault = join(work, "vault-user");
  expect(Bun.spawnSync(["cp", "-a", join(work, "vault"), vault]).exitCode).toBe(0);
  expect(Bun.spawnSync(["chown", "-R", "65534:65534", vault]).exitCode).toBe(0);
  const out = join(work, "out-user");
  mkdirSync(out);
  chownSync(out, 65534, 65534);
  const user = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ensureBinary(), "restore", "latest", "--vault", vault, "--target", out, "--json"], { cwd: out, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp" } });
  const stderr = user.stderr.toString();
  const doc = JSON.parse(user.stdout.toString() || "{}");
  expect({ code: user.exitCode, stderr }).toMatchObject({ code: 0 });
  const dir = doc.restore_dir as string;
  expect(readdirSync(dir).length).toBeGreaterThan(5);
  const snap = exactTree(dir);
  const suid = snap[Buffer.from("suid").toString("hex")]!;
  expect(suid.mode & 0o6000).toBe(0);
  expect(suid.uid).toBe(65534);
  const warnings = stderr.split("\n").filter((l) => l.includes("Cannot restore"));
  expect(warnings.some((w) => /Cannot restore \d+ extended attributes? of kind "trusted": EPERM/.test(w))).toBe(true);
  expect(warnings.some((w) => /Cannot restore 2 device nodes: only root can create them/.test(w))).toBe(true);
  expect(warnings.filter((w) => w.includes('of kind "trusted"'))).toHaveLength(1);
}, 120_000);
