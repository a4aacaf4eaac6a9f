import { describe, expect, test } from "bun:test";
import { decideDue, decideRestoreTests, type Decision, type JobSummary } from "../../src/jobs/due.ts";
import type { Plans, ResourceSpec, RuleSpec } from "../../src/plan/plans.ts";
import { parseSchedule } from "../../src/plan/schedule.ts";

const H = 3_600_000;

function rule(name: string, scheduleText: string, extra: Partial<RuleSpec> = {}): RuleSpec {
  const parsed = parseSchedule(scheduleText);
  if ("error" in parsed) throw new Error(parsed.error);
  return {
    name,
    schedule: parsed.schedule,
    scheduleText,
    timezone: "UTC",
    startWindowMs: 8 * H,
    completionWindowMs: 7 * 24 * H,
    vault: "main",
    recoveryPointTags: {},
    ...extra,
  };
}

function resource(id: string, tags: Record<string, string> = {}): ResourceSpec {
  return { id, path: `/srv/${id}`, tags, exclude: [], excludeIfPresent: [], oneFileSystem: false, file: "plans/r.toml", line: 1 };
}

function fixture(): Plans {
  const resources = [resource("fs-a", { env: "prod" }), resource("fs-b", { env: "prod" }), resource("fs-c", { env: "dev" })];
  const weekly = parseSchedule("@weekly");
  if ("error" in weekly) throw new Error(weekly.error);
  return {
    dir: "plans",
    notifications: [],
    vaults: new Map(),
    resources: new Map(resources.map((r) => [r.id, r])),
    plans: [
      {
        name: "nightly",
        file: "plans/nightly.toml",
        rules: [rule("daily", "cron(0 5 ? * * *)"), rule("new-york", "cron(0 2 ? * * *)", { timezone: "America/New_York", vault: "offsite" })],
        // fs-b twice (id and tag): it must run once
        selections: [{ name: "prod", resources: ["fs-b"], tags: { env: "prod" } }],
      },
      {
        name: "future",
        file: "plans/future.toml",
        rules: [rule("someday", "cron(0 0 1 1 ? 2030)", { startWindowMs: 2 * H })],
        selections: [{ name: "dev", resources: ["fs-c"], tags: {} }],
      },
    ],
    restoreTests: [
      {
        name: "drill",
        schedule: weekly.schedule,
        scheduleText: "@weekly",
        timezone: "UTC",
        startWindowMs: 4 * H,
        resources: [],
        tags: { env: "dev" },
        algorithm: "latest",
        file: "plans/drill.toml",
      },
    ],
  };
}

function job(id: string, fields: Partial<JobSummary>): JobSummary {
  return { id, type: "backup", plan: "nightly", rule: "daily", resource: "fs-a", scheduled_for: null, state: "COMPLETED", started_at: null, ...fields };
}

/** A decision as one line, so the tables read like `efsbak run --dry-run`. */
function line(d: Decision): string {
  return `${d.action} ${d.plan}/${d.rule}/${d.resource} -> ${d.vault} @${d.scheduledFor?.toISOString() ?? "-"}: ${d.reason}`;
}

interface Case {
  name: string;
  now: string;
  jobs?: JobSummary[];
  plan?: string;
  rule?: string;
  expected: string[];
}

const cases: Case[] = [
  {
    name: "first run: every plan, rule and selected resource once, in order",
    now: "2025-01-10T06:00:00Z",
    expected: [
      "start nightly/daily/fs-a -> main @2025-01-10T05:00:00.000Z: due since 2025-01-10T05:00:00.000Z, start window open until 2025-01-10T13:00:00.000Z",
      "start nightly/daily/fs-b -> main @2025-01-10T05:00:00.000Z: due since 2025-01-10T05:00:00.000Z, start window open until 2025-01-10T13:00:00.000Z",
      "expire nightly/new-york/fs-a -> offsite @2025-01-09T07:00:00.000Z: missed: start window closed at 2025-01-09T15:00:00.000Z",
      "expire nightly/new-york/fs-b -> offsite @2025-01-09T07:00:00.000Z: missed: start window closed at 2025-01-09T15:00:00.000Z",
      "skip future/someday/fs-c -> main @-: no occurrence yet",
    ],
  },
  {
    name: "a job for the same occurrence, in any state and time format, means skip",
    now: "2025-01-10T06:00:00Z",
    rule: "daily",
    jobs: [
      job("j1", { scheduled_for: "2025-01-10T05:00:00.000Z", state: "RUNNING" }),
      job("j2", { resource: "fs-b", scheduled_for: "2025-01-10T05:00:00Z", state: "FAILED" }),
    ],
    expected: [
      "skip nightly/daily/fs-a -> main @2025-01-10T05:00:00.000Z: already handled: job j1 RUNNING",
      "skip nightly/daily/fs-b -> main @2025-01-10T05:00:00.000Z: already handled: job j2 FAILED",
    ],
  },
  {
    name: "jobs of another occurrence, resource, rule or type do not count",
    now: "2025-01-10T06:00:00Z",
    plan: "nightly",
    rule: "daily",
    jobs: [
      job("old", { scheduled_for: "2025-01-09T05:00:00.000Z" }),
      job("other-rule", { rule: "new-york", scheduled_for: "2025-01-10T05:00:00.000Z" }),
      job("restore", { type: "restore", scheduled_for: "2025-01-10T05:00:00.000Z" }),
      job("other-plan", { plan: "weekly", scheduled_for: "2025-01-10T05:00:00.000Z" }),
      job("b", { resource: "fs-b", scheduled_for: "2025-01-10T05:00:00.000Z", state: "EXPIRED" }),
    ],
    expected: [
      "start nightly/daily/fs-a -> main @2025-01-10T05:00:00.000Z: due since 2025-01-10T05:00:00.000Z, start window open until 2025-01-10T13:00:00.000Z",
      "skip nightly/daily/fs-b -> main @2025-01-10T05:00:00.000Z: already handled: job b EXPIRED",
    ],
  },
  {
    name: "the last millisecond of the window still starts",
    now: "2025-01-10T12:59:59.999Z",
    plan: "nightly",
    rule: "daily",
    expected: [
      "start nightly/daily/fs-a -> main @2025-01-10T05:00:00.000Z: due since 2025-01-10T05:00:00.000Z, start window open until 2025-01-10T13:00:00.000Z",
      "start nightly/daily/fs-b -> main @2025-01-10T05:00:00.000Z: due since 2025-01-10T05:00:00.000Z, start window open until 2025-01-10T13:00:00.000Z",
    ],
  },
  {
    name: "after the window, only the most recent occurrence expires",
    now: "2025-01-10T13:00:00Z",
    plan: "nightly",
    rule: "daily",
    expected: [
      "expire nightly/daily/fs-a -> main @2025-01-10T05:00:00.000Z: missed: start window closed at 2025-01-10T13:00:00.000Z",
      "expire nightly/daily/fs-b -> main @2025-01-10T05:00:00.000Z: missed: start window closed at 2025-01-10T13:00:00.000Z",
    ],
  },
  {
    name: "before today's occurrence, yesterday's is the one that counts",
    now: "2025-01-10T04:00:00Z",
    plan: "nightly",
    rule: "daily",
    jobs: [job("y", { scheduled_for: "2025-01-09T05:00:00.000Z" })],
    expected: [
      "skip nightly/daily/fs-a -> main @2025-01-09T05:00:00.000Z: already handled: job y COMPLETED",
      "expire nightly/daily/fs-b -> main @2025-01-09T05:00:00.000Z: missed: start window closed at 2025-01-09T13:00:00.000Z",
    ],
  },
  {
    name: "filter by plan",
    now: "2030-01-01T01:00:00Z",
    plan: "future",
    expected: ["start future/someday/fs-c -> main @2030-01-01T00:00:00.000Z: due since 2030-01-01T00:00:00.000Z, start window open until 2030-01-01T02:00:00.000Z"],
  },
  {
    name: "filter by a plan that does not exist",
    now: "2030-01-01T01:00:00Z",
    plan: "nope",
    expected: [],
  },
  {
    name: "New York spring forward: 02:00 does not exist, due from 03:00 EDT",
    now: "2025-03-09T07:30:00Z",
    rule: "new-york",
    expected: [
      "start nightly/new-york/fs-a -> offsite @2025-03-09T07:00:00.000Z: due since 2025-03-09T07:00:00.000Z, start window open until 2025-03-09T15:00:00.000Z",
      "start nightly/new-york/fs-b -> offsite @2025-03-09T07:00:00.000Z: due since 2025-03-09T07:00:00.000Z, start window open until 2025-03-09T15:00:00.000Z",
    ],
  },
  {
    name: "New York spring forward: a minute before the gap, the day before counts, and it has expired",
    now: "2025-03-09T06:59:00Z",
    rule: "new-york",
    expected: [
      "expire nightly/new-york/fs-a -> offsite @2025-03-08T07:00:00.000Z: missed: start window closed at 2025-03-08T15:00:00.000Z",
      "expire nightly/new-york/fs-b -> offsite @2025-03-08T07:00:00.000Z: missed: start window closed at 2025-03-08T15:00:00.000Z",
    ],
  },
];

describe("decideDue", () => {
  for (const c of cases) {
    test(c.name, () => {
      const decisions = decideDue(fixture(), { now: new Date(c.now), jobs: c.jobs ?? [], plan: c.plan, rule: c.rule });
      expect(decisions.map(line)).toEqual(c.expected);
    });
  }

  test("running twice in a window starts nothing the second time", () => {
    const plans = fixture();
    const now = new Date("2025-01-10T06:00:00Z");
    const first = decideDue(plans, { now, jobs: [] });
    const acted = first.filter((d) => d.action !== "skip");
    expect(acted.map((d) => d.action)).toEqual(["start", "start", "expire", "expire"]);
    // run records a job for every start (RUNNING) and every expiry (EXPIRED)
    const jobs = acted.map((d, i) =>
      job(`j${i}`, {
        plan: d.plan,
        rule: d.rule,
        resource: d.resource,
        scheduled_for: d.scheduledFor!.toISOString(),
        state: d.action === "start" ? "RUNNING" : "EXPIRED",
      }),
    );
    const later = new Date("2025-01-10T06:45:00Z"); // before New York's next occurrence (07:00Z)
    const second = decideDue(plans, { now: later, jobs });
    expect(second.filter((d) => d.action !== "skip")).toEqual([]);
    expect(second.length).toBe(first.length);
  });

  test("the next day's occurrence is due again", () => {
    const plans = fixture();
    const jobs = [job("y", { scheduled_for: "2025-01-09T05:00:00.000Z" })];
    const decisions = decideDue(plans, { now: new Date("2025-01-10T05:00:00Z"), jobs, plan: "nightly", rule: "daily" });
    expect(decisions.map((d) => d.action)).toEqual(["start", "start"]);
  });
});

describe("decideRestoreTests", () => {
  const cases: [string, string, JobSummary[], string[]][] = [
    ["due: Sunday midnight, window 4h", "2025-01-05T01:00:00Z", [], ["start drill/fs-c @2025-01-05T00:00:00.000Z: due since 2025-01-05T00:00:00.000Z, start window open until 2025-01-05T04:00:00.000Z"]],
    [
      "a drill job for it exists",
      "2025-01-05T01:00:00Z",
      [job("d1", { type: "drill", plan: null, rule: "drill", resource: "fs-c", scheduled_for: "2025-01-05T00:00:00.000Z" })],
      ["skip drill/fs-c @2025-01-05T00:00:00.000Z: already handled: job d1 COMPLETED"],
    ],
    [
      "a backup job with the same fields is not a drill",
      "2025-01-05T01:00:00Z",
      [job("b1", { type: "backup", plan: null, rule: "drill", resource: "fs-c", scheduled_for: "2025-01-05T00:00:00.000Z" })],
      ["start drill/fs-c @2025-01-05T00:00:00.000Z: due since 2025-01-05T00:00:00.000Z, start window open until 2025-01-05T04:00:00.000Z"],
    ],
    ["missed", "2025-01-06T00:00:00Z", [], ["expire drill/fs-c @2025-01-05T00:00:00.000Z: missed: start window closed at 2025-01-05T04:00:00.000Z"]],
  ];
  for (const [name, now, jobs, expected] of cases) {
    test(name, () => {
      const decisions = decideRestoreTests(fixture(), { now: new Date(now), jobs });
      expect(decisions.map((d) => `${d.action} ${d.test}/${d.resource} @${d.scheduledFor?.toISOString()}: ${d.reason}`)).toEqual(expected);
      expect(decisions.every((d) => d.vault === null)).toBe(true);
    });
  }
});
