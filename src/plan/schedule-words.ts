/**
 * Schedules in words, for people: "at 05:30 every day", "every 15 minutes", "at 01:00 on the
 * last FRI of the month, in JAN, JUL". Pure; the time zone is added by the caller.
 */
import type { CronSchedule, DayOfMonthSpec, DayOfWeekSpec, Schedule } from "./schedule.ts";

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MINUTE = 60_000;

/** A schedule in words. */
export function describeSchedule(s: Schedule): string {
  return s.kind === "rate" ? describeRate(s.everyMs) : describeCron(s);
}

function describeRate(ms: number): string {
  for (const [unit, size] of [["day", 1440 * MINUTE], ["hour", 60 * MINUTE], ["minute", MINUTE]] as const) {
    if (ms % size === 0) {
      const n = ms / size;
      return n === 1 ? `every ${unit}` : `every ${n} ${unit}s`;
    }
  }
  return `every ${ms / 1000} seconds`;
}

function describeCron(s: CronSchedule): string {
  const time = timesOfDay(s.minutes, s.hours);
  const day = days(s.dom, s.dow);
  // "every 15 minutes", not "every 15 minutes every day"
  const parts = day === "every day" && time.startsWith("every") ? [time] : [time, day];
  if (s.months.length < 12) parts.push(`in ${s.months.map((m) => MONTHS[m - 1]).join(", ")}`);
  if (s.years) parts.push(`in ${s.years.join(", ")}`);
  return parts.join(" ").replace(/ in /, ", in ");
}

function timesOfDay(minutes: number[], hours: number[]): string {
  const step = evenStep(minutes, 60);
  if (hours.length === 24) {
    if (minutes.length === 60) return "every minute";
    if (minutes.length === 1) return minutes[0] === 0 ? "every hour" : `every hour at minute ${minutes[0]}`;
    if (step !== null) return `every ${step} minutes`;
    return `every hour at minutes ${minutes.join(", ")}`;
  }
  if (minutes.length * hours.length <= 6) return `at ${hours.flatMap((h) => minutes.map((m) => `${pad(h)}:${pad(m)}`)).join(", ")}`;
  const during = `from ${hourRanges(hours)}`;
  if (minutes.length === 60) return `every minute ${during}`;
  if (step !== null) return `every ${step} minutes ${during}`;
  return `at minute${minutes.length > 1 ? "s" : ""} ${minutes.join(", ")} of every hour ${during}`;
}

/** The step when values are 0, k, 2k, … covering the whole range, else null. */
function evenStep(values: number[], range: number): number | null {
  if (values.length < 2 || values[0] !== 0) return null;
  const k = values[1] - values[0];
  if (range % k !== 0 || values.length !== range / k) return null;
  return values.every((v, i) => v === i * k) ? k : null;
}

/** [9,10,11,12,20] -> "09:00 to 12:59, 20:00 to 20:59". */
function hourRanges(hours: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < hours.length; i++) {
    let j = i;
    while (j + 1 < hours.length && hours[j + 1] === hours[j] + 1) j++;
    out.push(`${pad(hours[i])}:00 to ${pad(hours[j])}:59`);
    i = j;
  }
  return out.join(", ");
}

function days(dom: DayOfMonthSpec | null, dow: DayOfWeekSpec | null): string {
  const d = [...(dom ? monthDays(dom) : []), ...(dow ? weekDays(dow) : [])];
  return d.length === 0 ? "every day" : `on ${d.join(" or ")}`;
}

function monthDays(dom: DayOfMonthSpec): string[] {
  const out: string[] = [];
  if (dom.days.length) out.push(`day ${dom.days.join(", ")} of the month`);
  for (const n of dom.fromLast) out.push(n === 0 ? "the last day of the month" : `${n} days before the last day of the month`);
  if (dom.lastWeekday) out.push("the last weekday of the month");
  for (const n of dom.nearestWeekday) out.push(`the weekday nearest day ${n}`);
  return out;
}

function weekDays(dow: DayOfWeekSpec): string[] {
  const out: string[] = [];
  const set = [...dow.days].sort((a, b) => a - b);
  if (set.join() === "1,2,3,4,5") out.push("weekdays (MON-FRI)");
  else if (set.length === 7) out.push("every day of the week");
  else if (set.length) out.push(set.map((d) => WEEKDAYS[d]).join(", "));
  for (const d of dow.last) out.push(`the last ${WEEKDAYS[d]} of the month`);
  for (const { day, n } of dow.nth) out.push(`the ${ordinal(n)} ${WEEKDAYS[day]} of the month`);
  return out;
}

function ordinal(n: number): string {
  return n === 1 ? "1st" : n === 2 ? "2nd" : n === 3 ? "3rd" : `${n}th`;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}
