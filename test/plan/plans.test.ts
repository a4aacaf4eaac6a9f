import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PlanError } from "../../src/errors.ts";
import { loadPlans } from "../../src/plan/load.ts";
import { selectedResources, type Plans } from "../../src/plan/plans.ts";
import { parseSchedule } from "../../src/plan/schedule.ts";

const FIXTURES = join(import.meta.dir, "fixtures");
const scratch = mkdtempSync(join(tmpdir(), "efsbak-plans-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The problems loadPlans throws, as `file:line:col: message` lines; fails if it does not throw. */
function problemsOf(dir: string, options: { checkPaths?: boolean } = {}): string[] {
  try {
    loadPlans(dir, { baseDir: dir, ...options });
  } catch (e) {
    if (!(e instanceof PlanError)) throw e;
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(e.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).join("\n"));
    return e.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`);
  }
  throw new Error(`expected a PlanError from ${dir}`);
}

/** Writes files into a fresh directory under scratch and returns it. */
function planDir(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

function schedule(text: string) {
  const parsed = parseSchedule(text);
  if ("error" in parsed) throw new Error(parsed.error);
  return parsed.schedule;
}

describe("broken plans", () => {
  test("every problem of every file in one pass, sorted, each at its key or value", () => {
    const dir = join(FIXTURES, "broken");
    const a = `${dir}/a-vaults.toml`;
    const b = `${dir}/b-resources.toml`;
    const c = `${dir}/c-plan.toml`;
    const d = `${dir}/d-more.toml`;
    expect(problemsOf(dir)).toEqual([
      `${a}:4:20: Invalid "allow_short_cold": expected true or false, got string`,
      `${a}:5:14: Invalid "encryption" value "aes": expected "aes-256-gcm" or "none"`,
      `${a}:8:17: Invalid vault lock: min_retention 30d is longer than max_retention 7d`,
      `${a}:13:1: Unknown key "cold_pth" in [vaults.other]: did you mean "cold_path"?`,
      `${b}:4:31: Invalid "tier": expected a string, got integer`,
      `${b}:7:1: Duplicate resource "fs-home": first defined at ${b}:2`,
      `${b}:8:8: Resource path "missing-dir" does not exist (resolved to "${dir}/missing-dir")`,
      `${b}:10:3: Missing required key "id" in [[resources]]`,
      `${b}:12:1: Unknown key "exclud" in [[resources]]: did you mean "exclude"?`,
      `${c}:6:12: Invalid schedule "cron(0 5 * * * *)": day-of-month and day-of-week cannot both be set; use ? in one of them`,
      `${c}:10:1: Duplicate rule "daily": first defined at ${c}:5`,
      `${c}:11:12: Invalid schedule "cron(0/15 * ? * * *)": it fires every 15m, more often than hourly`,
      `${c}:12:16: Invalid "start_window": 30m is under the minimum of 1h`,
      `${c}:13:12: Unknown time zone "Mars/Olympus": use an IANA name such as "UTC" or "Europe/Berlin"`,
      `${c}:14:9: Unknown vault "archive": defined vaults are "main", "other"`,
      `${c}:19:21: Invalid duration "7 days" for "completion_window": use forms like 90m, 8h, 30d, 1y or 1d12h`,
      `${c}:20:50: Invalid lifecycle: delete_after 60d must be at least cold_after + 90d (120d); set allow_short_cold = true on vault "main" to allow it for testing`,
      `${c}:20:50: Invalid lifecycle: delete_after 60d is longer than the max_retention 7d of vault "main"`,
      `${c}:25:25: Unknown resource "fs-nope" in selection "homes"`,
      `${d}:1:2: Plan "nightly" has no selections: add a [[plan.selections]] table naming resources or tags`,
      `${d}:2:1: Duplicate plan "nightly": first defined at ${c}:2`,
      `${d}:4:8: Missing "vault" in rule "hourly" of plan "nightly": defined vaults are "main", "other"`,
      `${d}:8:3: Restore test "drill" selects nothing: set "resources", "tags" or both`,
      `${d}:10:13: Invalid "algorithm" value "newest": expected "latest" or "random"`,
      `${d}:12:9: Duplicate vault "main": first defined at ${a}:2`,
    ]);
  });

  test("a syntax error is reported with the problems of the other files, without a code frame", () => {
    const dir = join(FIXTURES, "syntax");
    expect(problemsOf(dir)).toEqual([
      `${dir}/a.toml:6:7: Cannot parse TOML: Unexpected character, expecting string, number, datetime, boolean, inline array or inline table`,
      `${dir}/b.toml:1:2: Plan "weekly" has no rules: add a [[plan.rules]] table`,
      `${dir}/b.toml:3:1: Unknown key "schedul" in [plan]: expected one of name, rules, selections`,
    ]);
  });

  test("file names keep the directory as given", () => {
    const problems = problemsOf("test/plan/fixtures/syntax");
    expect(problems[0].startsWith("test/plan/fixtures/syntax/a.toml:6:7: ")).toBe(true);
  });

  const small: [string, Record<string, string>, string[]][] = [
    [
      "missing url, unknown top-level key, wrong table type",
      { "p.toml": 'resources = "fs"\n[vaults.v]\nregion = "x"\n\n[plans]\nname = "x"\n' },
      [
        'p.toml:1:13: Invalid "resources": expected an array of tables, got string',
        'p.toml:2:9: Missing required key "url" in [vaults.v]',
        'p.toml:5:2: Unknown key "plans" in the top level: did you mean "plan"?',
      ],
    ],
    [
      "no vault at all",
      { "p.toml": '[plan]\nname = "p"\n[[plan.rules]]\nname = "r"\n[[plan.selections]]\ntags = { a = "b" }\n' },
      ['p.toml:3:8: Missing "vault" in rule "r" of plan "p": no vault is defined: add a [vaults.NAME] table'],
    ],
    [
      "selection without resources or tags, rule lifecycle under vault lock, completion window 0",
      {
        "v.toml": '[vaults.v]\nurl = "./v"\nallow_short_cold = true\n[vaults.v.lock]\nmin_retention = "30d"\n',
        "p.toml": [
          '[plan]\nname = "p"',
          '[[plan.rules]]\nname = "r"\ncompletion_window = "0s"\nlifecycle = { cold_after = "1d", delete_after = "2d", colder = "3d" }',
          '[[plan.selections]]\nname = "empty"',
        ].join("\n"),
      },
      [
        'p.toml:5:21: Invalid "completion_window": must be longer than 0',
        'p.toml:6:55: Unknown key "colder" in lifecycle: expected one of cold_after, delete_after',
        'p.toml:6:49: Invalid lifecycle: delete_after 2d is shorter than the min_retention 30d of vault "v"',
        'p.toml:7:8: Selection "empty" selects nothing: set "resources", "tags" or both',
      ].sort(byPosition),
    ],
    [
      "delete_after not after cold_after, even with allow_short_cold",
      {
        "p.toml": [
          '[vaults.v]\nurl = "./v"\nallow_short_cold = true',
          '[plan]\nname = "p"\n[[plan.rules]]\nname = "r"\nlifecycle = { cold_after = "10d", delete_after = "10d" }',
          '[[plan.selections]]\ntags = { a = "b" }',
        ].join("\n"),
      },
      ['p.toml:8:50: Invalid lifecycle: delete_after 10d must be later than cold_after 10d'],
    ],
    [
      "restore test: unknown vault and resource, window twice",
      {
        "p.toml": [
          '[vaults.v]\nurl = "./v"',
          '[[restore_tests]]\nname = "t"\nwindow = "2h"\nstart_window = "3h"\nresources = ["ghost"]\nvault = "w"',
        ].join("\n"),
      },
      [
        'p.toml:5:1: Conflicting keys: "window" is another name for "start_window", set only one',
        'p.toml:7:14: Unknown resource "ghost" in restore test "t"',
        'p.toml:8:9: Unknown vault "w": defined vaults are "v"',
      ],
    ],
    [
      "bandwidth limits: S3 only, MiB/s above 0; resource excludes checked",
      {
        "p.toml": [
          '[vaults.v]\nurl = "./v"\nlimit_upload = 4',
          '[vaults.s]\nurl = "s3://b/p"\nlimit_upload = 0\nlimit_download = "fast"',
          '[[resources]]\nid = "r"\npath = "."\nexclude = ["*.log", "!a[b"]\nexclude_if_present = ["a/b"]\none_file_system = 1',
        ].join("\n"),
      },
      [
        'p.toml:3:1: Invalid "limit_upload": bandwidth limits apply to S3 vaults only',
        'p.toml:6:16: Invalid "limit_upload": expected MiB/s as a number above 0, e.g. 4 or 0.5',
        'p.toml:7:18: Invalid "limit_download": expected MiB/s as a number above 0, e.g. 4 or 0.5',
        'p.toml:11:21: Invalid "exclude" pattern: Cannot read the pattern "a[b": "[" without a closing "]"',
        'p.toml:12:23: Invalid "exclude_if_present" name "a/b": expected a file name, without "/"',
        'p.toml:13:19: Invalid "one_file_system": expected true or false, got integer',
      ],
    ],
    [
      "TOML 1.0 with a byte order mark, columns in code points, an offset for a zone, a year that never comes",
      {
        "p.toml": [
          '\uFEFF[vaults.v]\nurl = "./v"\n[plan]\nname = "p"\n[[plan.rules]]\nname = "r"',
          'schedule = "cron(0 0 29 2 ? 2027)"\ntimezone = "+02:00"\nrecovery_point_tags = { "\u{1F600}" = "x", k = 1 }',
          '[[plan.selections]]\ntags = { a = [1, "b"] }',
        ].join("\n"),
      },
      [
        'p.toml:7:12: Invalid schedule "cron(0 0 29 2 ? 2027)": no day of year "2027" matches this day-of-month, month and day-of-week',
        'p.toml:8:12: Unknown time zone "+02:00": use an IANA name such as "UTC" or "Europe/Berlin" (a UTC offset is not a time zone: a fixed +02:00 is "Etc/GMT-2")',
        'p.toml:9:40: Invalid "k": expected a string, got integer',
        'p.toml:11:14: Invalid "a": expected a string, got array',
      ],
    ],
  ];
  for (const [name, files, expected] of small) {
    test(name, () => {
      const dir = planDir(name.replace(/\W+/g, "-"), files);
      expect(problemsOf(dir)).toEqual(expected.map((p) => `${dir}/${p}`));
    });
  }
});

function byPosition(a: string, b: string): number {
  const [, la, ca] = a.split(":").map(Number);
  const [, lb, cb] = b.split(":").map(Number);
  return la - lb || ca - cb;
}

describe("directories", () => {
  test("a missing directory is one problem naming it", () => {
    const dir = join(scratch, "nope");
    expect(problemsOf(dir)).toEqual([`${dir}:1:1: Cannot read plans directory "${dir}": it does not exist`]);
  });

  test("a directory without plan files is one problem naming it", () => {
    const dir = planDir("empty", { "README.md": "no plans here" });
    expect(problemsOf(dir)).toEqual([`${dir}:1:1: Cannot load plans from "${dir}": it holds no *.toml files`]);
  });

  test("a file with only vaults is fine, and hidden directories are skipped", () => {
    const dir = planDir("vaults-only", { "v.toml": '[vaults.v]\nurl = "./v"\n' });
    planDir("vaults-only/.git", { "x.toml": "not toml at all [" });
    const plans = loadPlans(dir, { baseDir: dir });
    expect([...plans.vaults.keys()]).toEqual(["v"]);
    expect(plans.plans).toEqual([]);
  });

  test("checkPaths: false skips the path check", () => {
    const dir = planDir("paths", { "r.toml": '[[resources]]\nid = "r"\npath = "/does/not/exist"\n' });
    expect(problemsOf(dir)).toEqual([`${dir}/r.toml:3:8: Resource path "/does/not/exist" does not exist`]);
    expect(loadPlans(dir, { baseDir: dir, checkPaths: false }).resources.get("r")?.path).toBe("/does/not/exist");
  });
});

describe("good plans", () => {
  const dir = join(FIXTURES, "good");
  const plans: Plans = loadPlans(dir, { baseDir: dir });

  test("vaults", () => {
    expect(Object.fromEntries(plans.vaults)).toEqual({
      main: {
        name: "main",
        url: "./.efsbak/vault",
        encryption: "aes-256-gcm",
        allowShortCold: false,
        lock: { minRetentionMs: 7 * 86_400_000, maxRetentionMs: 3650 * 86_400_000 },
        file: `${dir}/vaults.toml`,
        line: 1,
      },
      "s3-offsite": {
        name: "s3-offsite",
        url: "s3://backups/efs",
        endpoint: "http://127.0.0.1:9000",
        region: "us-east-1",
        forcePathStyle: true,
        coldStorageClass: "GLACIER_IR",
        allowShortCold: false,
        file: `${dir}/vaults.toml`,
        line: 9,
      },
    });
  });

  test("resources, with paths resolved against baseDir", () => {
    expect(Object.fromEntries(plans.resources)).toEqual({
      "fs-projects": { id: "fs-projects", path: `${dir}/data/projects`, tags: { env: "dev" }, exclude: [], excludeIfPresent: [], oneFileSystem: false, file: `${dir}/resources.toml`, line: 1 },
      "fs-home": {
        id: "fs-home",
        path: `${dir}/data/home`,
        tags: { env: "prod", backup: "nightly" },
        exclude: ["**/node_modules", "**/*.tmp"],
        excludeIfPresent: [],
        oneFileSystem: false,
        file: `${dir}/resources.toml`,
        line: 6,
      },
    });
  });

  test("plans from nested directories, with defaults applied", () => {
    expect(plans.plans).toEqual([
      {
        name: "nightly",
        file: `${dir}/nested/nightly.toml`,
        rules: [
          {
            name: "daily",
            schedule: schedule("cron(0 5 ? * * *)"),
            scheduleText: "cron(0 5 ? * * *)",
            timezone: "UTC",
            startWindowMs: 8 * 3_600_000,
            completionWindowMs: 7 * 86_400_000,
            vault: "main",
            recoveryPointTags: { kind: "daily" },
            coldAfterMs: 30 * 86_400_000,
            deleteAfterMs: 365 * 86_400_000,
          },
          {
            name: "weekly",
            schedule: schedule("cron(0 3 ? * SUN *)"),
            scheduleText: "cron(0 3 ? * SUN *)",
            timezone: "Europe/Berlin",
            startWindowMs: 2 * 3_600_000,
            completionWindowMs: 36 * 3_600_000,
            vault: "s3-offsite",
            recoveryPointTags: {},
            deleteAfterMs: 365 * 86_400_000,
          },
        ],
        selections: [
          { name: "prod-homes", resources: ["fs-home"], tags: { backup: "nightly" } },
          { name: "selection-2", resources: [], tags: { env: "dev" } },
        ],
      },
    ]);
  });

  test("restore tests, with window as another name for start_window", () => {
    expect(plans.restoreTests).toEqual([
      {
        name: "weekly-drill",
        schedule: schedule("@weekly"),
        scheduleText: "@weekly",
        timezone: "UTC",
        startWindowMs: 4 * 3_600_000,
        resources: ["fs-home"],
        tags: {},
        algorithm: "random",
        vault: "main",
        file: `${dir}/restore.toml`,
      },
    ]);
  });

  test("selectedResources: union of ids and tags, each once, by id", () => {
    expect(selectedResources(plans, plans.plans[0]).map((r) => r.id)).toEqual(["fs-home", "fs-projects"]);
  });

  test("a rule without vault takes the only vault there is", () => {
    const one = planDir("one-vault", {
      "p.toml": '[vaults.only]\nurl = "./v"\n[plan]\nname = "p"\n[[plan.rules]]\nname = "r"\n[[plan.selections]]\ntags = { a = "b" }\n',
    });
    expect(loadPlans(one, { baseDir: one }).plans[0].rules[0].vault).toBe("only");
  });
});

describe("resource concurrency", () => {
  const vaults = `[vaults.v]\nurl = "file:///tmp/efsbak-conc-vault"\n`;
  test("an integer from 1 to 1024 is kept; absent leaves it unset", () => {
    mkdirSync(join(scratch, "conc-ok", "a"), { recursive: true });
    const dir = planDir("conc-ok", { "v.toml": vaults, "r.toml": `[[resources]]\nid = "a"\npath = "a"\nconcurrency = 128\n\n[[resources]]\nid = "b"\npath = "a"\n` });
    const plans = loadPlans(dir, { baseDir: dir });
    expect(plans.resources.get("a")!.concurrency).toBe(128);
    expect(plans.resources.get("b")!.concurrency).toBeUndefined();
  });
  test("zero, too many, a float or a string is refused at its value", () => {
    const dir = planDir("conc-bad", { "v.toml": vaults, "r.toml": `[[resources]]\nid = "a"\npath = "."\nconcurrency = 0\n[[resources]]\nid = "b"\npath = "."\nconcurrency = 5000\n[[resources]]\nid = "c"\npath = "."\nconcurrency = "64"\n` });
    const problems = problemsOf(dir).filter((p) => p.includes("concurrency"));
    expect(problems).toEqual([
      `${dir}/r.toml:4:15: Invalid "concurrency" value 0: expected a whole number from 1 to 1024`,
      `${dir}/r.toml:8:15: Invalid "concurrency" value 5000: expected a whole number from 1 to 1024`,
      `${dir}/r.toml:12:15: Invalid "concurrency" value "64": expected a whole number from 1 to 1024`,
    ]);
  });
});

describe("S3 request bounds in a vault table", () => {
  test("request_timeout and max_attempts are read, and bad values reported at the value", () => {
    const good = planDir("s3-bounds", { "v.toml": '[vaults.s3]\nurl = "s3://b/p"\nrequest_timeout = "30s"\nmax_attempts = 3\n' });
    const v = loadPlans(good, { baseDir: good }).vaults.get("s3")!;
    expect(v.requestTimeoutMs).toBe(30_000);
    expect(v.maxAttempts).toBe(3);
    const bad = planDir("s3-bounds-bad", { "v.toml": '[vaults.s3]\nurl = "s3://b/p"\nrequest_timeout = "0s"\nmax_attempts = 0\n[vaults.t]\nurl = "s3://b/q"\nrequest_timeout = "soon"\nmax_attempts = "6"\n' });
    const f = `${bad}/v.toml`;
    expect(problemsOf(bad)).toEqual([
      `${f}:3:19: Invalid "request_timeout": must be longer than 0`,
      `${f}:4:16: Invalid "max_attempts": expected a whole number from 1 to 100 (1: no retries)`,
      `${f}:7:19: Invalid duration "soon" for "request_timeout": use forms like 90m, 8h, 30d, 1y or 1d12h`,
      `${f}:8:16: Invalid "max_attempts": expected a whole number from 1 to 100 (1: no retries)`,
    ]);
  });
});
