import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { EfsbakError } from "../../src/errors.ts";
import { includeSegments, parseIncludes } from "../../src/restore/include.ts";
import { restore } from "../../src/restore/restore.ts";
import { bytes, dir, file, makeTree, snapshotTree, symlink } from "../support/tree.ts";
import { testVault } from "../support/vault.ts";

const T0 = new Date("2026-03-01T10:00:00.000Z");
let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-inc-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

async function setup() {
  const src = join(tmp, "src");
  makeTree(src, {
    top: "top",
    docs: dir({ "a.txt": "a", "b.txt": bytes(40_000, 2), deep: dir({ "c.txt": "c", l: symlink("../a.txt") }, { mode: 0o711, mtime: 1_600_000_000_000_000_005n }) }, { mode: 0o750, mtime: 1_600_000_000_000_000_001n }),
    other: { "x.txt": file("x", { mtime: 1_600_000_000_000_000_009n }) },
  });
  const vault = await testVault();
  const { rp } = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
  return { src, vault, rp, snap: snapshotTree(src) };
}

function pick(snap: Record<string, unknown>, paths: string[]) {
  return Object.fromEntries(paths.map((p) => [p, snap[p]]));
}

describe("--include", () => {
  test("a file and a subtree, with their parent directories and metadata", async () => {
    const { vault, rp, snap } = await setup();
    const r = await restore(vault, rp, join(tmp, "out"), { now: T0, include: ["./docs/deep/", "/other/x.txt"] });
    expect(snapshotTree(r.restoreDir)).toEqual(pick(snap, ["docs", "docs/deep", "docs/deep/c.txt", "docs/deep/l", "other", "other/x.txt"]) as never);
    expect(r.files).toBe(2);
    expect(r.symlinks).toBe(1);
  });

  test("a single file deep down", async () => {
    const { vault, rp, snap } = await setup();
    const r = await restore(vault, rp, join(tmp, "out"), { now: T0, include: ["docs/b.txt"] });
    expect(snapshotTree(r.restoreDir)).toEqual(pick(snap, ["docs", "docs/b.txt"]) as never);
    expect(r.bytes).toBe(40_000);
  });

  test("an include of the root restores everything", async () => {
    const { vault, rp, snap } = await setup();
    const r = await restore(vault, rp, join(tmp, "out"), { now: T0, include: ["./"] });
    expect(snapshotTree(r.restoreDir)).toEqual(snap);
  });

  for (const bad of [["nope.txt"], ["docs/missing"], ["top/below"], ["docs/a.txt", "docs/../top"]]) {
    test(`an include that matches nothing fails before anything is created: ${JSON.stringify(bad)}`, async () => {
      const { vault, rp } = await setup();
      const out = join(tmp, "out");
      const err = await restore(vault, rp, out, { now: T0, include: bad }).catch((e) => e);
      expect(err).toBeInstanceOf(EfsbakError);
      expect(err.exitCode).toBe(1);
      expect(err.message).toContain(`"${bad.at(-1)}"`);
      expect(err.message).toContain("no such path");
      expect(existsSync(out)).toBe(false);
    });
  }
});

test("include paths are split into clean segments", () => {
  expect(includeSegments("./a//b/./c/")).toEqual(["a", "b", "c"]);
  expect(includeSegments("/")).toEqual([]);
  expect(includeSegments("a/../b")).toBeNull();
  expect(parseIncludes([]).root).toBeNull();
  expect(parseIncludes(["a", "."]).root).toBeNull();
  const p = parseIncludes(["a/b", "a"]);
  expect(p.root?.children.get("a")?.all).toBe(true);
});
