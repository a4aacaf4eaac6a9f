/**
 * Hooks through the compiled binary: a before hook's file is in the backup, a failing before
 * fails the job before anything is read, after sees the outcome, timeouts kill the process
 * group, output is captured and bounded, rule hooks wrap resource hooks under `run`; and the
 * pure parts (environment, output tail) in process.
 */
import { localPlan, nightlyPlan, writePlan } from "../support/plans.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { createOutputTail, hookEnv, HOOK_OUTPUT_BYTES } from "../../src/jobs/hooks.ts";

let root: string;
let n = 0;

beforeAll(() => {
  ensureBinary();
  root = mkdtempSync(join(tmpdir(), "efsbak-hooks-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fresh working directory with a vault, resource "fs-app" (with the given hooks table) and a plan. */
function setup(hooks: string, ruleHooks = ""): string {
  const work = join(root, `w${++n}`);
  mkdirSync(join(work, "data/app"), { recursive: true });
  mkdirSync(join(work, "plans"));
  writeFileSync(join(work, "data/app/a.txt"), "alpha\n");
  writePlan(work, "p.toml", localPlan({ "fs-app": { path: "data/app", lines: [`hooks = ${hooks}`] } }, { extra: nightlyPlan({ rule: ruleHooks ? [`hooks = ${ruleHooks}`] : [], selection: ['resources = ["fs-app"]'] }) }));
  return work;
}

async function jobs(work: string): Promise<Record<string, any>[]> {
  const r = await runBinary(["jobs", "--json", "--vault", "main"], { cwd: work });
  expect(r.code).toBe(0);
  const doc = JSON.parse(r.stdout);
  return doc.jobs ?? doc;
}

describe("hooks", () => {
  test("a before hook's dump is in the backup; after sees COMPLETED and the recovery point", async () => {
    const work = setup(`{ before = "echo dumping; echo \\"$EFSBAK_JOB_ID\\" > \\"$EFSBAK_PATH/dump.sql\\"", after = "env | grep ^EFSBAK_ | sort > after.env; echo after-out >&2" }`);
    const r = await runBinary(["backup", "fs-app", "--json"], { cwd: work, env: { EFSBAK_PASSWORD: "" } });
    expect(r.stderr).not.toContain("Hook");
    expect(r.code).toBe(0);
    const job = JSON.parse(r.stdout).job;
    expect(job.state).toBe("COMPLETED");
    expect(job.files).toBe(2);
    // The file the before hook wrote is in the recovery point, with the job's id in it.
    const dump = await runBinary(["dump", job.recovery_point, "dump.sql", "--vault", "main"], { cwd: work });
    expect(dump.code).toBe(0);
    expect(dump.stdout).toBe(`${job.id}\n`);
    const env = Object.fromEntries(readFileSync(join(work, "after.env"), "utf8").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    expect(env.EFSBAK_STATE).toBe("COMPLETED");
    expect(env.EFSBAK_RECOVERY_POINT).toBe(job.recovery_point);
    expect(env.EFSBAK_JOB_ID).toBe(job.id);
    expect(env.EFSBAK_RESOURCE).toBe("fs-app");
    expect(env.EFSBAK_PATH).toBe(join(work, "data/app"));
    expect(env.EFSBAK_VAULT).toBe("main");
    expect(env.EFSBAK_ERROR).toBe("");
    expect("EFSBAK_PASSWORD" in env).toBe(false);
    // Both runs are in the job record, with their output.
    const recorded = (await jobs(work)).find((j) => j.id === job.id)!;
    expect(recorded.hooks.map((h: any) => [h.phase, h.exit_code, h.timed_out])).toEqual([["before", 0, false], ["after", 0, false]]);
    expect(recorded.hooks[0].output).toBe("dumping\n");
    expect(recorded.hooks[1].output).toBe("after-out\n");
    expect(recorded.hooks[0].from).toBe('resource "fs-app"');
  }, 60_000);

  test("a failing before hook fails the job with exit 1 and reads nothing; after still runs and sees FAILED", async () => {
    const work = setup(`{ before = "echo cannot stop app >&2; exit 7", after = "echo \\"$EFSBAK_STATE|$EFSBAK_ERROR\\" > after.txt" }`);
    const r = await runBinary(["backup", "fs-app"], { cwd: work });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: Hook "before" of resource "fs-app" failed: "echo cannot stop app >&2; exit 7" exited with code 7');
    const list = await jobs(work);
    expect(list).toHaveLength(1);
    expect(list[0].state).toBe("FAILED");
    expect(list[0].files).toBe(0);
    expect(list[0].bytes_read).toBe(0);
    expect(list[0].recovery_point).toBeNull();
    expect(list[0].error).toContain("exited with code 7");
    expect(list[0].hooks[0]).toMatchObject({ phase: "before", exit_code: 7, output: "cannot stop app\n", timed_out: false });
    expect(readFileSync(join(work, "after.txt"), "utf8")).toStartWith("FAILED|Hook \"before\"");
    const rps = await runBinary(["recovery-points", "--json", "--vault", "main"], { cwd: work });
    expect(JSON.parse(rps.stdout).recovery_points ?? JSON.parse(rps.stdout)).toEqual([]);
  }, 60_000);

  test("a failing after hook is a warning, not a failure", async () => {
    const work = setup(`{ after = ["/bin/sh", "-c", "exit 3"] }`);
    const r = await runBinary(["backup", "fs-app", "--json"], { cwd: work });
    expect(r.code).toBe(0);
    const job = JSON.parse(r.stdout).job;
    expect(job.state).toBe("COMPLETED");
    expect(job.warnings).toEqual(['Hook "after" of resource "fs-app" failed: "/bin/sh -c \'exit 3\'" exited with code 3']);
    expect(r.stderr).toContain("exited with code 3");
  }, 60_000);

  test("a hook past its timeout is killed with its process group, and the job fails in time", async () => {
    const work = setup(`{ before = "echo started; sleep 6071 & sleep 6073", timeout = "2s" }`);
    const t0 = performance.now();
    const r = await runBinary(["backup", "fs-app"], { cwd: work });
    const seconds = (performance.now() - t0) / 1000;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("timed out after 2s and was killed");
    expect(seconds).toBeLessThan(8);
    const [job] = await jobs(work);
    expect(job.hooks[0]).toMatchObject({ timed_out: true, output: "started\n" });
    expect(job.hooks[0].duration_ms).toBeGreaterThanOrEqual(1900);
    expect(job.hooks[0].duration_ms).toBeLessThan(5000);
    // Neither sleep is left behind (the whole group was killed).
    const ps = Bun.spawnSync(["pgrep", "-f", "^sleep 607[13]$"]);
    expect(ps.stdout.toString().trim()).toBe("");
  }, 60_000);

  test("output is bounded: the last 16 KiB are kept", async () => {
    const work = setup(`{ before = "i=0; while [ $i -lt 2000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done" }`);
    const r = await runBinary(["backup", "fs-app"], { cwd: work });
    expect(r.code).toBe(0);
    const [job] = await jobs(work);
    const out: string = job.hooks[0].output;
    expect(out).toStartWith("[… ");
    expect(out).toEndWith("line-1999-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(HOOK_OUTPUT_BYTES + 40);
    expect(Buffer.byteLength(out)).toBeGreaterThan(HOOK_OUTPUT_BYTES - 100);
  }, 60_000);

  test("under run, the rule's hooks wrap the resource's, with plan and rule set", async () => {
    const work = setup(
      `{ before = "echo res-before >> order", after = "echo res-after >> order" }`,
      `{ before = "echo rule-before:$EFSBAK_PLAN/$EFSBAK_RULE >> order", after = "echo rule-after:$EFSBAK_STATE >> order" }`,
    );
    const r = await runBinary(["run", "plans", "--now", "2026-03-02T05:10:00Z"], { cwd: work });
    expect(r.code).toBe(0);
    expect(readFileSync(join(work, "order"), "utf8")).toBe("rule-before:nightly/daily\nres-before\nres-after\nrule-after:COMPLETED\n");
  }, 60_000);

  test("validate reports hook mistakes at file:line:col", async () => {
    const work = setup(`{ befor = "x", timeout = "5 minutes" }`, `{ before = [] }`);
    const r = await runBinary(["validate", "plans"], { cwd: work });
    expect(r.code).toBe(2);
    const out = r.stdout + r.stderr;
    expect(out).toContain('p.toml:8:11: Unknown key "befor" in hooks of resource "fs-app": did you mean "before"?');
    expect(out).toContain('p.toml:8:34: Invalid duration "5 minutes" for "timeout"');
    expect(out).toContain('p.toml:8:1: Hooks of resource "fs-app" do nothing');
    expect(out).toContain('p.toml:16:20: Invalid "before": an empty array runs nothing');
    expect(existsSync(join(work, "vault"))).toBe(false);
  }, 60_000);
});

describe("hook parts", () => {
  test("the environment withholds the password and sets the outcome only for after", () => {
    const c = { jobId: "j1", resource: "r", path: "/p", plan: null, rule: null, vault: "v", state: "PARTIAL", recoveryPoint: "rp1", error: "stopped" };
    const before = hookEnv({ PATH: "/bin", EFSBAK_PASSWORD: "secret", EFSBAK_PASSWORD_FILE: "/f" }, { ...c, phase: "before" });
    expect(before).toMatchObject({ PATH: "/bin", EFSBAK_JOB_ID: "j1", EFSBAK_PLAN: "", EFSBAK_HOOK: "before" });
    expect(before.EFSBAK_PASSWORD).toBeUndefined();
    expect(before.EFSBAK_PASSWORD_FILE).toBeUndefined();
    expect(before.EFSBAK_STATE).toBeUndefined();
    expect(hookEnv({}, { ...c, phase: "after" })).toMatchObject({ EFSBAK_STATE: "PARTIAL", EFSBAK_RECOVERY_POINT: "rp1", EFSBAK_ERROR: "stopped" });
  });

  test("the output tail keeps the last bytes and says how many went", () => {
    const tail = createOutputTail(10);
    tail.write(new TextEncoder().encode("0123456789"));
    tail.write(new TextEncoder().encode("abcdef"));
    expect(tail.text()).toBe("[… 6 bytes before]\n6789abcdef");
    const small = createOutputTail(10);
    small.write(new TextEncoder().encode("hi"));
    expect(small.text()).toBe("hi");
  });
});
