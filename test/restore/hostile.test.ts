import { afterEach, beforeEach, expect, test } from "bun:test";
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { restore } from "../../src/restore/restore.ts";
import { bytes, expectTree } from "../support/tree.ts";
import { fakeRecoveryPoint, nodes, storeChunks, storeRawTree, storeTree, testVault } from "../support/vault.ts";

const T1 = new Date("2026-03-02T10:00:00.000Z");
const X = bytes(5000, 1);
const Y = bytes(3000, 2);
let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-hostile-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

function lf(restoreDir: string, name: string, dir = "efsbak-lost+found") {
  return join(restoreDir, dir, name);
}

test("a hostile tree writes nothing outside the restore directory; bad names go to lost+found", async () => {
  const canary = join(tmp, "canary");
  mkdirSync(canary);
  const vault = await testVault();
  const [x, y] = await storeChunks(vault, [X, Y]);
  const inner = await storeTree(vault, [nodes.file("pwned", [x], X.length)]);
  const escape = await storeTree(vault, [nodes.file("pwned2", [y], Y.length)]);
  const rootId = "ab".repeat(32);
  await storeRawTree(vault, [
    nodes.file("..", [x], X.length),
    nodes.file("a/b", [x], X.length),
    nodes.file("", [y], Y.length),
    nodes.file("x\0y", [y], Y.length),
    nodes.file("dup", [x], X.length),
    nodes.file("dup", [y], Y.length),
    nodes.symlink("s", canary),
    nodes.dir("s", inner),
    nodes.dir("../esc", escape),
    nodes.dir("efsbak-lost+found", escape),
    nodes.dir("loop", rootId),
    nodes.dir("ok", inner),
  ], rootId);
  const out = join(tmp, "out");
  const r = await restore(vault, fakeRecoveryPoint(rootId), out, { now: T1 });

  expect(readdirSync(canary)).toEqual([]);
  expect(readdirSync(out)).toEqual([readdirSync(out)[0]]);
  expect(readdirSync(tmp).sort()).toEqual(["canary", "out"]);
  expect(readlinkSync(join(r.restoreDir, "s"))).toBe(canary);
  // The tree's own efsbak-lost+found comes back in place; the restore's takes the next free name.
  expect(r.lostFound).toBe("efsbak-lost+found.1");
  expectTree(r.restoreDir, { dup: X, loop: {}, ok: { pwned: X }, "efsbak-lost+found": { pwned2: Y } }, { ignore: ["efsbak-lost+found.1", "s"] });

  expect(r.fragments.map((f) => [f.name, f.original_path, f.reason])).toEqual([
    ["0001-..", "..", "unsafe name"],
    ["0002-a_b", "a/b", "unsafe name"],
    ["0003-unnamed", "", "unsafe name"],
    ["0004-x_y", "x\\x00y", "unsafe name"],
    ["0005-dup", "dup", "duplicate name"],
    ["0006-s", "s", "duplicate name"],
    ["0007-.._esc", "../esc", "unsafe name"],
    ["loop", "loop", "directory refers to itself"],
  ]);
  expect(readFileSync(lf(r.restoreDir, "0001-..", r.lostFound))).toEqual(Buffer.from(X));
  expect(readFileSync(lf(r.restoreDir, "0005-dup", r.lostFound))).toEqual(Buffer.from(Y));
  expect(readFileSync(lf(r.restoreDir, "0006-s/pwned", r.lostFound))).toEqual(Buffer.from(X));
  expect(readFileSync(lf(r.restoreDir, "0007-.._esc/pwned2", r.lostFound))).toEqual(Buffer.from(Y));
  const manifest = JSON.parse(readFileSync(lf(r.restoreDir, "MANIFEST.json", r.lostFound), "utf8"));
  expect(manifest.fragments[3].original_path).toBe("x\\x00y");
  expect(manifest.lost_found).toBe("efsbak-lost+found.1");
  expect(r.partial).toBe(true);
});

test("a symlink and a directory of the same name in a subdirectory: the link is never a parent", async () => {
  const canary = join(tmp, "canary");
  mkdirSync(canary);
  const vault = await testVault();
  const [x] = await storeChunks(vault, [X]);
  const payload = await storeTree(vault, [nodes.file("f", [x], X.length), nodes.symlink("deeper", canary)]);
  const d = await storeRawTree(vault, [nodes.symlink("x", canary), nodes.dir("x", payload), nodes.file("x", [x], X.length)]);
  const root = await storeTree(vault, [nodes.dir("d", d)]);
  const r = await restore(vault, fakeRecoveryPoint(root), join(tmp, "out"), { now: T1 });
  expect(readdirSync(canary)).toEqual([]);
  expect(lstatSync(join(r.restoreDir, "d/x")).isSymbolicLink()).toBe(true);
  expect(r.fragments.map((f) => [f.name, f.reason])).toEqual([["0001-x", "duplicate name"], ["0002-x", "duplicate name"]]);
  expect(readFileSync(lf(r.restoreDir, "0001-x/f"))).toEqual(Buffer.from(X));
  expect(readFileSync(lf(r.restoreDir, "0002-x"))).toEqual(Buffer.from(X));
});

test("entries marked inconsistent: files to lost+found as read, directories in place with a warning", async () => {
  const vault = await testVault();
  const [x, y] = await storeChunks(vault, [X, Y]);
  const inner = await storeTree(vault, [nodes.file("f", [y], Y.length)]);
  const root = await storeTree(vault, [
    nodes.file("changing", [x, y], X.length + Y.length, { inconsistent: true, mtime: "1700000000000000042" }),
    nodes.dir("moving", inner, { inconsistent: true }),
  ]);
  const warnings: string[] = [];
  const r = await restore(vault, fakeRecoveryPoint(root), join(tmp, "out"), { now: T1, onWarning: (w) => warnings.push(w) });
  expect(r.fragments).toEqual([{ name: "0001-changing", original_path: "changing", inode: "1008", size: X.length + Y.length, reason: "changed during backup", missing_ranges: [] }]);
  const content = readFileSync(lf(r.restoreDir, "0001-changing"));
  expect(content).toEqual(Buffer.concat([X, Y]));
  expect(lstatSync(lf(r.restoreDir, "0001-changing"), { bigint: true }).mtimeNs).toBe(1700000000000000042n);
  expectTree(r.restoreDir, { moving: { f: Y } }, { ignore: ["efsbak-lost+found"] });
  expect(warnings).toEqual(['Directory "moving" changed during the backup: restored in place, its listing may be incomplete']);
  expect(r.warnings).toEqual(warnings);
});

test("chunks that do not add up to the size, or that no index knows, leave exact holes", async () => {
  const vault = await testVault();
  const [x, y] = await storeChunks(vault, [X, Y]);
  const ghost = "00".repeat(32);
  const root = await storeTree(vault, [
    nodes.file("short", [x], 6000),
    nodes.file("long", [x, y], 6000),
    nodes.file("ghost", [x, ghost, y], X.length + 1000 + Y.length),
    nodes.file("garbage-id", [x, "zz", y], X.length + 10 + Y.length),
    nodes.file("two-ghosts", [x, ghost, "11".repeat(32), y], 20_000),
  ]);
  const r = await restore(vault, fakeRecoveryPoint(root), join(tmp, "out"), { now: T1 });
  const by = Object.fromEntries(r.fragments.map((f) => [f.original_path, f]));
  expect(by["short"]).toMatchObject({ reason: "chunk lengths do not match the file size", missing_ranges: [[5000, 6000]], size: 6000 });
  expect(by["long"]).toMatchObject({ reason: "chunk lengths do not match the file size", missing_ranges: [] });
  expect(by["ghost"]).toMatchObject({ reason: "missing or corrupt data", missing_ranges: [[5000, 6000]] });
  expect(by["garbage-id"]).toMatchObject({ reason: "missing or corrupt data", missing_ranges: [[5000, 5010]] });
  expect(by["two-ghosts"]).toMatchObject({ reason: "missing or corrupt data", missing_ranges: [[5000, 20_000 - 3000]] });
  const ghostFile = readFileSync(lf(r.restoreDir, by["ghost"].name));
  expect(ghostFile).toEqual(Buffer.concat([X, new Uint8Array(1000), Y]));
  const two = readFileSync(lf(r.restoreDir, by["two-ghosts"].name));
  expect(two.subarray(20_000 - 3000)).toEqual(Buffer.from(Y));
  expect(readFileSync(lf(r.restoreDir, by["long"].name))).toEqual(Buffer.concat([X, Y]).subarray(0, 6000));
  expect(readdirSync(r.restoreDir)).toEqual(["efsbak-lost+found"]);
});

test("hostile metadata (bad owner, mode and time values) does not stop the restore", async () => {
  const vault = await testVault();
  const [x] = await storeChunks(vault, [X]);
  const root = await storeTree(vault, [
    nodes.file("f", [x], X.length, { uid: -5, gid: "x", mode: 0o7777777, mtime: "not a number" }),
    nodes.symlink("l", "f"),
  ]);
  const r = await restore(vault, fakeRecoveryPoint(root), join(tmp, "out"), { now: T1, chown: true });
  expect(r.fragments).toEqual([]);
  expect(readFileSync(join(r.restoreDir, "f"))).toEqual(Buffer.from(X));
  // The owner could not be set as recorded (uid -5): setuid and setgid are dropped, the rest kept.
  expect(lstatSync(join(r.restoreDir, "f")).mode & 0o7777).toBe(0o1777);
});

test("paths longer than PATH_MAX restore in place; uncreatable symlinks are salvaged, not fatal", async () => {
  const vault = await testVault();
  const [x] = await storeChunks(vault, [X]);
  let tree = await storeTree(vault, [nodes.file("leaf", [x], X.length)]);
  const long = "n".repeat(250);
  for (let i = 0; i < 20; i++) tree = await storeTree(vault, [nodes.dir(long, tree)]);
  const root = await storeTree(vault, [nodes.dir("deep", tree), nodes.symlink("nul", "a\0b"), nodes.symlink("empty", ""), nodes.symlink("fine", "x")]);
  const r = await restore(vault, fakeRecoveryPoint(root), join(tmp, "out"), { now: T1 });
  expect(r.fragments.filter((f) => f.reason.includes("ENAMETOOLONG"))).toEqual([]);
  // 20 x 251 bytes below "deep": walk down by descriptors (the path is too long to name at once).
  let fd = openSync(join(r.restoreDir, "deep"), "r");
  for (let i = 0; i < 20; i++) {
    expect(readdirSync(`/proc/self/fd/${fd}`)).toEqual([long]);
    const next = openSync(`/proc/self/fd/${fd}/${long}`, "r");
    closeSync(fd);
    fd = next;
  }
  expect(readFileSync(`/proc/self/fd/${fd}/leaf`)).toEqual(Buffer.from(X));
  closeSync(fd);
  const links = r.fragments.filter((f) => f.reason.endsWith("saved as a file holding the link target"));
  expect(links.map((f) => f.original_path).sort()).toEqual(["empty", "nul"]);
  expect(readFileSync(lf(r.restoreDir, links.find((f) => f.original_path === "nul")!.name), "utf8")).toBe("a\0b");
  expect(readlinkSync(join(r.restoreDir, "fine"))).toBe("x");
});
