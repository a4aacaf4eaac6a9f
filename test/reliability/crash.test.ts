/**
 * Crash safety through the compiled binary (DESIGN.md, completion window; issues #5 and #10).
 *
 * A large tree (CI: ~300 MiB of random files plus a few thousand small ones; soak: 1.5 GiB) is
 * backed up by dist/efsbak, which is SIGKILLed at seeded random moments. A moment is "after k
 * more packs reached the vault, plus 0-200 ms", k drawn from 0 (still walking or adopting) to
 * nearly all, so kills land before, between and inside pack uploads. Per trial:
 *
 *   churn the tree (new content) -> snapshot it
 *   backup, SIGKILL at a random moment           -> `check` exits 0
 *   every other trial: the resumed backup is SIGKILLed too -> `check` exits 0
 *   backup to the end: adopts what reached the vault, stores only the rest
 *   restore the new recovery point               -> equal to the snapshot
 *
 * Then SIGTERM once (the backup ends PARTIAL, exit 3, with a PARTIAL recovery point that
 * restores what it holds), a resumed run, and at the end `check --read-data` and every
 * recovery point restored again, equal to the source as it was when it was taken.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Snapshot, snapshotTree } from "../support/tree.ts";
import { ensureBinary } from "../support/cli.ts";
import { type BinaryRun, SEED, SOAK, churnTree, jsonOf, makeLargeTree, mib, packStats, record, runBinaryMeasured, setting, startBinary, until } from "../support/soak.ts";
import { between, rng } from "../support/random.ts";

const TREE_BYTES = setting("CRASH_MIB", 300, 1536) * (1 << 20);
const SMALL_FILES = setting("CRASH_SMALL_FILES", 3000, 20000);
const TRIALS = setting("TRIALS", 3, 12);
/** Share of the big files rewritten before each trial after the first. */
const CHURN = setting("CRASH_CHURN", 1, 0.35);
const PACK_BYTES = 16 << 20;
const MINUTE = 60_000;
const TIMEOUT = SOAK ? 240 * MINUTE : 2 * MINUTE;

let work: string;
let src: string;
let vault: string;
/** Bytes of the tree as made (big and small files). */
let treeBytes = 0;
const random = rng(SEED ^ 0xc0ffee);
/** Every recovery point made, with the source as it was. */
const made: { rp: string; snapshot: Snapshot; status: string }[] = [];
const figures = { trials: 0, kills: 0, second_kills: 0, finished_before_kill: 0, checks_passed: 0, failures: 0, restores_exact: 0, adopted_packs: 0, kill_points: [] as string[], resume_store_ratio: [] as number[], data_lost_bytes: 0 };

function backupArgs(): string[] {
  return ["backup", src, "--vault", vault, "--json"];
}

function restoredDir(target: string): string {
  const names = readdirSync(target).filter((n) => n.startsWith("efsbak-restore_"));
  expect(names).toHaveLength(1);
  return join(target, names[0]);
}

/** Kills a backup at a random moment: after k more packs landed (k random), plus 0-200 ms. */
async function killAtRandomMoment(expectedPacks: number): Promise<{ killed: boolean; run: BinaryRun; packsBefore: number; packsAtKill: number; k: number }> {
  const packsBefore = packStats(vault).count;
  const k = between(random, 0, Math.max(0, expectedPacks - 2));
  const extraMs = between(random, 0, 200);
  const proc = startBinary(backupArgs(), { cwd: work });
  let exited = false;
  void proc.done.then(() => (exited = true));
  await until(() => exited || packStats(vault).count >= packsBefore + k, { timeoutMs: TIMEOUT, everyMs: 5 });
  if (!exited) await Bun.sleep(extraMs);
  const packsAtKill = packStats(vault).count;
  if (!exited) proc.kill("SIGKILL");
  const run = await proc.done;
  const killed = run.signal === "SIGKILL";
  figures.kill_points.push(killed ? `after ${packsAtKill - packsBefore} packs (+${extraMs} ms)` : "finished first");
  return { killed, run, packsBefore, packsAtKill, k };
}

/** `efsbak check` must pass; returns the unindexed packs it saw. */
async function expectCheckPasses(readData = false): Promise<string[]> {
  const r = await runBinaryMeasured(["check", "--vault", vault, "--json", ...(readData ? ["--read-data"] : [])], { cwd: work });
  const out = jsonOf(r);
  if (r.code !== 0) figures.failures++;
  expect({ code: r.code, problems: out.problems }).toEqual({ code: 0, problems: [] });
  figures.checks_passed++;
  return out.unindexed_packs;
}

async function expectRestoresExactly(rp: string, snapshot: Snapshot): Promise<void> {
  const target = join(work, `restore-${rp}-${Date.now()}`);
  const r = await runBinaryMeasured(["restore", rp, "--vault", vault, "--target", target, "--json"], { cwd: work });
  expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
  const got = snapshotTree(restoredDir(target));
  if (JSON.stringify(got) !== JSON.stringify(snapshot)) figures.failures++;
  expect(got).toEqual(snapshot);
  figures.restores_exact++;
  rmSync(target, { recursive: true, force: true });
}

beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-crash-"));
  src = join(work, "src");
  vault = join(work, "vault");
  mkdirSync(src);
  treeBytes = makeLargeTree(src, { bytes: TREE_BYTES, smallFiles: SMALL_FILES, seed: SEED }).bytes;
}, TIMEOUT);

afterAll(() => {
  record("crash", { tree_mib: mib(TREE_BYTES), small_files: SMALL_FILES, ...figures });
  if (work) rmSync(work, { recursive: true, force: true });
}, TIMEOUT);

describe("SIGKILL during backup, through the binary", () => {
  test(`${TRIALS} kills at random moments: check passes, the next run resumes, every recovery point restores exactly`, async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const newBytes = trial === 0 ? treeBytes : churnTree(src, { seed: SEED + trial, fraction: CHURN });
      const snapshot = snapshotTree(src);
      const base = packStats(vault).bytes;
      const expectedPacks = Math.ceil(newBytes / PACK_BYTES);

      const first = await killAtRandomMoment(expectedPacks);
      if (!first.killed) {
        // The backup ended before the moment came: nothing to resume; it must have succeeded.
        expect(first.run.code).toBe(0);
        figures.finished_before_kill++;
        made.push({ rp: jsonOf(first.run).recovery_point, snapshot, status: "AVAILABLE" });
        continue;
      }
      figures.kills++;
      let unindexed = await expectCheckPasses();

      if (trial % 2 === 1) {
        // Kill the resumed backup as well.
        const landed = packStats(vault).count - first.packsBefore;
        const second = await killAtRandomMoment(Math.max(1, expectedPacks - landed));
        if (second.killed) {
          figures.kills++;
          figures.second_kills++;
          unindexed = await expectCheckPasses();
        } else {
          expect(second.run.code).toBe(0);
          figures.finished_before_kill++;
          made.push({ rp: jsonOf(second.run).recovery_point, snapshot, status: "AVAILABLE" });
          await expectRestoresExactly(made.at(-1)!.rp, snapshot);
          figures.trials++;
          continue;
        }
      }

      // Resume: everything that reached the vault is reused; only the rest is stored.
      const inVault = packStats(vault).bytes - base;
      const resumed = await runBinaryMeasured(backupArgs(), { cwd: work });
      expect({ code: resumed.code, stderr: resumed.code === 0 ? "" : resumed.stderr }).toEqual({ code: 0, stderr: "" });
      const job = jsonOf(resumed).job;
      expect(job.state).toBe("COMPLETED");
      if (unindexed.length > 0) {
        expect(job.warnings.join("\n")).toContain(`Adopted ${unindexed.length} packs`);
        figures.adopted_packs += unindexed.length;
      }
      const slack = 4 * (1 << 20) + 0.01 * newBytes;
      expect(job.bytes_stored).toBeLessThanOrEqual(newBytes - inVault + slack);
      figures.resume_store_ratio.push(Math.round((job.bytes_stored / newBytes) * 1000) / 1000);
      made.push({ rp: jsonOf(resumed).recovery_point, snapshot, status: "AVAILABLE" });
      await expectRestoresExactly(made.at(-1)!.rp, snapshot);
      figures.trials++;
    }
    expect(figures.kills).toBeGreaterThanOrEqual(TRIALS);
  }, TIMEOUT * 2);

  test("SIGTERM stops a backup cleanly: PARTIAL job and recovery point (exit 3), and the next run resumes", async () => {
    const newBytes = churnTree(src, { seed: SEED + 1000, fraction: 1 });
    const snapshot = snapshotTree(src);
    const before = packStats(vault).count;
    const bytesBefore = packStats(vault).bytes;
    const proc = startBinary(backupArgs(), { cwd: work });
    let exited = false;
    void proc.done.then(() => (exited = true));
    const wanted = between(random, 1, Math.max(1, Math.floor(newBytes / PACK_BYTES / 2)));
    await until(() => exited || packStats(vault).count >= before + wanted, { timeoutMs: TIMEOUT });
    expect(exited).toBe(false);
    proc.kill("SIGTERM");
    const run = await proc.done;
    expect(run.code).toBe(3);
    expect(run.stderr).toContain("SIGTERM: stopping cleanly");
    const out = jsonOf(run);
    expect(out.job.state).toBe("PARTIAL");
    expect(out.job.error).toContain("is PARTIAL; the next backup resumes from it");
    const rps = jsonOf(await runBinaryMeasured(["recovery-points", "--vault", vault, "--json"], { cwd: work })).recovery_points;
    const partial = rps.find((r: { id: string }) => r.id === out.recovery_point);
    expect(partial.status).toBe("PARTIAL");
    await expectCheckPasses();

    // The PARTIAL recovery point restores what it holds, each entry as it was in the source,
    // and nothing goes to lost+found (exit 0, never 3): the file being read at SIGTERM is left
    // out whole, and the stop lands inside big/ (at most half of its packs were stored), so
    // no hard link group (links/) is cut in two and no file changed while it was read.
    const target = join(work, "restore-partial");
    const r = await runBinaryMeasured(["restore", out.recovery_point, "--vault", vault, "--target", target, "--json"], { cwd: work });
    expect(r.code).toBe(0);
    expect(jsonOf(r).fragments).toEqual([]);
    const got = snapshotTree(restoredDir(target), { ignore: ["efsbak-lost+found"] });
    const placed = Object.keys(got);
    expect(placed.length).toBeGreaterThan(0);
    expect(placed.filter((p) => p.startsWith("big/")).length).toBeGreaterThan(0);
    expect(placed.filter((p) => p.startsWith("big/") && got[p].type === "file").length).toBeLessThan(Object.keys(snapshot).filter((p) => p.startsWith("big/") && snapshot[p].type === "file").length);
    for (const p of placed) {
      const want: unknown = got[p].type === "dir" ? { p, type: snapshot[p]?.type } : { p, entry: snapshot[p] };
      const have: unknown = got[p].type === "dir" ? { p, type: got[p].type } : { p, entry: got[p] };
      expect(have).toEqual(want);
    }
    const byStopped = packStats(vault).bytes - bytesBefore;
    rmSync(target, { recursive: true, force: true });

    // The next run resumes: what the stopped run stored is not stored again.
    const resumed = await runBinaryMeasured(backupArgs(), { cwd: work });
    expect(resumed.code).toBe(0);
    const job = jsonOf(resumed).job;
    expect(byStopped).toBeGreaterThan(0);
    expect(job.bytes_stored).toBeLessThanOrEqual(newBytes - byStopped + 4 * (1 << 20) + 0.01 * newBytes);
    made.push({ rp: out.recovery_point, snapshot: {}, status: "PARTIAL" });
    made.push({ rp: jsonOf(resumed).recovery_point, snapshot, status: "AVAILABLE" });
    await expectRestoresExactly(made.at(-1)!.rp, snapshot);
    record("crash-sigterm", { new_mib: mib(newBytes), stopped_run_stored_mib: mib(byStopped), packs_before_term: packStats(vault).count - before, partial_rp_entries: placed.length, resumed_stored_mib: mib(job.bytes_stored), resumed_read_mib: mib(job.bytes_read) });
  }, TIMEOUT);

  test("afterwards: check --read-data passes and the oldest and newest recovery points still restore exactly", async () => {
    await expectCheckPasses(true);
    const full = made.filter((m) => m.status === "AVAILABLE");
    // Each was restored right after it was made; again now (after all the kills) the oldest,
    // the newest, and under soak a third of the others.
    const chosen = [full[0], ...full.slice(1, -1).filter(() => SOAK && random() < 0.3), full.at(-1)!];
    for (const m of chosen) await expectRestoresExactly(m.rp, m.snapshot);
    expect(figures.failures).toBe(0);
  }, TIMEOUT * 2);
});
