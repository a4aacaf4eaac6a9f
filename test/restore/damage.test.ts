import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { restore } from "../../src/restore/restore.ts";
import { localStorage } from "../../src/storage/local.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import type { Storage } from "../../src/storage/storage.ts";
import type { FileNode } from "../../src/tree/node.ts";
import { bytes, dir, expectTree, file, hardlink, makeTree, snapshotTree, symlink } from "../support/tree.ts";
import { blobLocation, flipBlobByte, nodeAt, removePackOf, reopenVault, testVault } from "../support/vault.ts";

const T0 = new Date("2026-03-01T10:00:00.000Z");
const T1 = new Date("2026-03-02T10:00:00.000Z");
let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-dmg-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const A = bytes(40_000, 1);
const B = bytes(60_000, 2);
const C = bytes(30_000, 3);

function manifest(restoreDir: string) {
  return JSON.parse(readFileSync(join(restoreDir, "efsbak-lost+found", "MANIFEST.json"), "utf8"));
}

/** Backs up a small tree into a vault on `storage`; returns what the tests need. */
async function setup(storage: Storage) {
  const src = join(tmp, "src");
  makeTree(src, {
    a: A,
    sub: dir({ b: file(B, { mode: 0o640, mtime: 1_600_000_000_000_000_123n }), c: C }),
    empty: "",
    l: symlink("a"),
    emptydir: {},
  });
  const vault = await testVault({ storage });
  const { rp } = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
  return { src, vault, rp, snap: snapshotTree(src) };
}

/** Offset in the file and length of chunk i of a file node. */
function chunkRange(vault: Awaited<ReturnType<typeof testVault>>, node: FileNode, i: number): [number, number] {
  let at = 0;
  for (let k = 0; k < i; k++) at += blobLocation(vault, node.content[k]).rawLength;
  return [at, at + blobLocation(vault, node.content[i]).rawLength];
}

const backends: [string, () => Storage][] = [
  ["memory", () => memoryStorage()],
  ["local", () => localStorage(join(tmp, "vault"))],
];

for (const [name, open] of backends) {
  describe(`damaged data (${name} storage)`, () => {
    test("a flipped byte: the damaged file goes to lost+found with a zero-filled hole, the rest is in place", async () => {
      const { vault, rp, snap, src } = await setup(open());
      const b = (await nodeAt(vault, rp.tree, "sub/b")) as FileNode;
      expect(b.content.length).toBeGreaterThan(3);
      const [start, end] = chunkRange(vault, b, 2);
      await flipBlobByte(vault, b.content[2], 7);
      const r = await restore(await reopenVault(vault), rp, join(tmp, "out"), { now: T1 });

      expect(r.partial).toBe(true);
      const expected = { ...snap };
      delete expected["sub/b"];
      expect(snapshotTree(r.restoreDir, { ignore: ["efsbak-lost+found"] })).toEqual(expected);
      expect(r.fragments).toEqual([{ name: "0001-b", original_path: "sub/b", inode: String(lstatSync(join(src, "sub/b")).ino), size: B.length, reason: "missing or corrupt data", missing_ranges: [[start, end]] }]);
      expect(manifest(r.restoreDir)).toEqual({ rp: rp.id, lost_found: "efsbak-lost+found", fragments: r.fragments });

      const salvaged = readFileSync(join(r.restoreDir, "efsbak-lost+found", "0001-b"));
      expect(salvaged.length).toBe(B.length);
      expect(salvaged.subarray(0, start)).toEqual(Buffer.from(B.subarray(0, start)));
      expect(salvaged.subarray(end)).toEqual(Buffer.from(B.subarray(end)));
      expect(salvaged.subarray(start, end).every((x) => x === 0)).toBe(true);
      expect(statSync(join(r.restoreDir, "efsbak-lost+found", "0001-b"), { bigint: true }).mtimeNs).toBe(1_600_000_000_000_000_123n);
      expect(r.files).toBe(3); // a, c, empty
    });

    test("a removed data pack: every file with data goes to lost+found, all of it missing", async () => {
      const { vault, rp, snap } = await setup(open());
      const a = (await nodeAt(vault, rp.tree, "a")) as FileNode;
      await removePackOf(vault, a.content[0]);
      const r = await restore(await reopenVault(vault), rp, join(tmp, "out"), { now: T1 });
      const byPath = Object.fromEntries(r.fragments.map((f) => [f.original_path, f]));
      expect(Object.keys(byPath).sort()).toEqual(["a", "sub/b", "sub/c"]);
      expect(byPath["a"].missing_ranges).toEqual([[0, A.length]]);
      expect(byPath["sub/b"].missing_ranges).toEqual([[0, B.length]]);
      for (const f of r.fragments) {
        expect(f.reason).toBe("missing or corrupt data");
        const st = statSync(join(r.restoreDir, "efsbak-lost+found", f.name));
        expect(st.size).toBe(f.size);
        expect(st.blocks).toBe(0); // nothing written: all hole
      }
      const inPlace = snapshotTree(r.restoreDir, { ignore: ["efsbak-lost+found"] });
      expect(Object.keys(inPlace).sort()).toEqual(["empty", "emptydir", "l", "sub"]);
      expect(inPlace["l"]).toEqual(snap["l"]);
      expect(inPlace["empty"]).toEqual(snap["empty"]);
    });
  });
}

test("a truncated pack: blobs past the cut are missing, everything in place is whole", async () => {
  const { vault, rp, snap } = await setup(localStorage(join(tmp, "vault")));
  const b = (await nodeAt(vault, rp.tree, "sub/b")) as FileNode;
  const [start, end] = chunkRange(vault, b, 2);
  const loc = blobLocation(vault, b.content[2]);
  const data = await vault.storage.load(loc.key);
  await vault.storage.save(loc.key, data.subarray(0, loc.offset + 3));
  const r = await restore(await reopenVault(vault), rp, join(tmp, "out"), { now: T1 });
  const fb = r.fragments.find((f) => f.original_path === "sub/b");
  expect(fb?.missing_ranges.some(([s, e]) => s <= start && e >= end)).toBe(true);
  const inPlace = snapshotTree(r.restoreDir, { ignore: ["efsbak-lost+found"] });
  for (const [path, e] of Object.entries(inPlace)) if (e.type === "file") expect(e).toEqual(snap[path]);
  expect(inPlace["sub/b"]).toBeUndefined();
});

test("a lost directory listing: the directory is created empty and listed in the manifest", async () => {
  const { vault, rp, snap } = await setup(memoryStorage());
  const sub = await nodeAt(vault, rp.tree, "sub");
  if (sub.type !== "dir") throw new Error("sub is not a dir");
  await flipBlobByte(vault, sub.subtree, 3);
  const r = await restore(await reopenVault(vault), rp, join(tmp, "out"), { now: T1 });
  expect(r.fragments).toEqual([{ name: "sub", original_path: "sub", inode: null, size: 0, reason: "directory listing lost", missing_ranges: [] }]);
  expect(readdirSync(join(r.restoreDir, "sub"))).toEqual([]);
  const inPlace = snapshotTree(r.restoreDir, { ignore: ["efsbak-lost+found"] });
  expect(inPlace["a"]).toEqual(snap["a"]);
  expect(inPlace["sub"].mode).toBe(snap["sub"].mode);
  expect(manifest(r.restoreDir).fragments).toHaveLength(1);
});

test("a damaged hard-link group: every member is salvaged, with the same hole", async () => {
  const src = join(tmp, "src");
  const H = bytes(30_000, 5);
  makeTree(src, { h1: H, d: { h2: hardlink("h1") }, h3: hardlink("h1"), ok: "fine" });
  const vault = await testVault();
  const { rp } = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
  const h = (await nodeAt(vault, rp.tree, "h1")) as FileNode;
  const [start, end] = chunkRange(vault, h, 1);
  await flipBlobByte(vault, h.content[1]);
  const r = await restore(await reopenVault(vault), rp, join(tmp, "out"), { now: T1 });
  const byPath = Object.fromEntries(r.fragments.map((f) => [f.original_path, f]));
  expect(Object.keys(byPath).sort()).toEqual(["d/h2", "h1", "h3"]);
  // Directories are walked side by side, so which member comes first (and holds the content) varies;
  // exactly one does, the others are copies of it.
  const reasons = r.fragments.map((f) => f.reason).sort();
  expect(reasons).toEqual(["hard link group cannot be rebuilt; missing or corrupt data", "hard link group cannot be rebuilt; missing or corrupt data", "missing or corrupt data"]);
  for (const f of r.fragments) {
    expect(f.missing_ranges).toEqual([[start, end]]);
    const got = readFileSync(join(r.restoreDir, "efsbak-lost+found", f.name));
    expect(got.subarray(0, start)).toEqual(Buffer.from(H.subarray(0, start)));
    expect(got.subarray(start, end).every((x) => x === 0)).toBe(true);
  }
  expectTree(r.restoreDir, { ok: "fine", d: {} }, { ignore: ["efsbak-lost+found"] });
  expect(existsSync(join(r.restoreDir, "h1"))).toBe(false);
});

test("a lost directory listing is salvaged from another recovery point of the resource into lost+found", async () => {
  const { vault, rp: first, src } = await setup(memoryStorage());
  makeTree(join(src, "sub"), { d: "added later" });
  const v2 = await reopenVault(vault);
  const { rp: second } = await backup(v2, src, { resource: "r", now: T1, jobId: "j2", parent: first });
  const sub = await nodeAt(v2, second.tree, "sub");
  if (sub.type !== "dir") throw new Error("sub is not a dir");
  await flipBlobByte(v2, sub.subtree, 3);
  const r = await restore(await reopenVault(v2), second, join(tmp, "out"), { now: T1, others: [first] });
  const f = r.fragments.find((x) => x.original_path === "sub");
  expect(f?.reason).toBe(`directory listing lost; recovered from recovery point ${first.id}, which may differ`);
  expect(readdirSync(join(r.restoreDir, "sub"))).toEqual([]);
  const salvaged = join(r.restoreDir, "efsbak-lost+found", f!.name);
  expect(readdirSync(salvaged).sort()).toEqual(["b", "c"]);
  expect(Buffer.from(readFileSync(join(salvaged, "b"))).equals(Buffer.from(B))).toBe(true);
  expect(r.partial).toBe(true);
});
