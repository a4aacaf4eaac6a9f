import { expect, test } from "bun:test";
import { parseSchedule } from "../../src/plan/schedule.ts";
import { describeSchedule } from "../../src/plan/schedule-words.ts";

const cases: [string, string][] = [
  ["cron(30 5 * * ? *)", "at 05:30 every day"],
  ["cron(0 * ? * * *)", "every hour"],
  ["rate(15 minutes)", "every 15 minutes"],
  ["rate(1 hour)", "every hour"],
  ["rate(2 days)", "every 2 days"],
  ["*/15 * * * *", "every 15 minutes"],
  ["0 1 * * 1-5", "at 01:00 on weekdays (MON-FRI)"],
  ["0 1 * * 0,6", "at 01:00 on SUN, SAT"],
  ["cron(0 1 ? JAN,JUL 6L *)", "at 01:00 on the last FRI of the month, in JAN, JUL"],
  ["cron(0 3 ? * 2#1 *)", "at 03:00 on the 1st MON of the month"],
  ["0 2 1,15 * *", "at 02:00 on day 1, 15 of the month"],
  ["cron(0 0 L * ? 2027)", "at 00:00 on the last day of the month, in 2027"],
  ["cron(0 0 LW * ? *)", "at 00:00 on the last weekday of the month"],
  ["0 */6 * * *", "at 00:00, 06:00, 12:00, 18:00 every day"],
  ["5 9-17 * * *", "at minute 5 of every hour from 09:00 to 17:59 every day"],
  ["*/10 9-11,20 * * *", "every 10 minutes from 09:00 to 11:59, 20:00 to 20:59"],
  ["@daily", "at 00:00 every day"],
  ["@monthly", "at 00:00 on day 1 of the month"],
];

for (const [text, words] of cases) {
  test(`${text} -> ${words}`, () => {
    const parsed = parseSchedule(text);
    if (!("schedule" in parsed)) throw new Error(parsed.error);
    expect(describeSchedule(parsed.schedule)).toBe(words);
  });
}
