import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { EfsbakError } from "../../src/errors.ts";
import { restore, restoreDirName } from "../../src/restore/restore.ts";
import { type TreeSpec, bytes, dir, expectTree, file, hardlink, makeTree, snapshotTree, symlink } from "../support/tree.ts";
import { openVault } from "../../src/vault/vault.ts";
import { setXattr } from "../../src/fs/libc.ts";
import { ACL_GROUP_OBJ, ACL_OTHER, ACL_USER_OBJ, NO_ID, posixAcl } from "../support/acl.ts";
import type { Node } from "../../src/tree/node.ts";
import { fakeRecoveryPoint, nodes, storeChunks, storeTree, testVault } from "../support/vault.ts";

const IS_ROOT = process.getuid?.() === 0;
const T0 = new Date("2026-03-01T10:00:00.000Z");
let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-rt-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** A tree with every kind of entry the contract names. */
function everyKind(): TreeSpec {
  return {
    "regular.txt": file("hello\n", { mode: 0o644, mtime: 1_700_000_000_123_456_789n }),
    empty: file("", { mtime: 1_600_000_000_000_000_001n }),
    "big.bin": bytes(300_000, 7),
    "name with spaces é ü 日本.txt": file("unicode", { mtime: 1_650_000_000_999_999_999n }),
    "new\nline": "newline in the name",
    private: file("secret", { mode: 0o600 }),
    exec: file("#!/bin/sh\necho hi\n", { mode: 0o755 }),
    ...(IS_ROOT ? { suid: file("setuid", { mode: 0o4755 }), owned: file("by someone else", { uid: 1234, gid: 5678, mode: 0o640 }) } : {}),
    emptydir: dir({}, { mode: 0o750, mtime: 1_690_000_000_000_000_123n }),
    sticky: dir({ f: "x" }, { mode: 0o1777 }),
    nested: dir({
      deeper: dir({ deepest: dir({ "leaf.txt": bytes(50_000, 3) }, { mtime: 1_680_000_000_000_000_042n }) }),
      "hl-b": hardlink("hard1"),
    }, { mode: 0o700, mtime: 1_670_000_000_555_555_555n }),
    "link-rel": symlink("regular.txt", { mtime: 1_500_000_000_000_000_007n }),
    "link-dangling": symlink("does/not/exist"),
    "link-abs": symlink("/etc/passwd"),
    "link-dir": symlink("nested/deeper"),
    hard1: file(bytes(20_000, 9), { mode: 0o640 }),
    "hl-a": hardlink("hard1"),
  };
}

describe("restore(backup(tree)) equals tree", () => {
  test("every kind of entry, with modes, mtime ns, owners and hard-link groups", async () => {
    const src = join(tmp, "src");
    makeTree(src, everyKind());
    const before = snapshotTree(src);
    const vault = await testVault();
    const { rp } = await backup(vault, src, { resource: "r", now: T0, jobId: "j1" });
    const r = await restore(vault, rp, join(tmp, "out"), { now: new Date("2026-03-02T00:00:00.000Z"), chown: IS_ROOT });
    expect(r.restoreDir).toBe(join(tmp, "out", "efsbak-restore_2026-03-02T00-00-00-000Z"));
    expect(r.fragments).toEqual([]);
    expect(r.partial).toBe(false);
    expect(existsSync(join(r.restoreDir, "efsbak-lost+found"))).toBe(false);
    const after = snapshotTree(r.restoreDir);
    expect(after).toEqual(before);
    // The comparison covers what matters; spot-check a few facts so a broken snapshot cannot hide them.
    expect(after["regular.txt"].mtimeNs).toBe("1700000000123456789");
    expect(after["nested"].mtimeNs).toBe("1670000000555555555");
    expect(after["link-rel"].mtimeNs).toBe("1500000000000000007");
    expect(after["hl-a"].link).toBe("hard1");
    expect(after["nested/hl-b"].link).toBe("hard1");
    expect(lstatSync(join(r.restoreDir, "hl-a")).ino).toBe(lstatSync(join(r.restoreDir, "hard1")).ino);
    if (IS_ROOT) {
      expect(after["suid"].mode).toBe(0o4755);
      expect([after["owned"].uid, after["owned"].gid]).toEqual([1234, 5678]);
    }
    const files = Object.values(before).filter((e) => e.type === "file").length;
    expect(r.files).toBe(files);
    expect(r.symlinks).toBe(4);
    expect(r.dirs).toBe(Object.values(before).filter((e) => e.type === "dir").length);
    expect(r.bytes).toBe(rp.size_bytes);
  });

  test("modes come back exact under a default ACL on the target and under a narrow umask (files may be created with their mode)", async () => {
    const src = join(tmp, "src");
    const spec: TreeSpec = {
      "a644.txt": file("a", { mode: 0o644 }),
      "a666.txt": file("b", { mode: 0o666 }),
      "a755": file("c", { mode: 0o755 }),
      "a400.txt": file("d", { mode: 0o400 }),
      "a000.txt": file("e", { mode: 0o000 }),
      sub: dir({ "b640.txt": file("f", { mode: 0o640 }), "b604.txt": file(bytes(300_000, 5), { mode: 0o604 }) }, { mode: 0o755 }),
    };
    makeTree(src, spec);
    const before = snapshotTree(src);
    const vault = await testVault();
    const { rp } = await backup(vault, src, { resource: "r", now: T0, jobId: "j1" });
    // A default ACL "u::rwx,g::r-x,o::---" on the target: files made under it would lose their "other" bits.
    const target = join(tmp, "acl");
    mkdirSync(target);
    const acl = posixAcl([[ACL_USER_OBJ, 7, NO_ID], [ACL_GROUP_OBJ, 5, NO_ID], [ACL_OTHER, 0, NO_ID]]);
    let aclSet = true;
    try {
      setXattr(target, Buffer.from("system.posix_acl_default"), acl);
    } catch {
      aclSet = false; // a file system without ACLs: the umask case below still runs
    }
    if (aclSet) {
      const r = await restore(vault, rp, target, { now: new Date("2026-03-02T00:00:00.000Z") });
      expect(snapshotTree(r.restoreDir)).toEqual(before);
    }
    const old = process.umask(0o077);
    try {
      const r = await restore(vault, rp, join(tmp, "umask"), { now: new Date("2026-03-02T00:00:00.000Z") });
      expect(snapshotTree(r.restoreDir)).toEqual(before);
      expect(statSync(join(r.restoreDir, "a666.txt")).mode & 0o777).toBe(0o666);
    } finally {
      process.umask(old);
    }
  });

  test("a sparse file is restored with its size and content, but fewer blocks", async () => {
    const src = join(tmp, "src");
    const size = 8 * 1024 * 1024;
    const content = new Uint8Array(size);
    content.set(bytes(256 * 1024, 11), 0);
    content.set(bytes(256 * 1024, 12), size - 256 * 1024);
    makeTree(src, { sparse: content, dense: bytes(64 * 1024, 13) });
    const vault = await testVault();
    const { rp } = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
    const r = await restore(vault, rp, join(tmp, "out"), { now: T0 });
    expectTree(r.restoreDir, { sparse: content, dense: bytes(64 * 1024, 13) });
    const st = statSync(join(r.restoreDir, "sparse"));
    expect(st.size).toBe(size);
    // 512 KiB of data plus chunk edges; the 7.5 MiB of zeros must be holes.
    expect(st.blocks * 512).toBeLessThan(2 * 1024 * 1024);
    expect(statSync(join(src, "sparse")).blocks * 512).toBeGreaterThanOrEqual(size);
  });

  test("a file ending in zeros is still restored to its full size", async () => {
    const src = join(tmp, "src");
    const content = new Uint8Array(200_000);
    content.set(bytes(10_000, 5));
    makeTree(src, { tail: content, zeros: new Uint8Array(100_000) });
    const vault = await testVault();
    const { rp } = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
    const r = await restore(vault, rp, join(tmp, "out"), { now: T0 });
    expectTree(r.restoreDir, { tail: content, zeros: new Uint8Array(100_000) });
    expect(statSync(join(r.restoreDir, "zeros")).blocks).toBe(0);
  });

  test("incremental: both recovery points restore to their own source state", async () => {
    const src = join(tmp, "src");
    makeTree(src, { keep: bytes(100_000, 1), change: bytes(50_000, 2), gone: "bye", sub: { inner: bytes(30_000, 3) } });
    const snap1 = snapshotTree(src);
    const vault = await testVault();
    const b1 = await backup(vault, src, { resource: "r", now: T0, jobId: "j1" });
    const changed = bytes(50_000, 2);
    changed[25_000] ^= 1;
    writeFileSync(join(src, "change"), changed);
    unlinkSync(join(src, "gone"));
    writeFileSync(join(src, "sub", "added"), bytes(10_000, 4));
    utimesSync(join(src, "sub"), 1_000_000, 1_000_000);
    const snap2 = snapshotTree(src);
    const b2 = await backup(vault, src, { resource: "r", now: new Date(T0.getTime() + 3600_000), jobId: "j2", parent: b1.rp });
    expect(b2.bytesRead).toBe(60_000); // "change" and "added" only
    const r1 = await restore(vault, b1.rp, join(tmp, "out"), { now: new Date("2026-03-05T00:00:00.001Z") });
    const r2 = await restore(vault, b2.rp, join(tmp, "out"), { now: new Date("2026-03-05T00:00:00.002Z") });
    expect(snapshotTree(r1.restoreDir)).toEqual(snap1);
    expect(snapshotTree(r2.restoreDir)).toEqual(snap2);
    expect(snap1).not.toEqual(snap2);
  });

  test("never over existing files: each restore gets its own directory, a clash is refused", async () => {
    const src = join(tmp, "src");
    makeTree(src, { a: "1" });
    const vault = await testVault();
    const { rp } = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
    const out = join(tmp, "out");
    const a = await restore(vault, rp, out, { now: new Date("2026-03-05T00:00:00.001Z") });
    const b = await restore(vault, rp, out, { now: new Date("2026-03-05T00:00:00.002Z") });
    expect(readdirSync(out).sort()).toEqual([restoreDirName(new Date("2026-03-05T00:00:00.001Z")), restoreDirName(new Date("2026-03-05T00:00:00.002Z"))]);
    writeFileSync(join(a.restoreDir, "a"), "changed by the user");
    const err = await restore(vault, rp, out, { now: new Date("2026-03-05T00:00:00.001Z") }).catch((e) => e);
    expect(err).toBeInstanceOf(EfsbakError);
    expect(err.message).toContain("already exists");
    expect(await Bun.file(join(a.restoreDir, "a")).text()).toBe("changed by the user");
    expectTree(b.restoreDir, { a: "1" });
  });

  test("progress is reported with running totals", async () => {
    const src = join(tmp, "src");
    makeTree(src, { a: bytes(200_000, 1), b: bytes(100_000, 2) });
    const vault = await testVault();
    const { rp } = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
    const seen: { files: number; bytes: number; totalBytes: number }[] = [];
    await restore(vault, rp, join(tmp, "out"), { now: T0, onProgress: (p) => seen.push({ files: p.files, bytes: p.bytes, totalBytes: p.totalBytes }) });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toEqual({ files: 2, bytes: 300_000, totalBytes: 300_000 });
  });
});

test("restoreDirName is the ISO time with ':' and '.' replaced", () => {
  const t = new Date("2026-11-24T21:06:22.108Z");
  expect(restoreDirName(t)).toBe("efsbak-restore_2026-11-24T21-06-22-108Z");
  expect(restoreDirName(t, true)).toBe("efsbak-failed-restore_2026-11-24T21-06-22-108Z");
});

describe("loads in flight (a slow vault, as S3 is)", () => {
  for (const concurrency of [3, 16]) {
    test(`neighbouring blobs load together; loads of many packs overlap, never more than the concurrency (${concurrency})`, async () => {
      // 24 packs of 3 blobs each (one file per blob), plus the listing in a pack of its own.
      const vault = await testVault();
      const entries: Node[] = [];
      const want: Record<string, Uint8Array> = {};
      for (let p = 0; p < 24; p++) {
        const chunks = [0, 1, 2].map((i) => bytes(3000, p * 3 + i + 1));
        const ids = await storeChunks(vault, chunks);
        ids.forEach((id, i) => {
          entries.push(nodes.file(`f${p * 3 + i}`, [id], 3000));
          want[`f${p * 3 + i}`] = chunks[i];
        });
      }
      const tree = await storeTree(vault, entries);
      let inflight = 0;
      let max = 0;
      let loads = 0;
      const slow = { ...vault.storage, location: vault.storage.location, async load(key: string, range?: { offset: number; length: number }) {
        loads++;
        max = Math.max(max, ++inflight);
        try {
          await Bun.sleep(3);
          return await vault.storage.load(key, range);
        } finally {
          inflight--;
        }
      } };
      const slowVault = await openVault(slow, { cold: vault.cold });
      max = 0;
      loads = 0;
      const r = await restore(slowVault, fakeRecoveryPoint(tree), join(tmp, "out"), { now: T0, concurrency });
      for (const [name, data] of Object.entries(want)) expect(readFileSync(join(r.restoreDir, name))).toEqual(Buffer.from(data));
      expect(r.files).toBe(72);
      expect(max).toBe(concurrency);
      expect(loads).toBe(1 + 24); // the listing, then one load per pack
    });
  }
});
