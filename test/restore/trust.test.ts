/**
 * Restore on real-tree metadata (issue 14): byte names, xattrs and ACLs, devices, root
 * metadata, setuid with a wrong owner, a tree's own efsbak-lost+found, paths of any length.
 * Trees are built in the vault by hand (the backup side has its own tests); restores run as
 * root, as CI does.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getXattr, listXattrs } from "../../src/fs/libc.ts";
import { restore } from "../../src/restore/restore.ts";
import { nameFromBytes } from "../../src/tree/name.ts";
import type { Node, Xattr } from "../../src/tree/node.ts";
import { bytes } from "../support/tree.ts";
import { fakeRecoveryPoint, nodes, storeChunks, storeTree, testVault } from "../support/vault.ts";
import { ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, NO_ID, posixAcl } from "../support/acl.ts";

let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-trust-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const T1 = new Date("2026-03-02T10:00:00Z");
const A = bytes(3000, 1);
const B = bytes(3000, 2);
const C = bytes(3000, 3);
const raw = (...b: number[]) => Buffer.from(b);
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

/** A POSIX ACL xattr value: user::rw- user:1000:r-- group::r-- mask::r-- other::r--. */
function acl(): Buffer {
  return posixAcl([[ACL_USER_OBJ, 6, NO_ID], [ACL_USER, 4, 1000], [ACL_GROUP_OBJ, 4, NO_ID], [ACL_MASK, 4, NO_ID], [ACL_OTHER, 4, NO_ID]]);
}

/** security.capability v2: cap_net_bind_service permitted. */
const CAPABILITY = Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from([0x00, 0x04, 0, 0]), Buffer.alloc(12)]);

test("names and link targets that are not UTF-8 come back byte for byte, none collapse", async () => {
  const vault = await testVault();
  const [a, b, c] = await storeChunks(vault, [A, B, C]);
  const names = [raw(0x78, 0xff), raw(0x78, 0xfe), Buffer.from("x\uFFFD")];
  const root = await storeTree(vault, [
    nodes.file(nameFromBytes(names[0]!), [a], A.length),
    nodes.file(nameFromBytes(names[1]!), [b], B.length),
    nodes.file(nameFromBytes(names[2]!), [c], C.length),
    nodes.symlink(nameFromBytes(raw(0x6c, 0xe9)), nameFromBytes(raw(0x74, 0xff, 0x2f, 0x75))),
  ]);
  const r = await restore(vault, fakeRecoveryPoint(root), join(tmp, "out"), { now: T1 });
  expect(r.fragments).toEqual([]);
  const dir = Buffer.from(r.restoreDir + "/");
  const got = readdirSync(dir, { encoding: "buffer" }).map((n) => n.toString("hex")).sort();
  expect(got).toEqual([...names, raw(0x6c, 0xe9)].map((n) => n.toString("hex")).sort());
  expect(readFileSync(Buffer.concat([dir, names[0]!]))).toEqual(Buffer.from(A));
  expect(readFileSync(Buffer.concat([dir, names[1]!]))).toEqual(Buffer.from(B));
  expect(readFileSync(Buffer.concat([dir, names[2]!]))).toEqual(Buffer.from(C));
  expect(readlinkSync(Buffer.concat([dir, raw(0x6c, 0xe9)]), { encoding: "buffer" })).toEqual(raw(0x74, 0xff, 0x2f, 0x75));
});

test("xattrs of every namespace, POSIX ACLs and capabilities are restored (root)", async () => {
  const vault = await testVault();
  const [a] = await storeChunks(vault, [A]);
  const set: Xattr[] = [
    ["security.capability", b64(CAPABILITY)],
    ["system.posix_acl_access", b64(acl())],
    ["trusted.t", b64(Buffer.from("trusted value"))],
    ["user.bin", b64(raw(0, 1, 2, 255))],
    ["user.empty", ""],
  ];
  const sub = await storeTree(vault, [nodes.file("inner", [a], A.length)]);
  const root = await storeTree(vault, [
    { ...nodes.file("f", [a], A.length, { mode: 0o644 }), xattrs: set } as Node,
    { ...nodes.dir("d", sub), xattrs: [["system.posix_acl_default", b64(acl())], ["user.d", b64(Buffer.from("dir"))]] } as Node,
  ]);
  const r = await restore(vault, fakeRecoveryPoint(root), join(tmp, "out"), { now: T1, chown: true });
  expect(r.warnings).toEqual([]);
  const f = join(r.restoreDir, "f");
  const names = listXattrs(f).map(String).sort();
  expect(names).toEqual(set.map(([n]) => n));
  for (const [n, v] of set) expect(getXattr(f, Buffer.from(n))!.toString("base64")).toBe(v);
  const d = join(r.restoreDir, "d");
  expect(getXattr(d, Buffer.from("system.posix_acl_default"))).toEqual(acl());
  expect(getXattr(d, Buffer.from("user.d"))!.toString()).toBe("dir");
  // The default ACL is inherited by what the restore then creates inside: the restore's own.
  expect(readFileSync(join(d, "inner"))).toEqual(Buffer.from(A));
});

test("xattrs a file system refuses are summarized once per kind, and the restore goes on", async () => {
  // tmpfs on this machine takes user.* only where the kernel allows; a name without a known
  // namespace is refused everywhere (EOPNOTSUPP), which stands in for a file system without xattrs.
  const vault = await testVault();
  const [a] = await storeChunks(vault, [A]);
  const entries: Node[] = [];
  for (let i = 0; i < 5; i++) entries.push({ ...nodes.file(`f${i}`, [a], A.length), xattrs: [["bogus.x", b64(Buffer.from("v"))]] } as Node);
  const r = await restore(vault, fakeRecoveryPoint(await storeTree(vault, entries)), join(tmp, "out"), { now: T1 });
  expect(r.fragments).toEqual([]);
  expect(r.files).toBe(5);
  expect(r.warnings).toHaveLength(1);
  expect(r.warnings[0]).toMatch(/^Cannot restore 5 extended attributes of kind "bogus": EOPNOTSUPP/);
});

test("character and block devices are made as root", async () => {
  const vault = await testVault();
  const root = await storeTree(vault, [
    { name: "null", type: "chardev", mode: 0o666, uid: 0, gid: 0, mtime: "1700000000000000000", rdev: String((1 << 8) | 3) },
    { name: "blk", type: "blockdev", mode: 0o640, uid: 0, gid: 6, mtime: "1700000000000000000", rdev: String((7 << 8) | 0) },
  ]);
  const r = await restore(vault, fakeRecoveryPoint(root), join(tmp, "out"), { now: T1, chown: true });
  expect(r.warnings).toEqual([]);
  expect(r.devices).toBe(2);
  const n = lstatSync(join(r.restoreDir, "null"));
  expect(n.isCharacterDevice()).toBe(true);
  expect(n.rdev).toBe(259);
  expect(n.mode & 0o7777).toBe(0o666);
  const b = lstatSync(join(r.restoreDir, "blk"), { bigint: true });
  expect(b.isBlockDevice()).toBe(true);
  expect(Number(b.rdev)).toBe(7 << 8);
  expect(Number(b.gid)).toBe(6);
  expect(b.mtimeNs).toBe(1700000000000000000n);
});

test("the root's own mode, owner and mtime are set on the restore directory at the end", async () => {
  const vault = await testVault();
  const [a] = await storeChunks(vault, [A]);
  const root = await storeTree(vault, [nodes.file("f", [a], A.length)]);
  const rp = fakeRecoveryPoint(root, { root: { mode: 0o2751, uid: 1234, gid: 5678, mtime: "1600000000123456789", xattrs: [["user.root", b64(Buffer.from("r"))]] } });
  const r = await restore(vault, rp, join(tmp, "out"), { now: T1, chown: true });
  const st = lstatSync(r.restoreDir, { bigint: true });
  expect(Number(st.mode & 0o7777n)).toBe(0o2751);
  expect([Number(st.uid), Number(st.gid)]).toEqual([1234, 5678]);
  expect(st.mtimeNs).toBe(1600000000123456789n);
  expect(getXattr(r.restoreDir, Buffer.from("user.root"))!.toString()).toBe("r");
});

test("setuid and setgid are dropped when the owner cannot be set exactly", async () => {
  const vault = await testVault();
  const [a] = await storeChunks(vault, [A]);
  const root = await storeTree(vault, [
    nodes.file("exact", [a], A.length, { mode: 0o4755, uid: 4321, gid: 4321 }),
    nodes.file("minus-one", [a], A.length, { mode: 0o6755, uid: 4294967295, gid: 4294967295 }),
    nodes.file("no-chown", [a], A.length, { mode: 0o4755, uid: 4321, gid: 4321, ino: "77" }),
  ]);
  const withChown = await restore(vault, fakeRecoveryPoint(root), join(tmp, "a"), { now: T1, chown: true });
  expect(lstatSync(join(withChown.restoreDir, "exact")).mode & 0o7777).toBe(0o4755);
  expect(lstatSync(join(withChown.restoreDir, "exact")).uid).toBe(4321);
  expect(lstatSync(join(withChown.restoreDir, "minus-one")).mode & 0o7777).toBe(0o755);
  expect(lstatSync(join(withChown.restoreDir, "minus-one")).uid).toBe(0);
  const without = await restore(vault, fakeRecoveryPoint(root), join(tmp, "b"), { now: T1, chown: false });
  expect(lstatSync(join(without.restoreDir, "no-chown")).mode & 0o7777).toBe(0o755);
});

test("a symlink as --target is refused, nothing is written through it", async () => {
  const vault = await testVault();
  const [a] = await storeChunks(vault, [A]);
  const root = await storeTree(vault, [nodes.file("f", [a], A.length)]);
  mkdirSync(join(tmp, "elsewhere"));
  symlinkSync(join(tmp, "elsewhere"), join(tmp, "link"));
  await expect(restore(vault, fakeRecoveryPoint(root), join(tmp, "link"), { now: T1 })).rejects.toThrow(/is a symbolic link; nothing was written/);
  expect(readdirSync(join(tmp, "elsewhere"))).toEqual([]);
});
