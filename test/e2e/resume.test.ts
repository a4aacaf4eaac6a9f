/**
 * The completion window through the binary: a scheduled backup still running at
 * scheduled_for + completion_window stops cleanly, keeps what it stored as a PARTIAL recovery
 * point (job PARTIAL, exit 3), and the next backup resumes instead of starting over.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { bytes, makeTree, snapshotTree } from "../support/tree.ts";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { localPlan, planWorkdir, removeWorkdir } from "../support/plans.ts";

let work: string;
const TOTAL = 16 * 40_000_000;

beforeAll(() => {
  ensureBinary();
  work = planWorkdir("efsbak-resume-", { "p.toml": localPlan({ big: "data" }, { extra: `
[plan]
name = "p"

[[plan.rules]]
name = "daily"
schedule = "cron(0 5 ? * * *)"
start_window = "1h"
completion_window = "1h"

[[plan.selections]]
resources = ["big"]
` }) });
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 16; i++) files[`f${String(i).padStart(2, "0")}.bin`] = bytes(40_000_000, 100 + i);
  makeTree(join(work, "data"), files);
});

afterAll(() => {
  removeWorkdir(work);
});

describe("completion window", () => {
  test("a backup still running at the end of its window stops PARTIAL, and the next one resumes", async () => {
    // 0.25 s before the window closes: the backup of 640 MB cannot finish in time.
    const first = await runBinary(["run", "plans", "--now", "2026-05-01T05:59:59.750Z", "--json"], { cwd: work });
    expect(first.code).toBe(3);
    const [job] = JSON.parse(first.stdout).jobs;
    expect(job.state).toBe("PARTIAL");
    expect(job.error).toContain("completion window");
    expect(job.bytes_new).toBeLessThan(TOTAL);
    const rps = JSON.parse((await runBinary(["recovery-points", "--json"], { cwd: work })).stdout).recovery_points;
    expect(rps.map((r: { status: string }) => r.status)).toEqual(["PARTIAL"]);
    expect((await runBinary(["check"], { cwd: work })).code).toBe(0);

    const second = await runBinary(["run", "plans", "--now", "2026-05-02T05:01:00Z", "--json"], { cwd: work });
    expect(second.code).toBe(0);
    const [job2] = JSON.parse(second.stdout).jobs;
    expect(job2.state).toBe("COMPLETED");
    // What the first run stored is not stored again.
    expect(job2.bytes_new + job.bytes_new).toBeLessThan(TOTAL * 1.02);

    const target = join(work, "out");
    const r = await runBinary(["restore", job2.recovery_point, "--target", target], { cwd: work });
    expect(r.code).toBe(0);
    const dir = join(target, readdirSync(target)[0]);
    expect(snapshotTree(dir)).toEqual(snapshotTree(join(work, "data")));
  });
});
