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
import { createChunkerTables, cutPoint } from "../../src/chunk/fastcdc.ts";
import { createBlobHasher } from "../../src/chunk/hash.ts";
import { restore } from "../../src/restore/restore.ts";
import { bytes, snapshotTree } from "../support/tree.ts";
import { testVault } from "../support/vault.ts";

const T0 = new Date("2026-03-01T10:00:00.000Z");
let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-fr-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** Reads paths with stale lstats (taken before `change` ran), as the walker would. */
async function readAll(paths: string[], change: () => void, slotBytes?: number): Promise<ReadOutcome[]> {
  const vault = await testVault();
  const c = vault.config.chunker;
  const tables = createChunkerTables({ minSize: c.min_size, avgSize: c.avg_size, maxSize: c.max_size, seed: c.seed });
  const stats = paths.map((p) => lstatSync(p, { bigint: true }));
  change();
  const p = await Pipeline.start(vault, { slotBytes });
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

describe("large files cut on main", () => {
  /** The chunk ids of data cut as one whole stream (the definition the vault format fixes). */
  async function referenceIds(data: Uint8Array): Promise<string[]> {
    const vault = await testVault();
    const c = vault.config.chunker;
    const tables = createChunkerTables({ minSize: c.min_size, avgSize: c.avg_size, maxSize: c.max_size, seed: c.seed });
    const hasher = await createBlobHasher(vault.keys?.idKey);
    const ids: string[] = [];
    for (let pos = 0; pos < data.length; ) {
      const len = cutPoint(tables, data, pos, data.length);
      ids.push(Buffer.from(hasher.hash(data.subarray(pos, pos + len))).toString("hex"));
      pos += len;
    }
    return ids;
  }

  /** Bytes that cut soon after minSize (4 symbols), runs of zeros, and random stretches. */
  function mixed(n: number, seed: number): Uint8Array {
    const out = bytes(n, seed);
    for (let i = 0; i < n; i += 50_000) {
      out.fill(0, i + 10_000, Math.min(n, i + 30_000));
      for (let k = i + 30_000; k < Math.min(n, i + 40_000); k++) out[k] = 97 + (out[k] & 3);
    }
    return out;
  }

  // Test vault: minSize 1 KiB, avg 4 KiB, maxSize 16 KiB. Slots of 2 × maxSize and odd sizes
  // put a slot boundary (and the carried tail) at every kind of place in a chunk.
  for (const slotBytes of [32 * 1024, 32 * 1024 + 4097, 100 * 1024]) {
    test(`chunks are those of the whole-stream cut, with ${slotBytes}-byte slots`, async () => {
      const sizes = [1025, 16 * 1024, 16 * 1024 + 1, 33 * 1024, 250_000, 1_000_003];
      const paths = sizes.map((n, i) => {
        const path = join(tmp, `big-${i}`);
        writeFileSync(path, mixed(n, 100 + i));
        return path;
      });
      const outcomes = await readAll(paths, () => {}, slotBytes);
      for (const [i, o] of outcomes.entries()) {
        expect(o.kind).toBe("read");
        if (o.kind !== "read") continue;
        expect(o.read.size).toBe(sizes[i]);
        expect(o.read.content).toEqual(await referenceIds(mixed(sizes[i], 100 + i)));
      }
    });
  }
});
