/**
 * What a backup records to bound later walks (symlinks, tree_bytes; tree/budget.ts) must hold
 * for every real tree: identical directories that dedupe, symlinks, hard links, empty
 * directories. A walk of the trees sees exactly tree_bytes of listings, and no more entries
 * than files + dirs + symlinks; restore, ls-style walks and check of such a vault pass.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { check } from "../../src/check/check.ts";
import { restore } from "../../src/restore/restore.ts";
import { walkLimits } from "../../src/tree/budget.ts";
import { walkTree } from "../../src/tree/list.ts";
import { decodeTree } from "../../src/tree/tree.ts";
import { fromHex } from "../../src/vault/id.ts";
import { saveRecoveryPoint } from "../../src/vault/recovery-point.ts";
import { bytes, dir, hardlink, makeTree, snapshotTree, symlink } from "../support/tree.ts";
import { testVault } from "../support/vault.ts";

const T0 = new Date("2026-03-01T10:00:00.000Z");
let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-totals-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

test("a backup's symlinks and tree_bytes bound its walk exactly, identical directories included", async () => {
  const same = () => ({ a: "same\n", deeper: { b: bytes(3000, 5), l: symlink("../a") }, empty: dir({}) });
  const src = join(tmp, "src");
  makeTree(src, { one: same(), two: same(), three: { inner: same() }, top: "t\n", link: symlink("top"), hard: hardlink("top"), e: dir({}) });
  const vault = await testVault();
  const { rp } = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
  await saveRecoveryPoint(vault, rp);
  expect(rp.symlinks).toBe(4);
  expect(rp.files).toBe(3 * 2 + 2);
  let entries = 0;
  let listingBytes = 0;
  const load = async (hex: string) => {
    const raw = await vault.loadBlob(fromHex(hex, 32)!);
    listingBytes += raw.length;
    return decodeTree(hex, raw);
  };
  for await (const _ of walkTree(load, rp.tree)) entries++;
  const limits = walkLimits(rp);
  expect(limits.recorded).toBe(true);
  expect(listingBytes).toBe(rp.tree_bytes!);
  expect(entries).toBe(limits.entries - 1); // the root is counted in dirs, never walked
  const r = await restore(vault, rp, join(tmp, "out"), { now: T0 });
  expect(r.fragments).toEqual([]);
  expect(snapshotTree(r.restoreDir)).toEqual(snapshotTree(src));
  const report = await check(vault, {});
  expect(report.problems).toEqual([]);
});
