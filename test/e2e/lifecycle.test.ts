/**
 * Lifecycle through the binary under a simulated clock: recovery points turn cold (cold-tier
 * packs appear, warm data shrinks by what only cold points use), are deleted after
 * delete_after (disk use falls), the vault lock refuses early deletes, and a prune while a
 * backup holds the vault is refused and breaks neither.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bytes, bytesUnder, makeTree, snapshotTree } from "../support/tree.ts";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { localPlan, planWorkdir, removeWorkdir, writePlan } from "../support/plans.ts";

let work: string;
const env = { EFSBAK_GC_MIN_AGE: "0" };

/** Waits until `ok()` holds (polling every 20 ms), at most 60 s. */
async function until(ok: () => boolean): Promise<void> {
  for (const t0 = Date.now(); !ok(); await Bun.sleep(20)) if (Date.now() - t0 > 60_000) throw new Error("timed out waiting");
}

async function run(args: string[], extra: Record<string, string> = {}) {
  return runBinary(args, { cwd: work, env: { ...env, ...extra } });
}

beforeAll(() => {
  ensureBinary();
  work = planWorkdir("efsbak-life-");
  writePlan(work, "p.toml", localPlan({
    data: "data",
    race: { path: "race", lines: [`hooks = { before = "touch '${join(work, "HELD")}'; while [ ! -e '${join(work, "GO")}' ]; do sleep 0.05; done", timeout = "2m" }`] },
  }, { vault: ["allow_short_cold = true", "", "[vaults.main.lock]", 'min_retention = "5d"', 'max_retention = "400d"'] }));
  makeTree(join(work, "data"), { "old.bin": bytes(3_000_000, 21), "shared.bin": bytes(2_000_000, 22) });
  makeTree(join(work, "race"), { "a.bin": bytes(3_000_000, 31), "b.bin": bytes(3_000_000, 32) });
});

afterAll(() => {
  removeWorkdir(work);
});

describe("lifecycle through the binary", () => {
  let rpOld = "";
  let rpNew = "";

  test("the vault lock refuses a backup that would be deleted too early", async () => {
    const r = await run(["backup", "data", "--delete-after", "2d", "--now", "2026-01-01T00:00:00Z"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("min_retention 5d");
  });

  test("recovery points move to the cold tier after cold_after", async () => {
    const a = await run(["backup", "data", "--cold-after", "10d", "--delete-after", "30d", "--json", "--now", "2026-01-01T00:00:00Z"]);
    expect(a.code).toBe(0);
    rpOld = JSON.parse(a.stdout).recovery_point;
    rmSync(join(work, "data/old.bin"));
    writeFileSync(join(work, "data/new.txt"), "new\n");
    const b = await run(["backup", "data", "--json", "--now", "2026-01-02T00:00:00Z"]);
    expect(b.code).toBe(0);
    rpNew = JSON.parse(b.stdout).recovery_point;

    const warmBefore = bytesUnder(join(work, "vault/packs"));
    const dry = await run(["prune", "--dry-run", "--now", "2026-01-12T00:00:00Z"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`recovery point ${rpOld} (data) would move to cold`);
    expect(bytesUnder(join(work, "vault/packs"))).toBe(warmBefore);

    const p = await run(["prune", "--json", "--now", "2026-01-12T00:00:00Z"]);
    expect(p.code).toBe(0);
    expect(JSON.parse(p.stdout).moved_cold).toEqual([rpOld]);
    const cold = bytesUnder(join(work, "vault/cold/packs"));
    // old.bin (3 MB random) is used only by the cold point; shared.bin stays warm.
    expect(cold).toBeGreaterThan(2_900_000);
    expect(cold).toBeLessThan(3_300_000);
    expect(bytesUnder(join(work, "vault/packs"))).toBeLessThan(warmBefore - 2_900_000);
    const rps = JSON.parse((await run(["recovery-points", "--json", "--now", "2026-01-12T00:00:00Z"])).stdout).recovery_points;
    expect(rps.map((r: { id: string; tier: string }) => [r.id, r.tier])).toEqual([[rpOld, "cold"], [rpNew, "warm"]]);
  });

  test("a cold recovery point restores transparently", async () => {
    const target = join(work, "restored");
    const r = await run(["restore", rpOld, "--target", target, "--json"]);
    expect(r.code).toBe(0);
    const dir = JSON.parse(r.stdout).restore_dir;
    expect(snapshotTree(dir)["old.bin"].size).toBe(3_000_000);
    expect((await run(["check", "--read-data"])).code).toBe(0);
  });

  test("recovery points are deleted after delete_after and disk use falls", async () => {
    const before = bytesUnder(join(work, "vault"));
    const r = await run(["prune", "--json", "--now", "2026-02-01T00:00:00Z"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).deleted).toEqual([rpOld]);
    expect(bytesUnder(join(work, "vault/cold/packs"))).toBe(0);
    expect(bytesUnder(join(work, "vault"))).toBeLessThan(before - 2_900_000);
    const rps = JSON.parse((await run(["recovery-points", "--json"])).stdout).recovery_points;
    expect(rps.map((x: { id: string }) => x.id)).toEqual([rpNew]);
    expect((await run(["check", "--read-data"])).code).toBe(0);
  });

  test("max_retention forces deletion of old recovery points", async () => {
    const r = await run(["prune", "--json", "--now", "2027-03-01T00:00:00Z"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).deleted).toEqual([rpNew]);
  });

  test("a prune while a backup holds the vault is refused (exit 4), and breaks neither", async () => {
    // The "race" resource's before hook runs once the backup holds its shared vault claim,
    // says so (HELD) and waits for GO: the prune below meets a backup that is certainly running.
    const backup = run(["backup", "race", "--json"]);
    await until(() => existsSync(join(work, "HELD")));
    const prune = await run(["prune", "--json"]);
    expect(prune.code).toBe(4);
    expect(prune.stderr).toContain("Cannot start a prune");
    writeFileSync(join(work, "GO"), "");
    const b = await backup;
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout).job.state).toBe("COMPLETED");
    const after = await run(["prune", "--json"]);
    expect(after.code).toBe(0);
    const check = await run(["check", "--read-data"]);
    expect(check.stdout).toContain("No problems found");
    expect(check.code).toBe(0);
  });
});
