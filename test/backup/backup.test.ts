import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { EfsbakError } from "../../src/errors.ts";
import { restore } from "../../src/restore/restore.ts";
import { bytes, expectTree, makeTree, snapshotTree } from "../support/tree.ts";
import { testVault } from "../support/vault.ts";

const T0 = new Date("2026-03-01T10:00:00.000Z");
const T1 = new Date("2026-03-01T11:00:00.000Z");
let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-bk-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe("backup", () => {
  test("an incremental backup reads only what changed", async () => {
    const src = join(tmp, "src");
    const spec: Record<string, Uint8Array | Record<string, Uint8Array>> = {};
    for (let i = 0; i < 20; i++) spec[`f${i}`] = bytes(100_000, i + 1);
    spec.sub = { a: bytes(200_000, 99) };
    makeTree(src, spec);
    const vault = await testVault();
    const b1 = await backup(vault, src, { resource: "r", now: T0, jobId: "j1" });
    expect(b1.bytesRead).toBe(2_200_000);
    writeFileSync(join(src, "f3"), bytes(100_000, 1234));
    const b2 = await backup(vault, src, { resource: "r", now: T1, jobId: "j2", parent: b1.rp });
    expect(b2.bytesRead).toBe(100_000);
    expect(b2.rp.parent).toBe(b1.rp.id);
    expect(b2.rp.bytes_new).toBeLessThan(150_000);
    expect(b2.rp.size_bytes).toBe(2_200_000);
    // Without a parent, everything is read again (but stored once: dedup).
    const b3 = await backup(vault, src, { resource: "r", now: T1, jobId: "j3" });
    expect(b3.bytesRead).toBe(2_200_000);
    expect(b3.rp.bytes_new).toBe(0);
    const r = await restore(vault, b2.rp, join(tmp, "out"), { now: T1 });
    expect(snapshotTree(r.restoreDir)).toEqual(snapshotTree(src));
  });

  test("sockets and named pipes are omitted, each with a warning", async () => {
    const src = join(tmp, "src");
    makeTree(src, { a: "a", sub: { b: "b" } });
    const mk = Bun.spawnSync(["mkfifo", join(src, "sub", "pipe")]);
    expect(mk.exitCode).toBe(0);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(src, "sock"), resolve));
    try {
      const vault = await testVault();
      const seen: string[] = [];
      const b = await backup(vault, src, { resource: "r", now: T0, jobId: "j", onWarning: (w) => seen.push(w) });
      expect(b.warnings.sort()).toEqual(['Omitted named pipe "sub/pipe"', 'Omitted socket "sock"']);
      expect(seen.sort()).toEqual(b.warnings);
      expect(b.rp.warnings.sort()).toEqual(b.warnings);
      expect(b.rp.files).toBe(2);
      const r = await restore(vault, b.rp, join(tmp, "out"), { now: T1 });
      expectTree(r.restoreDir, { a: "a", sub: { b: "b" } });
    } finally {
      server.close();
    }
  });

  test("exclude globs leave out files and whole directories", async () => {
    const src = join(tmp, "src");
    makeTree(src, {
      "keep.txt": "k",
      "skip.tmp": "t",
      node_modules: { x: "x" },
      app: { node_modules: { y: "y" }, "main.js": "m", "deep.tmp": "d", lib: { "z.tmp": "z" } },
    });
    const vault = await testVault();
    const b = await backup(vault, src, { resource: "r", now: T0, jobId: "j", exclude: ["**/node_modules", "/*.tmp", "app/lib/**/*.tmp"] });
    const r = await restore(vault, b.rp, join(tmp, "out"), { now: T1 });
    // "/*.tmp" is anchored at the root (.gitignore rules): app/deep.tmp stays.
    expectTree(r.restoreDir, { "keep.txt": "k", app: { "main.js": "m", "deep.tmp": "d", lib: {} } });
  });

  test("identical files are stored once", async () => {
    const src = join(tmp, "src");
    const big = bytes(500_000, 42);
    makeTree(src, { a: big, b: big, sub: { c: big, d: bytes(1000, 1) } });
    const vault = await testVault();
    const b = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
    expect(b.bytesRead).toBe(1_501_000);
    expect(b.rp.bytes_new).toBe(501_000);
    expect(b.rp.bytes_stored).toBeLessThan(560_000); // random data does not compress; trees and headers are small
    const r = await restore(vault, b.rp, join(tmp, "out"), { now: T1 });
    expectTree(r.restoreDir, { a: big, b: big, sub: { c: big, d: bytes(1000, 1) } });
  });

  test("a source that is not a directory is refused with a clear error", async () => {
    const vault = await testVault();
    writeFileSync(join(tmp, "f"), "x");
    for (const p of [join(tmp, "missing"), join(tmp, "f")]) {
      const err = await backup(vault, p, { resource: "r", now: T0, jobId: "j" }).catch((e) => e);
      expect(err).toBeInstanceOf(EfsbakError);
      expect(err.message).toContain(p);
    }
    expect(existsSync(join(tmp, "missing"))).toBe(false);
  });
});
