/**
 * Plan files through the binary (ISSUE 17 items 14 and 15): TOML 1.0 that TOML 0.5 parsers
 * reject, a byte order mark, columns in code points, and schedules and zones AWS rejects,
 * all reported at once by `efsbak validate` with exit 2.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary, runBinary } from "../support/cli.ts";

let work: string;

beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-toml-"));
  mkdirSync(join(work, "data"));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function dir(name: string, files: Record<string, string>): string {
  mkdirSync(join(work, name));
  for (const [file, text] of Object.entries(files)) writeFileSync(join(work, name, file), text);
  return name;
}

const VALID = [
  "\uFEFF# TOML 1.0, with a byte order mark",
  "[vaults.main]",
  'url = "./vault"',
  "",
  "[[resources]]",
  'id = "fs-data"',
  'path = "data"',
  'tags = { "\\U0001F600" = "smile", note = \'\'\'a "quoted" end\'\'\'\' }',
  "",
  "[plan]",
  'name = "p"',
  "[[plan.rules]]",
  'name = "r"',
  'schedule = "cron(0 5 ? * 6#3 *)"',
  'timezone = "Australia/Lord_Howe"',
  "[[plan.selections]]",
  'tags = { "\u{1F600}" = "smile" }',
  "",
].join("\n");

test("TOML 1.0 with a BOM validates, and run reads it", async () => {
  const d = dir("valid", { "p.toml": VALID });
  const r = await runBinary(["validate", d], { cwd: work });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const dry = await runBinary(["run", d, "--dry-run", "--now", "2026-03-19T20:00:00Z"], { cwd: work });
  expect(dry.code).toBe(0);
  expect(dry.stdout).toMatch(/START\s+p\/r fs-data -> main: due since 2026-03-19T18:00:00/); // 05:00 +11:00 on Friday 2026-03-20, the third
});

test("every problem at once, at code-point columns, exit 2", async () => {
  const d = dir("broken", {
    "a.toml": [
      "\uFEFF[vaults.main]",
      'url = "./vault"',
      "[[resources]]",
      'id = "fs-data"',
      'path = "data"',
      'tags = { "\u{1F600}\u{1F600}" = 1 }',
      "[plan]",
      'name = "p"',
      "[[plan.rules]]",
      'name = "leap"',
      'schedule = "cron(0 0 29 2 ? 2027)"',
      'timezone = "+02:00"',
      "[[plan.rules]]",
      'name = "last"',
      'schedule = "cron(0 0 L-31 * ? *)"',
      "[[plan.rules]]",
      'name = "nth"',
      'schedule = "cron(0 0 ? * 3#1,6#3 *)"',
      "[[plan.rules]]",
      'name = "step"',
      'schedule = "cron(0 0 ? * MON/2 *)"',
      "[[plan.selections]]",
      'resources = ["fs-data"]',
    ].join("\n"),
    "b.toml": 'x = [1, "a"]\ns = """never closed\n',
  });
  const r = await runBinary(["validate", d, "--json"], { cwd: work });
  expect(r.code).toBe(2);
  const problems = (JSON.parse(r.stdout).problems as { file: string; line: number; col: number; message: string }[]).map(
    (p) => `${p.file.replace(/^.*\//, "")}:${p.line}:${p.col}: ${p.message}`,
  );
  expect(problems).toEqual([
    'a.toml:6:17: Invalid "\u{1F600}\u{1F600}": expected a string, got integer',
    'a.toml:11:12: Invalid schedule "cron(0 0 29 2 ? 2027)": no day of year "2027" matches this day-of-month, month and day-of-week',
    'a.toml:12:12: Unknown time zone "+02:00": use an IANA name such as "UTC" or "Europe/Berlin" (a UTC offset is not a time zone: a fixed +02:00 is "Etc/GMT-2")',
    'a.toml:15:12: Invalid schedule "cron(0 0 L-31 * ? *)": day-of-month field "L-31": "L-31" must be L-1 to L-30',
    'a.toml:18:12: Invalid schedule "cron(0 0 ? * 3#1,6#3 *)": day-of-week field "3#1,6#3": only one "#" term is allowed',
    'a.toml:21:12: Invalid schedule "cron(0 0 ? * MON/2 *)": day-of-week field "MON/2": "/" is not allowed in day-of-week; list the days (MON,WED,FRI)',
    "b.toml:2:5: Cannot parse TOML: Unterminated string",
  ]);
  const text = await runBinary(["validate", d], { cwd: work });
  expect(text.code).toBe(2);
  expect(text.stdout).toContain("b.toml:2:5: Cannot parse TOML: Unterminated string");
  expect(text.stdout).toContain("7 problems in broken");
});
