import { describe, expect, test } from "bun:test";
import {
  minIntervalMs,
  nextOccurrence,
  parseSchedule,
  previousOccurrence,
  type Schedule,
} from "../../src/plan/schedule.ts";
import { isValidTimeZone } from "../../src/plan/timezone.ts";

function parsed(text: string): Schedule {
  const result = parseSchedule(text);
  if ("error" in result) throw new Error(`${text}: ${result.error}`);
  return result.schedule;
}

// Every answer below was worked out by hand from a calendar, not by running the code.
// 2025-01-01 is a Wednesday. New York: DST starts 2025-03-09 02:00 EST (→ 03:00 EDT) and ends
// 2025-11-02 02:00 EDT (→ 01:00 EST). Berlin: starts 2025-03-30 02:00 CET (→ 03:00 CEST) and
// ends 2025-10-26 03:00 CEST (→ 02:00 CET).
interface Case {
  name: string;
  schedule: string;
  tz?: string;
  from: string;
  expected: string | null;
}

const NEXT: Case[] = [
  { name: "AWS default, strictly after", schedule: "cron(0 5 ? * * *)", from: "2025-01-01T05:00:00Z", expected: "2025-01-02T05:00:00.000Z" },
  { name: "AWS default, same day", schedule: "cron(0 5 ? * * *)", from: "2025-01-01T04:59:00Z", expected: "2025-01-01T05:00:00.000Z" },
  { name: "New York, winter offset", schedule: "cron(0 5 ? * * *)", tz: "America/New_York", from: "2025-01-01T00:00:00Z", expected: "2025-01-01T10:00:00.000Z" },
  { name: "New York, summer offset", schedule: "cron(0 5 ? * * *)", tz: "America/New_York", from: "2025-07-01T00:00:00Z", expected: "2025-07-01T09:00:00.000Z" },
  { name: "New York spring forward: 02:30 does not exist, fires at 03:00 EDT", schedule: "cron(30 2 ? * * *)", tz: "America/New_York", from: "2025-03-08T12:00:00Z", expected: "2025-03-09T07:00:00.000Z" },
  { name: "New York, day after spring forward", schedule: "cron(30 2 ? * * *)", tz: "America/New_York", from: "2025-03-09T07:00:00Z", expected: "2025-03-10T06:30:00.000Z" },
  { name: "New York spring forward, 5-field", schedule: "0 2 * * *", tz: "America/New_York", from: "2025-03-08T12:00:00Z", expected: "2025-03-09T07:00:00.000Z" },
  { name: "New York fall back: 01:30 twice, first instant (EDT)", schedule: "cron(30 1 ? * * *)", tz: "America/New_York", from: "2025-11-01T12:00:00Z", expected: "2025-11-02T05:30:00.000Z" },
  { name: "New York fall back: not again at 01:30 EST", schedule: "cron(30 1 ? * * *)", tz: "America/New_York", from: "2025-11-02T05:30:00Z", expected: "2025-11-03T06:30:00.000Z" },
  { name: "New York fall back, hourly across the repeated hour", schedule: "cron(0 * ? * * *)", tz: "America/New_York", from: "2025-11-02T05:00:00Z", expected: "2025-11-02T07:00:00.000Z" },
  { name: "Berlin spring forward: 02:30 does not exist", schedule: "cron(30 2 ? * * *)", tz: "Europe/Berlin", from: "2025-03-29T12:00:00Z", expected: "2025-03-30T01:00:00.000Z" },
  { name: "Berlin fall back: 02:30 twice, first instant (CEST)", schedule: "cron(30 2 ? * * *)", tz: "Europe/Berlin", from: "2025-10-25T12:00:00Z", expected: "2025-10-26T00:30:00.000Z" },
  { name: "Berlin fall back, next day in CET", schedule: "cron(30 2 ? * * *)", tz: "Europe/Berlin", from: "2025-10-26T00:30:00Z", expected: "2025-10-27T01:30:00.000Z" },
  { name: "Berlin, day after spring forward", schedule: "cron(0 5 ? * * *)", tz: "Europe/Berlin", from: "2025-03-30T04:00:00Z", expected: "2025-03-31T03:00:00.000Z" },
  { name: "Berlin, Sunday by name", schedule: "cron(0 3 ? * SUN *)", tz: "Europe/Berlin", from: "2025-01-01T00:00:00Z", expected: "2025-01-05T02:00:00.000Z" },
  { name: "Santiago: midnight does not exist on 2025-09-07, fires at 01:00 -03", schedule: "@daily", tz: "America/Santiago", from: "2025-09-06T04:00:00Z", expected: "2025-09-07T04:00:00.000Z" },
  { name: "Santiago: the day after, midnight in -03", schedule: "@daily", tz: "America/Santiago", from: "2025-09-07T04:00:00Z", expected: "2025-09-08T03:00:00.000Z" },
  { name: "L: last day of a leap February", schedule: "cron(0 0 L * ? *)", from: "2024-02-01T00:00:00Z", expected: "2024-02-29T00:00:00.000Z" },
  { name: "L: last day of a plain February", schedule: "cron(0 0 L * ? *)", from: "2025-02-01T00:00:00Z", expected: "2025-02-28T00:00:00.000Z" },
  { name: "L-2: two days before the last", schedule: "cron(0 0 L-2 * ? *)", from: "2025-04-01T00:00:00Z", expected: "2025-04-28T00:00:00.000Z" },
  { name: "15W on a Saturday moves to Friday", schedule: "cron(0 9 15W * ? *)", from: "2025-03-01T00:00:00Z", expected: "2025-03-14T09:00:00.000Z" },
  { name: "1W on a Saturday moves to Monday the 3rd", schedule: "cron(0 9 1W * ? *)", from: "2025-01-31T12:00:00Z", expected: "2025-02-03T09:00:00.000Z" },
  { name: "LW: last weekday when the month ends on Sunday", schedule: "cron(0 9 LW * ? *)", from: "2025-08-01T00:00:00Z", expected: "2025-08-29T09:00:00.000Z" },
  { name: "#: first Monday (AWS 2 = MON)", schedule: "cron(0 12 ? * 2#1 *)", from: "2025-09-01T12:00:00Z", expected: "2025-10-06T12:00:00.000Z" },
  { name: "#: fifth Monday of February happens in 2044", schedule: "cron(0 0 ? FEB MON#5 *)", from: "2025-01-01T00:00:00Z", expected: "2044-02-29T00:00:00.000Z" },
  { name: "6L: last Friday (AWS 6 = FRI)", schedule: "cron(0 18 ? * 6L *)", from: "2025-01-01T00:00:00Z", expected: "2025-01-31T18:00:00.000Z" },
  { name: "step from 0", schedule: "cron(0 0/6 ? * * *)", from: "2025-01-01T07:00:00Z", expected: "2025-01-01T12:00:00.000Z" },
  { name: "step inside a range", schedule: "cron(15 8-20/4 ? * * *)", from: "2025-01-01T12:15:00Z", expected: "2025-01-01T16:15:00.000Z" },
  { name: "lists", schedule: "cron(0 6,18 ? * * *)", from: "2025-01-01T06:00:00Z", expected: "2025-01-01T18:00:00.000Z" },
  { name: "month and day names with ranges", schedule: "cron(0 8 ? JAN-MAR MON-FRI *)", from: "2025-03-31T09:00:00Z", expected: "2026-01-01T08:00:00.000Z" },
  { name: "year field, leap day in a leap year", schedule: "cron(0 0 29 2 ? 2027-2028)", from: "2025-01-01T00:00:00Z", expected: "2028-02-29T00:00:00.000Z" },
  { name: "L-30: the 1st of a 31-day month", schedule: "cron(0 0 L-30 * ? *)", from: "2025-01-02T00:00:00Z", expected: "2025-03-01T00:00:00.000Z" },
  { name: "one # term", schedule: "cron(0 0 ? * 6#3 *)", from: "2025-01-01T00:00:00Z", expected: "2025-01-17T00:00:00.000Z" },
  { name: "5-field: / in day-of-week is fine in classic cron", schedule: "0 0 * * */2", from: "2025-01-01T00:00:00Z", expected: "2025-01-02T00:00:00.000Z" },
  { name: "year field", schedule: "cron(0 0 1 1 ? 2030)", from: "2025-06-01T00:00:00Z", expected: "2030-01-01T00:00:00.000Z" },
  { name: "year field, none left", schedule: "cron(0 0 1 1 ? 2030)", from: "2030-01-01T00:00:00Z", expected: null },
  { name: "leap day", schedule: "cron(0 0 29 2 ? *)", from: "2025-01-01T00:00:00Z", expected: "2028-02-29T00:00:00.000Z" },
  { name: "leap day skips 2100", schedule: "cron(0 0 29 2 ? *)", from: "2096-03-01T00:00:00Z", expected: "2104-02-29T00:00:00.000Z" },
  { name: "5-field, Sunday as 0", schedule: "0 0 * * 0", from: "2025-01-01T00:00:00Z", expected: "2025-01-05T00:00:00.000Z" },
  { name: "5-field, Sunday as 7", schedule: "0 0 * * 7", from: "2025-01-01T00:00:00Z", expected: "2025-01-05T00:00:00.000Z" },
  { name: "5-field, dom and dow both set: either matches", schedule: "0 0 13 * 5", from: "2025-06-01T00:00:00Z", expected: "2025-06-06T00:00:00.000Z" },
  { name: "@hourly", schedule: "@hourly", from: "2025-01-01T05:30:00Z", expected: "2025-01-01T06:00:00.000Z" },
  { name: "@daily", schedule: "@daily", from: "2025-01-01T05:30:00Z", expected: "2025-01-02T00:00:00.000Z" },
  { name: "@weekly (Sunday)", schedule: "@weekly", from: "2025-01-01T00:00:00Z", expected: "2025-01-05T00:00:00.000Z" },
  { name: "@monthly", schedule: "@monthly", from: "2025-01-15T00:00:00Z", expected: "2025-02-01T00:00:00.000Z" },
  { name: "@yearly", schedule: "@yearly", from: "2025-01-01T00:00:00Z", expected: "2026-01-01T00:00:00.000Z" },
  { name: "rate(12 hours) from the epoch", schedule: "rate(12 hours)", from: "2025-01-01T05:00:00Z", expected: "2025-01-01T12:00:00.000Z" },
  { name: "rate(7 days) lands on Thursdays, like the epoch", schedule: "rate(7 days)", from: "2025-01-01T00:00:00Z", expected: "2025-01-02T00:00:00.000Z" },
  { name: "rate ignores the time zone", schedule: "rate(1 day)", tz: "America/New_York", from: "2025-01-01T05:00:00Z", expected: "2025-01-02T00:00:00.000Z" },
];

const PREVIOUS: Case[] = [
  { name: "at the occurrence itself", schedule: "cron(0 5 ? * * *)", from: "2025-01-01T05:00:00Z", expected: "2025-01-01T05:00:00.000Z" },
  { name: "just before: the day before", schedule: "cron(0 5 ? * * *)", from: "2025-01-01T04:59:59Z", expected: "2024-12-31T05:00:00.000Z" },
  { name: "New York fall back, during the second 01:xx", schedule: "cron(30 1 ? * * *)", tz: "America/New_York", from: "2025-11-02T06:45:00Z", expected: "2025-11-02T05:30:00.000Z" },
  { name: "New York spring forward, after the gap", schedule: "cron(30 2 ? * * *)", tz: "America/New_York", from: "2025-03-09T07:30:00Z", expected: "2025-03-09T07:00:00.000Z" },
  { name: "New York spring forward, just before the gap", schedule: "cron(30 2 ? * * *)", tz: "America/New_York", from: "2025-03-09T06:59:00Z", expected: "2025-03-08T07:30:00.000Z" },
  { name: "Berlin fall back, during the second 02:xx", schedule: "cron(30 2 ? * * *)", tz: "Europe/Berlin", from: "2025-10-26T01:45:00Z", expected: "2025-10-26T00:30:00.000Z" },
  { name: "leap day", schedule: "cron(0 0 29 2 ? *)", from: "2027-01-01T00:00:00Z", expected: "2024-02-29T00:00:00.000Z" },
  { name: "year field in the future", schedule: "cron(0 0 1 1 ? 2030)", from: "2029-12-31T23:59:00Z", expected: null },
  { name: "W in the previous month", schedule: "cron(0 9 15W * ? *)", from: "2025-04-01T00:00:00Z", expected: "2025-03-14T09:00:00.000Z" },
  { name: "rate(12 hours)", schedule: "rate(12 hours)", from: "2025-01-01T05:00:00Z", expected: "2025-01-01T00:00:00.000Z" },
  { name: "@weekly", schedule: "@weekly", from: "2025-01-01T00:00:00Z", expected: "2024-12-29T00:00:00.000Z" },
];

// Spring-forward gaps (ISSUE 17 item 13). New York: 2026-03-08 02:00 EST → 03:00 EDT (07:00Z).
// Lord Howe, a 30-minute shift: 2026-10-04 02:00 +10:30 → 02:30 +11:00 (2026-10-03T15:30Z); fall
// back 2026-04-05 02:00 +11:00 → 01:30 +10:30 (2026-04-04T15:00Z). A schedule that fires more
// than once a day skips wall times in a gap; one time of day in a gap fires at the gap's end.
const GAPS: (Case & { dir: "next" | "previous" })[] = [
  { dir: "next", name: "New York, minute 59 hourly: 01:59 EST", schedule: "cron(59 * ? * * *)", tz: "America/New_York", from: "2026-03-08T06:00:00Z", expected: "2026-03-08T06:59:00.000Z" },
  { dir: "next", name: "New York, minute 59 hourly: 02:59 does not exist, then 03:59 EDT (not 03:00)", schedule: "cron(59 * ? * * *)", tz: "America/New_York", from: "2026-03-08T06:59:00Z", expected: "2026-03-08T07:59:00.000Z" },
  { dir: "previous", name: "New York, minute 59 hourly, looking back from 07:30Z: 01:59 EST", schedule: "cron(59 * ? * * *)", tz: "America/New_York", from: "2026-03-08T07:30:00Z", expected: "2026-03-08T06:59:00.000Z" },
  { dir: "next", name: "New York, every 30 minutes: 02:00 and 02:30 skipped, 03:00 EDT exists", schedule: "cron(0,30 * ? * * *)", tz: "America/New_York", from: "2026-03-08T06:30:00Z", expected: "2026-03-08T07:00:00.000Z" },
  { dir: "next", name: "New York, 02:00 and 14:00: the gap's 02:00 is skipped", schedule: "cron(0 2,14 ? * * *)", tz: "America/New_York", from: "2026-03-08T06:00:00Z", expected: "2026-03-08T18:00:00.000Z" },
  { dir: "next", name: "New York, rate-like step across the gap", schedule: "cron(30 0/2 ? * * *)", tz: "America/New_York", from: "2026-03-08T05:30:00Z", expected: "2026-03-08T08:30:00.000Z" },
  { dir: "next", name: "New York, one time of day in the gap: fires once at its end", schedule: "cron(59 2 ? * * *)", tz: "America/New_York", from: "2026-03-08T00:00:00Z", expected: "2026-03-08T07:00:00.000Z" },
  { dir: "next", name: "New York, one time of day: the next day as usual", schedule: "cron(59 2 ? * * *)", tz: "America/New_York", from: "2026-03-08T07:00:00Z", expected: "2026-03-09T06:59:00.000Z" },
  { dir: "previous", name: "New York, one time of day: looking back finds the gap's end", schedule: "cron(59 2 ? * * *)", tz: "America/New_York", from: "2026-03-08T12:00:00Z", expected: "2026-03-08T07:00:00.000Z" },
  { dir: "next", name: "Lord Howe, minute 15 hourly: 01:15 +10:30", schedule: "cron(15 * ? * * *)", tz: "Australia/Lord_Howe", from: "2026-10-03T14:30:00Z", expected: "2026-10-03T14:45:00.000Z" },
  { dir: "next", name: "Lord Howe, minute 15 hourly: 02:15 does not exist, then 03:15 +11:00", schedule: "cron(15 * ? * * *)", tz: "Australia/Lord_Howe", from: "2026-10-03T14:45:00Z", expected: "2026-10-03T16:15:00.000Z" },
  { dir: "previous", name: "Lord Howe, minute 15 hourly, looking back from the gap's end", schedule: "cron(15 * ? * * *)", tz: "Australia/Lord_Howe", from: "2026-10-03T16:00:00Z", expected: "2026-10-03T14:45:00.000Z" },
  { dir: "next", name: "Lord Howe, minute 45 hourly: 02:45 +11:00 exists (30 real minutes after 01:45)", schedule: "cron(45 * ? * * *)", tz: "Australia/Lord_Howe", from: "2026-10-03T15:15:00Z", expected: "2026-10-03T15:45:00.000Z" },
  { dir: "next", name: "Lord Howe, one time of day in the gap: fires at 02:30 +11:00", schedule: "cron(15 2 ? * * *)", tz: "Australia/Lord_Howe", from: "2026-10-03T00:00:00Z", expected: "2026-10-03T15:30:00.000Z" },
  { dir: "next", name: "Lord Howe, one time of day: the next day at 02:15 +11:00", schedule: "cron(15 2 ? * * *)", tz: "Australia/Lord_Howe", from: "2026-10-03T15:30:00Z", expected: "2026-10-04T15:15:00.000Z" },
  { dir: "next", name: "Lord Howe fall back: 01:45 twice, fires at the first (+11:00)", schedule: "cron(45 1 ? * * *)", tz: "Australia/Lord_Howe", from: "2026-04-04T00:00:00Z", expected: "2026-04-04T14:45:00.000Z" },
  { dir: "next", name: "Lord Howe fall back, hourly: not again at 01:45 +10:30", schedule: "cron(45 * ? * * *)", tz: "Australia/Lord_Howe", from: "2026-04-04T14:45:00Z", expected: "2026-04-04T16:15:00.000Z" },
];

describe("spring-forward gaps: New York and Lord Howe", () => {
  for (const c of GAPS) {
    test(`${c.dir}: ${c.name}`, () => {
      const find = c.dir === "next" ? nextOccurrence : previousOccurrence;
      expect(find(parsed(c.schedule), c.tz!, new Date(c.from))?.toISOString() ?? null).toBe(c.expected);
    });
  }

  test("an hourly schedule never fires twice within an hour across New York's gap, whatever its minute", () => {
    for (let minute = 0; minute < 60; minute++) {
      const s = parsed(`cron(${minute} * ? * * *)`);
      let t = new Date("2026-03-07T12:00:00Z");
      for (let i = 0; i < 24; i++) {
        const next = nextOccurrence(s, "America/New_York", t)!;
        if (i > 0) expect(next.getTime() - t.getTime()).toBeGreaterThanOrEqual(3_600_000);
        expect(previousOccurrence(s, "America/New_York", next)?.toISOString()).toBe(next.toISOString());
        t = next;
      }
    }
  });
});

describe("nextOccurrence", () => {
  for (const c of NEXT) {
    test(c.name, () => {
      const next = nextOccurrence(parsed(c.schedule), c.tz ?? "UTC", new Date(c.from));
      expect(next?.toISOString() ?? null).toBe(c.expected);
    });
  }
});

describe("previousOccurrence", () => {
  for (const c of PREVIOUS) {
    test(c.name, () => {
      const previous = previousOccurrence(parsed(c.schedule), c.tz ?? "UTC", new Date(c.from));
      expect(previous?.toISOString() ?? null).toBe(c.expected);
    });
  }

  test("rate counts from the anchor, and nothing before it", () => {
    const s = parsed("rate(12 hours)");
    const anchor = new Date("2025-01-01T03:00:00Z");
    expect(previousOccurrence(s, "UTC", new Date("2025-01-01T14:59:00Z"), anchor)?.toISOString()).toBe("2025-01-01T03:00:00.000Z");
    expect(previousOccurrence(s, "UTC", new Date("2025-01-01T15:00:00Z"), anchor)?.toISOString()).toBe("2025-01-01T15:00:00.000Z");
    expect(previousOccurrence(s, "UTC", new Date("2025-01-01T02:00:00Z"), anchor)).toBeNull();
  });
});

describe("next and previous agree", () => {
  const schedules = ["cron(30 2 ? * * *)", "cron(0 * ? * * *)", "cron(0 9 LW * ? *)", "0 0 13 * 5"];
  for (const text of schedules) {
    test(`${text} walked across a fall-back and a spring-forward day`, () => {
      const s = parsed(text);
      for (const [tz, start] of [["America/New_York", "2025-03-07T00:00:00Z"], ["Europe/Berlin", "2025-10-24T00:00:00Z"]]) {
        let t = new Date(start);
        for (let i = 0; i < 30; i++) {
          const next = nextOccurrence(s, tz, t)!;
          expect(next.getTime()).toBeGreaterThan(t.getTime());
          expect(previousOccurrence(s, tz, next)?.toISOString()).toBe(next.toISOString());
          expect(previousOccurrence(s, tz, new Date(next.getTime() - 1))!.getTime()).toBeLessThan(next.getTime());
          t = next;
        }
      }
    });
  }
});

describe("parseSchedule errors", () => {
  const cases: [string, string][] = [
    ["cron(0 5 * * * *)", "day-of-month and day-of-week cannot both be set; use ? in one of them"],
    ["cron(0 5 ? * ? *)", "day-of-month and day-of-week cannot both be ?; use * in one of them"],
    ["cron(0 5 ? *)", "cron() needs 6 fields (minutes hours day-of-month month day-of-week year), got 4"],
    ["cron(60 5 ? * * *)", 'minutes field "60": 60 is outside 0-59'],
    ["cron(0 5-3 ? * * *)", 'hours field "5-3": range "5-3" runs backwards'],
    ["cron(0 5 ? * FOO *)", 'day-of-week field "FOO": "FOO" is not a number or name'],
    ["cron(0 5 ? * 0 *)", 'day-of-week field "0": 0 is outside 1-7'],
    ["cron(0 5 ? * 2#6 *)", 'day-of-week field "2#6": "#6" must be 1-5'],
    ["cron(0 */0 ? * * *)", 'hours field "*/0": step "0" must be a positive integer'],
    ["cron(0 0 31 2 ? *)", "no day ever matches this day-of-month, month and day-of-week"],
    ["cron(0 0 1 1 ? 1969)", 'year field "1969": 1969 is outside 1970-2199'],
    ["rate(0 hours)", "rate must be a positive number, got 0"],
    ["rate(2 weeks)", 'rate "2 weeks" must be "N minutes", "N hours" or "N days"'],
    ["@fortnightly", 'unknown macro "@fortnightly": use @hourly, @daily, @weekly, @monthly or @yearly'],
    ["0 5 * *", "expected cron(...) with 6 fields, a 5-field cron expression, rate(...) or @daily"],
    // Accepted before, but wrong (ISSUE 17 item 14).
    ["cron(0 0 29 2 ? 2027)", 'no day of year "2027" matches this day-of-month, month and day-of-week'],
    ["cron(0 0 ? FEB MON#5 2025-2030)", 'no day of year "2025-2030" matches this day-of-month, month and day-of-week'],
    ["cron(0 0 L-31 * ? *)", 'day-of-month field "L-31": "L-31" must be L-1 to L-30'],
    ["cron(0 0 L-0 * ? *)", 'day-of-month field "L-0": "L-0" must be L-1 to L-30'],
    ["cron(0 0 ? * 3#1,6#3 *)", 'day-of-week field "3#1,6#3": only one "#" term is allowed'],
    ["cron(0 0 ? * MON/2 *)", 'day-of-week field "MON/2": "/" is not allowed in day-of-week; list the days (MON,WED,FRI)'],
    ["cron(0 0 ? * */2 *)", 'day-of-week field "*/2": "/" is not allowed in day-of-week; list the days (MON,WED,FRI)'],
  ];
  for (const [text, error] of cases) {
    test(text, () => expect(parseSchedule(text)).toEqual({ error }));
  }
});

describe("minIntervalMs", () => {
  const H = 3_600_000;
  const cases: [string, number][] = [
    ["rate(30 minutes)", H / 2],
    ["rate(1 hour)", H],
    ["cron(0 * ? * * *)", H],
    ["cron(0/30 * ? * * *)", H / 2],
    ["cron(0 0,23 ? * * *)", H], // 23:00 to 00:00 the next day
    ["cron(0 0,12 ? * MON *)", 12 * H],
    ["@daily", 24 * H],
    ["@weekly", 7 * 24 * H],
    ["cron(0 0 1 * ? *)", 28 * 24 * H], // February
  ];
  for (const [text, expected] of cases) {
    test(text, () => expect(minIntervalMs(parsed(text), "Europe/Berlin")).toBe(expected));
  }
});

describe("isValidTimeZone", () => {
  const cases: [string, boolean][] = [
    ["UTC", true],
    ["Europe/Berlin", true],
    ["America/New_York", true],
    ["Mars/Olympus", false],
    ["", false],
    ["Etc/GMT-2", true],
    ["Australia/Lord_Howe", true],
    ["+02:00", false], // Intl accepts offsets; they are not IANA names
    ["-0500", false],
    ["+02", false],
  ];
  for (const [tz, valid] of cases) test(JSON.stringify(tz), () => expect(isValidTimeZone(tz)).toBe(valid));
});

test("a search across decades stays fast", () => {
  const s = parsed("cron(0 0 ? FEB MON#5 *)");
  const started = performance.now();
  for (let i = 0; i < 20; i++) nextOccurrence(s, "Europe/Berlin", new Date("2045-01-01T00:00:00Z"));
  expect(performance.now() - started).toBeLessThan(2000);
});
