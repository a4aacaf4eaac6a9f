import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scanTotals } from "../../src/backup/scan.ts";
import { bytes, makeTree, symlink } from "../support/tree.ts";

const work = mkdtempSync(join(tmpdir(), "efsbak-scan-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

test("the scan counts every regular file and its bytes, deep and wide, without following links", async () => {
  const tree: Record<string, unknown> = { top: bytes(1000, 1), link: symlink("/usr"), empty: {} };
  let at = tree;
  for (let d = 0; d < 30; d++) {
    const next: Record<string, unknown> = {};
    for (let f = 0; f < 5; f++) next[`f${f}`] = bytes(10 + f, d);
    at[`d${d}`] = next;
    at = next;
  }
  const root = join(work, "src");
  makeTree(root, tree as never);
  const scan = scanTotals(root);
  await scan.finished;
  expect(scan.done).toBe(true);
  expect(scan.files).toBe(1 + 30 * 5);
  expect(scan.bytes).toBe(1000 + 30 * (10 + 11 + 12 + 13 + 14));
});

test("a stopped scan ends, not done; an unreadable root counts nothing", async () => {
  const scan = scanTotals(join(work, "src"));
  scan.stop();
  await scan.finished;
  expect(scan.done).toBe(false);
  const none = scanTotals(join(work, "missing"));
  await none.finished;
  expect([none.done, none.files, none.bytes]).toEqual([true, 0, 0]);
});
