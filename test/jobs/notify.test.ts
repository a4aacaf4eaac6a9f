/**
 * Notifications through the compiled binary against HTTP listeners this test starts on
 * 127.0.0.1: a failed backup POSTs BACKUP_JOB_FAILED with the job, retries after 500s, a
 * listener that never answers costs the timeout and no more, EXPIRED jobs of `run`, command
 * notifications, selections, validation; and the pure matching in process.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { backoffMs, eventName, matchingNotifications } from "../../src/jobs/notify.ts";
import type { NotificationSpec } from "../../src/plan/plans.ts";
import { localPlan, nightlyPlan, writePlan } from "../support/plans.ts";

let root: string;
let n = 0;
let server: ReturnType<typeof Bun.serve> | null = null;

beforeAll(() => {
  ensureBinary();
  root = mkdtempSync(join(tmpdir(), "efsbak-notify-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => {
  server?.stop(true);
  server = null;
});

/** Starts a listener; `answer` gives the status of the nth request (1-based), or null for never. */
function listen(answer: (nth: number) => number | null): { url: string; bodies: any[] } {
  const bodies: any[] = [];
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      bodies.push({ method: req.method, type: req.headers.get("content-type"), body: await req.json() });
      const status = answer(bodies.length);
      if (status === null) return new Promise<Response>(() => {});
      return new Response(status === 200 ? "ok" : "boom", { status });
    },
  });
  return { url: `http://127.0.0.1:${server.port}/hook`, bodies };
}

/** A working directory whose resource "fs-app" fails its backup when failing is set. */
function setup(notifications: string, options: { failing?: boolean } = {}): string {
  const work = join(root, `w${++n}`);
  mkdirSync(join(work, "data/app"), { recursive: true });
  mkdirSync(join(work, "plans"));
  writeFileSync(join(work, "data/app/a.txt"), "alpha\n");
  const resources = { "fs-app": { path: "data/app", lines: options.failing ? ['hooks = { before = "exit 9" }'] : [] }, "fs-other": "data/app" };
  writePlan(work, "p.toml", localPlan(resources, { extra: `${nightlyPlan({ rule: ['start_window = "1h"'], selection: ['resources = ["fs-app"]'] })}\n${notifications}\n` }));
  return work;
}

describe("notifications", () => {
  test("a failed backup POSTs BACKUP_JOB_FAILED with the job's JSON; the exit code stays 1", async () => {
    const hook = listen(() => 200);
    const work = setup(`
[[notifications]]
name = "ops"
events = ["BACKUP_JOB_FAILED"]
webhook = "${"URL"}"
`.replace("URL", hook.url), { failing: true });
    const r = await runBinary(["backup", "fs-app"], { cwd: work });
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain("not delivered");
    expect(hook.bodies).toHaveLength(1);
    const [{ method, type, body }] = hook.bodies;
    expect([method, type]).toEqual(["POST", "application/json"]);
    expect(body.event).toBe("BACKUP_JOB_FAILED");
    expect(body.notification).toBe("ops");
    const jobs = JSON.parse((await runBinary(["jobs", "--json", "--vault", "main"], { cwd: work })).stdout).jobs;
    expect(body.job).toEqual(jobs[0]);
    expect(body.job.state).toBe("FAILED");
    expect(body.job.error).toContain("exited with code 9");
    // A completed backup is not an event this notification wants.
    writeFileSync(join(work, "plans/p.toml"), readFileSync(join(work, "plans/p.toml"), "utf8").replace('hooks = { before = "exit 9" }', ""));
    expect((await runBinary(["backup", "fs-app"], { cwd: work })).code).toBe(0);
    expect(hook.bodies).toHaveLength(1);
  }, 60_000);

  test("a listener that answers 500 twice, then 200, gets the retries; nothing is warned", async () => {
    const hook = listen((nth) => (nth <= 2 ? 500 : 200));
    const work = setup(`
[[notifications]]
events = ["BACKUP_JOB_COMPLETED"]
webhook = "${hook.url}"
`);
    const r = await runBinary(["backup", "fs-app"], { cwd: work });
    expect(r.code).toBe(0);
    expect(hook.bodies.map((b) => b.body.event)).toEqual(["BACKUP_JOB_COMPLETED", "BACKUP_JOB_COMPLETED", "BACKUP_JOB_COMPLETED"]);
    expect(hook.bodies[2].body.job.state).toBe("COMPLETED");
    expect(r.stderr).not.toContain("not delivered");
  }, 60_000);

  test("a listener that always answers 500 is given up on after the retries, as a warning", async () => {
    const hook = listen(() => 500);
    const work = setup(`
[[notifications]]
events = ["BACKUP_JOB_COMPLETED"]
webhook = "${hook.url}"
retries = 2
`);
    const r = await runBinary(["backup", "fs-app"], { cwd: work });
    expect(r.code).toBe(0);
    expect(hook.bodies).toHaveLength(3);
    expect(r.stderr).toContain(`not delivered: "${hook.url}" answered HTTP 500 (3 attempts)`);
  }, 60_000);

  test("a listener that never answers delays the command by the timeout and no more", async () => {
    const hook = listen(() => null);
    const work = setup(`
[[notifications]]
events = ["BACKUP_JOB_COMPLETED"]
webhook = "${hook.url}"
timeout = "2s"
`);
    const t0 = performance.now();
    const r = await runBinary(["backup", "fs-app"], { cwd: work });
    const seconds = (performance.now() - t0) / 1000;
    expect(r.code).toBe(0);
    expect(JSON.parse((await runBinary(["jobs", "--json", "--vault", "main"], { cwd: work })).stdout).jobs[0].state).toBe("COMPLETED");
    expect(hook.bodies).toHaveLength(1);
    expect(r.stderr).toContain("did not answer within the 2s timeout (1 attempt)");
    expect(seconds).toBeGreaterThanOrEqual(2);
    expect(seconds).toBeLessThan(5);
  }, 60_000);

  test("run's EXPIRED job is an event too; a selection of other resources hears nothing", async () => {
    const hook = listen(() => 200);
    const work = setup(`
[[notifications]]
name = "expired"
events = ["BACKUP_JOB_EXPIRED"]
plans = ["nightly"]
webhook = "${hook.url}?for=app"

[[notifications]]
name = "other"
events = ["BACKUP_JOB_EXPIRED"]
resources = ["fs-other"]
webhook = "${hook.url}?for=other"
`);
    const r = await runBinary(["run", "plans", "--now", "2026-03-02T07:00:00Z"], { cwd: work });
    expect(r.code).toBe(3);
    expect(hook.bodies).toHaveLength(1);
    expect(hook.bodies[0].body).toMatchObject({ event: "BACKUP_JOB_EXPIRED", notification: "expired", job: { state: "EXPIRED", resource: "fs-app", plan: "nightly", rule: "daily" } });
  }, 60_000);

  test("a restore job's end is an event (RESTORE_JOB_COMPLETED)", async () => {
    const hook = listen(() => 200);
    const work = setup(`
[[notifications]]
events = ["RESTORE_JOB_COMPLETED", "RESTORE_JOB_FAILED"]
webhook = "${hook.url}"
`);
    expect((await runBinary(["backup", "fs-app"], { cwd: work })).code).toBe(0);
    expect(hook.bodies).toHaveLength(0);
    const r = await runBinary(["restore", "latest", "--resource", "fs-app", "--target", join(work, "out")], { cwd: work });
    expect(r.code).toBe(0);
    expect(hook.bodies.map((b) => [b.body.event, b.body.job.type, b.body.job.files])).toEqual([["RESTORE_JOB_COMPLETED", "restore", 1]]);
  }, 60_000);

  test("a command notification reads the JSON on stdin, with EFSBAK_EVENT set", async () => {
    const work = setup(`
[[notifications]]
events = ["BACKUP_JOB_FAILED"]
command = "cat > notified.json; echo \\"$EFSBAK_EVENT $EFSBAK_STATE\\" > event.txt"
`, { failing: true });
    const r = await runBinary(["backup", "fs-app"], { cwd: work });
    expect(r.code).toBe(1);
    const body = JSON.parse(readFileSync(join(work, "notified.json"), "utf8"));
    expect(body.event).toBe("BACKUP_JOB_FAILED");
    expect(body.job.state).toBe("FAILED");
    expect(body.job.resource).toBe("fs-app");
    expect(readFileSync(join(work, "event.txt"), "utf8")).toBe("BACKUP_JOB_FAILED FAILED\n");
  }, 60_000);

  test("validate names wrong events, references and targets at file:line:col", async () => {
    const work = setup(`
[[notifications]]
events = ["BACKUP_JOB_FAILD", "BACKUP_JOB_FAILED"]
plans = ["nightly", "weekly"]
webhook = "ftp://example"

[[notifications]]
events = ["RESTORE_JOB_FAILED"]
resources = ["fs-nope"]
`);
    const r = await runBinary(["validate", "plans"], { cwd: work });
    expect(r.code).toBe(2);
    const out = r.stdout + r.stderr;
    expect(out).toContain('p.toml:26:11: Unknown event "BACKUP_JOB_FAILD": did you mean "BACKUP_JOB_FAILED"?');
    expect(out).toContain('p.toml:27:21: Unknown plan "weekly" in notification "notification-1"');
    expect(out).toContain('p.toml:28:11: Invalid "webhook" value "ftp://example": expected an http:// or https:// URL');
    expect(out).toContain('p.toml:30:3: Notification "notification-2" goes nowhere');
    expect(out).toContain('p.toml:32:14: Unknown resource "fs-nope" in notification "notification-2"');
  }, 60_000);
});

describe("notification parts", () => {
  const spec = (over: Partial<NotificationSpec>): NotificationSpec => ({ name: "n", events: [], resources: [], plans: [], timeoutMs: 10_000, retries: 3, file: "f", line: 1, webhook: "http://x", ...over });
  test("events are <TYPE>_JOB_<STATE>, filtered by resources and plans", () => {
    const job = { type: "drill" as const, state: "EXPIRED" as const, resource: "fs-a", plan: null };
    expect(eventName(job)).toBe("DRILL_JOB_EXPIRED");
    const specs = [spec({ name: "all", events: ["DRILL_JOB_EXPIRED"] }), spec({ name: "b", events: ["DRILL_JOB_EXPIRED"], resources: ["fs-b"] }), spec({ name: "plan", events: ["DRILL_JOB_EXPIRED"], plans: ["p"] }), spec({ name: "other", events: ["DRILL_JOB_FAILED"] })];
    expect(matchingNotifications(specs, job).map((s) => s.name)).toEqual(["all"]);
    expect(matchingNotifications(specs, { ...job, resource: "fs-b", plan: "p" }).map((s) => s.name)).toEqual(["all", "b", "plan"]);
  });
  test("backoff doubles from 250 ms", () => {
    expect([1, 2, 3].map(backoffMs)).toEqual([250, 500, 1000]);
  });
});
