import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EfsbakError } from "../../src/errors.ts";
import { restore, restoreDirName } from "../../src/restore/restore.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import { type Storage, StorageError } from "../../src/storage/storage.ts";
import type { Node } from "../../src/tree/node.ts";
import { openVault } from "../../src/vault/vault.ts";
import { bytes } from "../support/tree.ts";
import { fakeRecoveryPoint, nodes, storeChunks, storeTree, testVault } from "../support/vault.ts";

const T0 = new Date("2026-03-01T10:00:00.000Z");
const T1 = new Date("2026-03-02T10:00:00.000Z");
let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-fail-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * A vault with a tree of 10 directories of 20 files, reopened on storage wrapped by `wrap`.
 * Each directory's file data is a pack of its own: restore loads the neighbouring blobs of a
 * pack together, so that makes ten loads of file data.
 */
async function setup(wrap: (s: Storage) => Storage) {
  const storage = memoryStorage();
  const cold = memoryStorage();
  const vault = await testVault({ storage, cold });
  const dirs: Node[] = [];
  for (let d = 0; d < 10; d++) {
    const ids = await storeChunks(vault, Array.from({ length: 20 }, (_, f) => bytes(16_000, d * 100 + f + 1)));
    dirs.push(nodes.dir(`d${d}`, await storeTree(vault, ids.map((id, f) => nodes.file(`f${f}`, [id], 16_000)))));
  }
  const rp = fakeRecoveryPoint(await storeTree(vault, dirs));
  return { rp, vault: await openVault(wrap(storage), { cold }) };
}

/**
 * Storage whose loads of file data call `hook(n)` first (n counts them from 1). A load of file
 * data is a run of 16 KB blobs (chunks of this vault are at most 16 KiB), far longer than any directory listing here.
 */
function onDataLoad(s: Storage, hook: (n: number) => void): Storage {
  let n = 0;
  return { ...s, location: s.location, load: async (key, range) => ((range?.length ?? 0) > 64 * 1024 && hook(++n), s.load(key, range)) };
}

test("a target under a file: refused, nothing written", async () => {
  const { vault, rp } = await setup((s) => s);
  writeFileSync(join(tmp, "file"), "x");
  const err = await restore(vault, rp, join(tmp, "file", "sub"), { now: T1 }).catch((e) => e);
  expect(err).toBeInstanceOf(EfsbakError);
  expect(err.exitCode).toBe(1);
  expect(err.message).toContain(join(tmp, "file", "sub"));
  expect(err.message).toContain("ENOTDIR");
  expect(readdirSync(tmp).sort()).toEqual(["file"]);
});

test("aborted part-way: the directory is renamed efsbak-failed-restore_ and the error says where it is", async () => {
  const ac = new AbortController();
  const { vault, rp } = await setup((s) => onDataLoad(s, (n) => n === 3 && ac.abort()));
  const out = join(tmp, "out");
  const err = await restore(vault, rp, out, { now: T1, signal: ac.signal }).catch((e) => e);
  expect(err).toBeInstanceOf(EfsbakError);
  const failed = join(out, restoreDirName(T1, true));
  expect(readdirSync(out)).toEqual([restoreDirName(T1, true)]);
  expect(err.message).toContain("interrupted");
  expect(err.message).toContain(`"${failed}"`);
  expect(err.hint).toContain("run \"efsbak restore\" again");
  // It stopped early: far from all 200 files are there.
  const restored = readdirSync(failed).flatMap((d) => readdirSync(join(failed, d)));
  expect(restored.length).toBeLessThan(200);
});

test("the vault becomes unreachable: the restore fails as a whole and keeps what it wrote", async () => {
  const { vault, rp } = await setup((s) => onDataLoad(s, (n) => {
    if (n >= 3) throw new StorageError('Cannot load from "memory:": connection reset', { permanent: false });
  }));
  const out = join(tmp, "out");
  const warnings: string[] = [];
  const err = await restore(vault, rp, out, { now: T1, onWarning: (w) => warnings.push(w) }).catch((e) => e);
  expect(err).toBeInstanceOf(EfsbakError);
  expect(err.exitCode).toBe(1);
  expect(err.message).toContain("connection reset");
  expect(err.message).toContain(restoreDirName(T1, true));
  expect(err.hint).toContain("vault is reachable");
  expect(existsSync(join(out, restoreDirName(T1)))).toBe(false);
  expect(existsSync(join(out, restoreDirName(T1, true), "d0"))).toBe(true);
  // Transport failure is not damage: nothing was salvaged into lost+found as if it were.
  expect(existsSync(join(out, restoreDirName(T1, true), "efsbak-lost+found"))).toBe(false);
});

test("a storage error that is not about one blob (access denied) fails the restore", async () => {
  const { vault, rp } = await setup((s) => onDataLoad(s, () => {
    throw new StorageError('Cannot load "packs/xx": EACCES', { permanent: true, key: "packs/xx" });
  }));
  const err = await restore(vault, rp, join(tmp, "out"), { now: T1 }).catch((e) => e);
  expect(err).toBeInstanceOf(EfsbakError);
  expect(err.message).toContain("EACCES");
  expect(existsSync(join(tmp, "out", restoreDirName(T1, true)))).toBe(true);
});
