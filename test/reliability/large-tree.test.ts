/**
 * Large trees (issue #10): a synthetic tree of many entries (CI 50,000; soak 1,000,000; mostly
 * empty files in directories of 1,000, a symlink per directory, one file in 100 with content)
 * is backed up, backed up again unchanged, and restored through the binary. The restored tree
 * must have the same digest as the source (paths, types, modes, mtimes, sizes, contents), and
 * the binary's peak resident memory (VmHWM, sampled) stays under a bound that does not grow
 * with the tree: memory is bounded by the pipeline and one directory listing per level, not
 * by the number of entries.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../support/cli.ts";
import { SEED, SOAK, jsonOf, makeWideTree, record, runBinaryMeasured, setting, treeDigest } from "../support/soak.ts";

const ENTRIES = setting("ENTRIES", 50_000, 1_000_000);
/** Peak RSS bound for any one command, MiB (a constant: it must not scale with ENTRIES). */
const MAX_RSS_MIB = setting("MAX_RSS_MIB", 768, 768);
const TIMEOUT = SOAK ? 3_600_000 : 115_000;

let work: string;
let src: string;
let vault: string;
let made = 0;
let sourceDigest: { digest: string; entries: number };
const figures: Record<string, unknown> = {};

beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-large-"));
  src = join(work, "src");
  vault = join(work, "vault");
  const t0 = performance.now();
  made = makeWideTree(src, { entries: ENTRIES, seed: SEED });
  figures.make_seconds = Math.round(performance.now() - t0) / 1000;
  sourceDigest = treeDigest(src);
}, TIMEOUT);

afterAll(() => {
  record("large-tree", { entries: made, ...figures });
  if (work) rmSync(work, { recursive: true, force: true });
}, TIMEOUT);

test(`a tree of ${ENTRIES.toLocaleString("en")} entries backs up and restores exactly with bounded memory`, async () => {
  expect(sourceDigest.entries).toBe(made);
  const first = await runBinaryMeasured(["backup", src, "--vault", vault, "--json"], { cwd: work });
  expect({ code: first.code, stderr: first.code === 0 ? "" : first.stderr }).toEqual({ code: 0, stderr: "" });
  const job = jsonOf(first).job;
  figures.backup = { seconds: first.ms / 1000, peak_rss_mib: Math.round(first.peakRssKb / 1024), files: job.files };

  const again = await runBinaryMeasured(["backup", src, "--vault", vault, "--json"], { cwd: work });
  expect(again.code).toBe(0);
  expect(jsonOf(again).job.bytes_read).toBe(0);
  figures.unchanged_backup = { seconds: again.ms / 1000, peak_rss_mib: Math.round(again.peakRssKb / 1024) };

  const target = join(work, "out");
  const r = await runBinaryMeasured(["restore", jsonOf(first).recovery_point, "--vault", vault, "--target", target, "--json"], { cwd: work });
  expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
  figures.restore = { seconds: r.ms / 1000, peak_rss_mib: Math.round(r.peakRssKb / 1024) };
  const dir = join(target, readdirSync(target).find((n) => n.startsWith("efsbak-restore_"))!);
  expect(treeDigest(dir)).toEqual(sourceDigest);

  const c = await runBinaryMeasured(["check", "--read-data", "--vault", vault], { cwd: work });
  expect(c.code).toBe(0);
  figures.check_read_data = { seconds: c.ms / 1000, peak_rss_mib: Math.round(c.peakRssKb / 1024) };

  for (const run of [first, again, r, c]) {
    expect(run.peakRssKb).toBeGreaterThan(0);
    expect(run.peakRssKb / 1024).toBeLessThan(MAX_RSS_MIB);
  }
}, TIMEOUT);
