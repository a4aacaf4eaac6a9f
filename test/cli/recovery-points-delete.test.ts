/**
 * `efsbak recovery-points delete` and `efsbak stats` through the compiled binary, under a
 * simulated clock: the vault lock refuses an early deletion (exit 1, the date it becomes
 * deletable, nothing deleted); --dry-run changes nothing; a deletion removes the recovery
 * point, is recorded as a prune job, and the next prune gives back about what `stats` said
 * the deletion would free; stats' figures and ratios match the data backed up.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runBinary } from "../support/cli.ts";
import { bytes, bytesUnder, makeTree } from "../support/tree.ts";
import { planWorkdir, removeWorkdir } from "../support/plans.ts";

let work: string;
const MB = 1_000_000;

function run(args: string[]) {
  return runBinary(args, { cwd: work, env: { EFSBAK_GC_MIN_AGE: "0" } });
}

interface Stats { recovery_point: string; logical_bytes: number; unique_bytes: number; stored_bytes: number; dedup_ratio: number; compression_ratio: number; freed_bytes: number; files: number }

async function stats(now: string): Promise<{ vault: Stats & { unreferenced_bytes: number; recovery_points: number; pack_bytes: number }; recovery_points: Stats[] }> {
  const r = await run(["stats", "--json", "--now", now]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

let rpOld = "";
let rpNew = "";

beforeAll(async () => {
  work = planWorkdir("efsbak-cli-rpdel-", { "p.toml": `
[vaults.main]
url = "./vault"

[vaults.main.lock]
min_retention = "5d"

[[resources]]
id = "data"
path = "data"
` });
  const shared = bytes(2 * MB, 32);
  makeTree(join(work, "data"), {
    "old.bin": bytes(3 * MB, 31),
    "shared.bin": shared,
    "copy-of-shared.bin": shared,
    "text.txt": Array.from({ length: 40_000 }, (_, i) => `line ${i} of a log that compresses well\n`).join(""),
  });
  const a = await run(["backup", "data", "--json", "--now", "2026-01-01T00:00:00Z"]);
  expect(a.code).toBe(0);
  rpOld = JSON.parse(a.stdout).recovery_point;
  rmSync(join(work, "data/old.bin"));
  writeFileSync(join(work, "data/new.bin"), bytes(1 * MB, 33));
  const b = await run(["backup", "data", "--json", "--now", "2026-01-02T00:00:00Z"]);
  expect(b.code).toBe(0);
  rpNew = JSON.parse(b.stdout).recovery_point;
});

afterAll(() => {
  removeWorkdir(work);
});

describe("efsbak stats", () => {
  test("logical, unique and stored bytes, ratios, and what each deletion frees", async () => {
    const s = await stats("2026-01-03T00:00:00Z");
    const [old, neu] = s.recovery_points;
    expect([old.recovery_point, neu.recovery_point]).toEqual([rpOld, rpNew]);
    const text = statSync(join(work, "data/text.txt")).size;
    expect(old.logical_bytes).toBe(3 * MB + 4 * MB + text);
    expect(neu.logical_bytes).toBe(1 * MB + 4 * MB + text);
    expect(old.files).toBe(4);
    // The copy of shared.bin is stored once: unique is at most 3 + 2 MB + the text.
    expect(old.unique_bytes).toBeLessThanOrEqual(5 * MB + text);
    expect(old.unique_bytes).toBeGreaterThan(5 * MB);
    expect(old.dedup_ratio).toBeCloseTo(old.logical_bytes / old.unique_bytes, 6);
    expect(old.dedup_ratio).toBeGreaterThan(1.3);
    // Random data does not compress, the text does.
    expect(old.compression_ratio).toBeGreaterThan(1);
    expect(old.compression_ratio).toBeCloseTo(old.unique_bytes / old.stored_bytes, 6);
    // Deleting the old point frees old.bin (3 MB, incompressible), the new one new.bin (1 MB).
    expect(old.freed_bytes).toBeGreaterThan(3 * MB);
    expect(old.freed_bytes).toBeLessThan(3.1 * MB);
    expect(neu.freed_bytes).toBeGreaterThan(1 * MB);
    expect(neu.freed_bytes).toBeLessThan(1.1 * MB);
    expect(s.vault.recovery_points).toBe(2);
    expect(s.vault.logical_bytes).toBe(old.logical_bytes + neu.logical_bytes);
    expect(s.vault.unique_bytes).toBeGreaterThan(6 * MB);
    expect(s.vault.unique_bytes).toBeLessThanOrEqual(6 * MB + text);
    expect(s.vault.dedup_ratio).toBeCloseTo(s.vault.logical_bytes / s.vault.unique_bytes, 6);
    expect(s.vault.dedup_ratio).toBeGreaterThan(1.8);
    expect(s.vault.unreferenced_bytes).toBe(0);

    const one = await run(["stats", rpOld.slice(0, 8)]);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(rpOld);
    expect(one.stdout).not.toContain(rpNew);
    expect(one.stdout).toContain("DELETE FREES");
  });
});

describe("efsbak recovery-points delete", () => {
  test("the vault lock refuses an early deletion with the date it becomes deletable, and deletes nothing", async () => {
    const r = await run(["recovery-points", "delete", rpOld, rpNew, "--now", "2026-01-03T00:00:00Z"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${rpOld} until 2026-01-06T00:00:00`);
    expect(r.stderr).toContain(`${rpNew} until 2026-01-07T00:00:00`);
    expect(r.stderr).toContain("nothing was deleted");
    const dryEarly = await run(["recovery-points", "delete", rpOld, "--dry-run", "--json", "--now", "2026-01-05T23:59:00Z"]);
    expect(dryEarly.code).toBe(1);
    expect(JSON.parse(dryEarly.stdout).error.message).toStartWith(`Cannot delete recovery point "${rpOld}": the vault lock's min_retention keeps it until 2026-01-06T00:00:00`);
    const list = JSON.parse((await run(["recovery-points", "--json", "--now", "2026-01-07T00:00:00Z"])).stdout).recovery_points;
    expect(list.map((x: { id: string }) => x.id)).toEqual([rpOld, rpNew]);
  });

  test("--dry-run says what would go and changes nothing", async () => {
    const r = await run(["recovery-points", "delete", rpOld.slice(0, 6), "--dry-run", "--now", "2026-01-06T00:01:00Z"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`recovery point ${rpOld} (data) would be deleted`);
    expect(existsSync(join(work, "vault/rps", rpOld))).toBe(true);
  });

  test("a deletion removes the point now; the next prune gives back what stats said it frees", async () => {
    const before = await stats("2026-01-06T00:01:00Z");
    const freed = before.recovery_points[0].freed_bytes;
    const packsBefore = bytesUnder(join(work, "vault/packs"));
    const r = await run(["recovery-points", "delete", rpOld, "--json", "--now", "2026-01-06T00:01:00Z"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.deleted).toEqual([rpOld]);
    expect(doc.job.type).toBe("prune");
    expect(doc.job.state).toBe("COMPLETED");
    expect(doc.job.details.manual).toBe(true);
    const list = JSON.parse((await run(["recovery-points", "--json"])).stdout).recovery_points;
    expect(list.map((x: { id: string }) => x.id)).toEqual([rpNew]);
    // Data stays until GC: the blobs only it used are now unreferenced.
    expect(bytesUnder(join(work, "vault/packs"))).toBe(packsBefore);
    const mid = await stats("2026-01-06T00:01:00Z");
    expect(mid.vault.unreferenced_bytes).toBe(freed);

    const p = await run(["prune", "--now", "2026-01-06T00:01:00Z"]);
    expect(p.code).toBe(0);
    const reclaimed = packsBefore - bytesUnder(join(work, "vault/packs"));
    expect(reclaimed).toBeGreaterThan(freed * 0.97);
    expect(reclaimed).toBeLessThan(freed * 1.03 + 4096);
    expect((await stats("2026-01-06T00:01:00Z")).vault.unreferenced_bytes).toBe(0);
  });

  test("unknown ids fail with exit 1 and --help lists the exit codes", async () => {
    const r = await run(["recovery-points", "delete", "ffffffff"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Cannot find recovery point "ffffffff"');
    const h = await run(["recovery-points", "delete", "--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("the vault lock keeps one");
    const stray = await run(["recovery-points", "--vault", "main", "delete-me"]);
    expect(stray.code).toBe(2);
  });
});
