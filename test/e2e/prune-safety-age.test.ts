/**
 * The GC safety age through the binary, with the real default (1 h, no EFSBAK_GC_MIN_AGE):
 * prune never deletes a pack written less than an hour ago, even one no recovery point uses,
 * and never touches a pack no index names (an interrupted backup's), young or old. Once the
 * dead packs are older than the safety age (their mtime set back), prune deletes them, and
 * what stays restores byte for byte.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { bytes, makeTree } from "../support/tree.ts";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { localPlan, planWorkdir, removeWorkdir } from "../support/plans.ts";

let work: string;
const HOUR_S = 3600;

/** Pack files under vault/packs, by key relative to it. */
function packFiles(): Map<string, { size: number; mtimeMs: number }> {
  const out = new Map<string, { size: number; mtimeMs: number }>();
  const root = join(work, "vault/packs");
  for (const d of readdirSync(root)) for (const f of readdirSync(join(root, d))) {
    const s = statSync(join(root, d, f));
    out.set(`${d}/${f}`, { size: s.size, mtimeMs: s.mtimeMs });
  }
  return out;
}

/** Sets a pack file's mtime `hours` back from now. */
function age(key: string, hours: number): void {
  const t = Date.now() / 1000 - hours * HOUR_S;
  utimesSync(join(work, "vault/packs", key), t, t);
}

function run(args: string[]) {
  // No EFSBAK_GC_MIN_AGE: the default safety age applies.
  return runBinary(args, { cwd: work });
}

beforeAll(() => {
  ensureBinary();
  work = planWorkdir("efsbak-gcage-", { "p.toml": localPlan({ data: "data" }) });
  makeTree(join(work, "data"), { "gone.bin": bytes(1_500_000, 41), "kept.bin": bytes(700_000, 42) });
});

afterAll(() => {
  removeWorkdir(work);
});

describe("prune and the GC safety age (binary, default age)", () => {
  let before = new Map<string, { size: number; mtimeMs: number }>();
  const unindexedYoung = "ff/ff00000000000000000000000000000000000000000000000000000000000000";
  const unindexedOld = "ff/ff11111111111111111111111111111111111111111111111111111111111111";
  let kept = "";

  test("set-up: a recovery point to delete, one to keep, and two packs no index names", async () => {
    const a = await run(["backup", "data", "--delete-after", "1d", "--json", "--now", "2026-01-01T00:00:00Z"]);
    expect(a.code).toBe(0);
    rmSync(join(work, "data/gone.bin"));
    const b = await run(["backup", "data", "--json", "--now", "2026-01-01T01:00:00Z"]);
    expect(b.code).toBe(0);
    kept = JSON.parse(b.stdout).recovery_point;
    // Packs an interrupted backup left: real pack bytes under ids no index names.
    const some = [...packFiles().keys()][0];
    mkdirSync(join(work, "vault/packs/ff"), { recursive: true });
    copyFileSync(join(work, "vault/packs", some), join(work, "vault/packs", unindexedYoung));
    copyFileSync(join(work, "vault/packs", some), join(work, "vault/packs", unindexedOld));
    age(unindexedOld, 24 * 30);
    before = packFiles();
  });

  test("a young pack no recovery point uses survives prune", async () => {
    const r = await run(["prune", "--json", "--now", "2026-01-03T00:00:00Z"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.deleted.length).toBe(1); // the recovery point itself goes
    expect(out.gc.delete_packs).toEqual([]);
    expect(out.gc.repack_packs).toEqual([]);
    expect(out.gc.dead_blobs).toBeGreaterThan(0); // gone.bin's chunks are garbage, but young
    expect(out.gc_done.packs_deleted).toBe(0);
    expect([...packFiles().keys()].sort()).toEqual([...before.keys()].sort());
  });

  test("once older than the safety age, the dead packs go; packs no index names stay", async () => {
    for (const key of before.keys()) if (!key.startsWith("ff/")) age(key, 2);
    const r = await run(["prune", "--json", "--now", "2026-01-03T00:00:00Z"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.gc_done.packs_deleted).toBeGreaterThan(0);
    const after = packFiles();
    expect(after.has(unindexedYoung)).toBe(true);
    expect(after.has(unindexedOld)).toBe(true);
    for (const p of [...out.gc.delete_packs, ...out.gc.repack_packs]) expect(after.has(`${p.pack_id.slice(0, 2)}/${p.pack_id}`)).toBe(false);
    const reclaimed = [...before.values()].reduce((n, s) => n + s.size, 0) - [...after.values()].reduce((n, s) => n + s.size, 0);
    expect(reclaimed).toBeGreaterThan(1_400_000); // gone.bin was random: 1.5 MB stored
  });

  test("what stays restores byte for byte", async () => {
    const target = join(work, "restored");
    const r = await run(["restore", kept, "--target", target, "--json"]);
    expect(r.code).toBe(0);
    const dir = JSON.parse(r.stdout).restore_dir;
    expect(Buffer.compare(readFileSync(join(dir, "kept.bin")), Buffer.from(bytes(700_000, 42)))).toBe(0);
  });
});
