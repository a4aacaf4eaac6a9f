/**
 * Small files are read by the pipeline's workers (pipeline.ts, file-reader.ts): what the
 * walker's lstat saw and what the worker finds may differ, and each difference must end as
 * the main-thread read would have ended it.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { readFile, type ReadOutcome } from "../../src/backup/file-reader.ts";
import { Pipeline } from "../../src/backup/pipeline.ts";
import { createChunkerTables } from "../../src/chunk/fastcdc.ts";
import { restore } from "../../src/restore/restore.ts";
import { bytes, snapshotTree } from "../support/tree.ts";
import { testVault } from "../support/vault.ts";

const T0 = new Date("2026-03-01T10:00:00.000Z");
let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-fr-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** Reads paths with stale lstats (taken before `change` ran), as the walker would. */
async function readAll(paths: string[], change: () => void): Promise<ReadOutcome[]> {
  const vault = await testVault();
  const c = vault.config.chunker;
  const tables = createChunkerTables({ minSize: c.min_size, avgSize: c.avg_size, maxSize: c.max_size, seed: c.seed });
  const stats = paths.map((p) => lstatSync(p, { bigint: true }));
  change();
  const p = await Pipeline.start(vault);
  try {
    const started = [];
    for (const [i, path] of paths.entries()) started.push(await readFile(p, tables, path, stats[i]));
    await p.exclusive(async () => p.dispatch());
    const outcomes = await Promise.all(started.map((s) => s.done));
    await p.flush();
    return outcomes;
  } finally {
    p.close();
  }
}

describe("small files read by workers", () => {
  test("a tree of files around the small-file size restores identical", async () => {
    const src = join(tmp, "src");
    mkdirSync(src);
    // The test vault's minSize is 1024: files up to it are one chunk, read by a worker.
    const sizes = [0, 1, 63, 64, 1000, 1023, 1024, 1025, 5000, 40_000];
    sizes.forEach((n, i) => writeFileSync(join(src, `f${i}`), bytes(n, i + 1)));
    writeFileSync(join(src, "same-a"), bytes(900, 77));
    writeFileSync(join(src, "same-b"), bytes(900, 77));
    const vault = await testVault();
    const b = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
    expect(b.warnings).toEqual([]);
    expect(b.bytesRead).toBe(sizes.reduce((a, n) => a + n, 0) + 1800);
    const r = await restore(vault, b.rp, join(tmp, "out"), { now: T0 });
    expect(snapshotTree(r.restoreDir)).toEqual(snapshotTree(src));
  });

  test("a file that changed after lstat is read again by main, as it is now", async () => {
    const a = join(tmp, "a");
    writeFileSync(a, bytes(500, 1));
    const [o] = await readAll([a], () => appendFileSync(a, bytes(300, 2)));
    expect(o.kind).toBe("read");
    if (o.kind !== "read") return;
    expect(o.read.size).toBe(800);
    expect(o.read.stat.size).toBe(800n);
    expect(o.read.inconsistent).toBe(false);
    expect(o.read.content.length).toBeGreaterThan(0);
  });

  test("a file that vanished after lstat is reported vanished; an unreadable one by its code", async () => {
    const gone = join(tmp, "gone");
    const dir = join(tmp, "now-a-dir");
    const fine = join(tmp, "fine");
    writeFileSync(gone, bytes(100, 3));
    writeFileSync(dir, bytes(100, 4));
    writeFileSync(fine, bytes(100, 5));
    const outcomes = await readAll([gone, dir, fine], () => {
      rmSync(gone);
      rmSync(dir);
      mkdirSync(dir);
    });
    expect(outcomes[0]).toEqual({ kind: "vanished" });
    expect(outcomes[1]).toEqual({ kind: "error", code: "EISDIR" });
    expect(outcomes[2].kind).toBe("read");
  });

  test("an empty file has no chunks", async () => {
    const e = join(tmp, "empty");
    writeFileSync(e, "");
    const [o] = await readAll([e], () => {});
    expect(o.kind === "read" && o.read.content).toEqual([]);
  });
});

describe("large files read past the page cache (direct-read.ts)", () => {
  test("files of 16 MiB and more, on disk and on tmpfs, back up and restore byte for byte", async () => {
    // 16 MiB + odd tails and a 40 MiB file: aligned steps, a short last step, and more than two
    // 8 MiB staging buffers; on /dev/shm (tmpfs) O_DIRECT is refused and reads are ordinary.
    const roots = [join(tmp, "disk")];
    const shm = "/dev/shm";
    let shmRoot = "";
    try {
      shmRoot = mkdtempSync(join(shm, "efsbak-fr-"));
      roots.push(shmRoot);
    } catch {
      // no tmpfs here: the disk case still runs
    }
    try {
      for (const root of roots) {
        const src = join(root, "src");
        mkdirSync(src, { recursive: true });
        writeFileSync(join(src, "a.bin"), bytes(16 * 1024 * 1024 + 4097, 7));
        writeFileSync(join(src, "b.bin"), bytes(40 * 1024 * 1024 - 1, 8));
        writeFileSync(join(src, "c.bin"), bytes(16 * 1024 * 1024, 9));
        const vault = await testVault();
        const out = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
        expect(out.rp.status).toBe("AVAILABLE");
        expect(out.rp.inconsistent).toEqual([]);
        const restored = await restore(vault, out.rp, join(root, "out"), { now: T0 });
        expect(restored.fragments).toEqual([]);
        expect(snapshotTree(restored.restoreDir)).toEqual(snapshotTree(src));
      }
    } finally {
      if (shmRoot) rmSync(shmRoot, { recursive: true, force: true });
    }
  }, 120_000);
});
