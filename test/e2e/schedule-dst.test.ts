/**
 * Schedules across spring-forward gaps through the binary (ISSUE 17 item 13): `efsbak run`
 * every 15 minutes of a simulated clock across the New York gap (2026-03-08, one hour) and the
 * Lord Howe gap (2026-10-04, 30 minutes). An hourly schedule skips the wall time that does not
 * exist (it once fired at 06:59Z and again at 07:00Z in New York); a schedule with one time of
 * day in the gap fires once, at the gap's end.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { makeTree } from "../support/tree.ts";

let work: string;

const plan = (zone: string, rules: [string, string][]) => `
[vaults.main]
url = "./vault-${zone.replace("/", "-")}"

[[resources]]
id = "fs-data"
path = "data"

[plan]
name = "dst"
${rules.map(([name, schedule]) => `
[[plan.rules]]
name = "${name}"
schedule = "${schedule}"
timezone = "${zone}"
start_window = "1h"
vault = "main"
`).join("")}
[[plan.selections]]
resources = ["fs-data"]
`;

beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-dst-"));
  makeTree(join(work, "data"), { "a.txt": "alpha\n" });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs `run` every 15 minutes from..to (and at `extra`) and returns the COMPLETED jobs as "rule scheduled_for". */
async function simulate(zone: string, rules: [string, string][], from: string, to: string, extra: string): Promise<string[]> {
  const dir = join(work, zone.replace("/", "-"));
  mkdirSync(dir);
  writeFileSync(join(dir, "dst.toml"), plan(zone, rules));
  expect((await runBinary(["validate", dir], { cwd: work })).code).toBe(0);
  const times: number[] = [Date.parse(extra)];
  for (let t = Date.parse(from); t <= Date.parse(to); t += 15 * 60_000) times.push(t);
  for (const t of times.sort((a, b) => a - b)) {
    const r = await runBinary(["run", dir, "--now", new Date(t).toISOString(), "--json"], { cwd: work });
    // Exit 3 exactly when this run recorded an EXPIRED job (an occurrence from before the
    // simulation, past its start window), else 0.
    const states = (JSON.parse(r.stdout).jobs as { state: string }[]).map((j) => j.state);
    expect({ t: new Date(t).toISOString(), code: r.code }).toEqual({ t: new Date(t).toISOString(), code: states.includes("EXPIRED") ? 3 : 0 });
    expect(states.filter((s) => s !== "COMPLETED" && s !== "EXPIRED")).toEqual([]);
  }
  const vault = join(work, `vault-${zone.replace("/", "-")}`);
  const jobs = JSON.parse((await runBinary(["jobs", "--vault", vault, "--state", "COMPLETED", "--json"], { cwd: work })).stdout).jobs as { rule: string; scheduled_for: string }[];
  return jobs.map((j) => `${j.rule} ${j.scheduled_for}`).sort();
}

test("New York: cron(59 * ? * * *) fires at 01:59 EST and 03:59 EDT, never at the gap's end", async () => {
  const done = await simulate("America/New_York", [["hourly", "cron(59 * ? * * *)"]], "2026-03-08T05:00:00Z", "2026-03-08T09:00:00Z", "2026-03-08T06:59:30Z");
  expect(done).toEqual([
    "hourly 2026-03-08T04:59:00.000Z", // 23:59 EST the day before: due when the simulation starts
    "hourly 2026-03-08T05:59:00.000Z", // 00:59 EST
    "hourly 2026-03-08T06:59:00.000Z", // 01:59 EST
    "hourly 2026-03-08T07:59:00.000Z", // 03:59 EDT (02:59 does not exist)
    "hourly 2026-03-08T08:59:00.000Z", // 04:59 EDT
  ]);
}, 120_000);

test("Lord Howe: hourly skips 02:15; a daily 02:15 fires once, at 02:30 +11:00", async () => {
  const done = await simulate(
    "Australia/Lord_Howe",
    [["hourly", "cron(15 * ? * * *)"], ["daily", "cron(15 2 ? * * *)"]],
    "2026-10-03T14:00:00Z",
    "2026-10-03T17:00:00Z",
    "2026-10-03T14:45:30Z",
  );
  expect(done).toEqual([
    "daily 2026-10-03T15:30:00.000Z", // the gap's end, 02:30 +11:00
    "hourly 2026-10-03T13:45:00.000Z", // 00:15 +10:30
    "hourly 2026-10-03T14:45:00.000Z", // 01:15 +10:30
    "hourly 2026-10-03T16:15:00.000Z", // 03:15 +11:00 (02:15 does not exist)
  ]);
}, 120_000);
