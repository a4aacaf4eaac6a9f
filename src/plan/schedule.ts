/**
 * Schedules: when a rule fires. Accepted forms (parseSchedule):
 *   cron(min hour day-of-month month day-of-week year)   AWS: dow 1-7 = SUN-SAT, exactly one of
 *                                                        dom/dow is "?", L W # supported
 *   min hour day-of-month month day-of-week              classic cron: dow 0-7 (0 and 7 = SUN);
 *                                                        dom and dow both set means either matches
 *   @hourly @daily @midnight @weekly @monthly @yearly @annually
 *   rate(N minute|minutes|hour|hours|day|days)           every N units from an anchor (default epoch)
 *
 * Time zones use Intl only. Occurrences are found by walking local calendar days, skipping
 * months and years that cannot match, then trying the day's hour×minute grid, so a search
 * across years costs a few thousand cheap calendar checks and a handful of Intl calls.
 * DST: a local time that does not exist (spring forward) is skipped by a schedule that fires
 * more than once a day (cron(59 * ? * * *) in New York fires at 01:59 EST, then 03:59 EDT: never
 * twice within an hour); a schedule with one time of day fires once at the instant the gap
 * ends (02:30 in New York on a spring-forward day fires at 03:00 EDT), so no day is missed. A
 * local time that occurs twice (fall back) fires once, at its first instant.
 *
 * Hand-written on purpose (issue 20 kept it): the AWS form (days of week 1-7 from Sunday, "?",
 * L W #, a year field) is EventBridge's dialect, which general cron libraries read differently
 * (days of week 0-7 from Sunday, no year), and the DST rules above are ours; one engine serves
 * both forms, with no dependency.
 */
import { localToInstant, offsetAt } from "./timezone.ts";

/** Day-of-month part of a cron schedule; a day matches if any entry matches. */
export interface DayOfMonthSpec {
  days: number[]; // 1-31
  fromLast: number[]; // L = 0, L-3 = 3
  lastWeekday: boolean; // LW
  nearestWeekday: number[]; // 15W
}

/** Day-of-week part of a cron schedule, weekdays as 0-6 = SUN-SAT whatever the input syntax. */
export interface DayOfWeekSpec {
  days: number[];
  last: number[]; // 5L: last Friday of the month (AWS numbering in the text, 0-6 here)
  nth: { day: number; n: number }[]; // 2#1: first Monday
}

/** A parsed cron expression; dom/dow null means unrestricted, both set means either matches. */
export interface CronSchedule {
  kind: "cron";
  minutes: number[];
  hours: number[];
  months: number[];
  years: number[] | null;
  dom: DayOfMonthSpec | null;
  dow: DayOfWeekSpec | null;
}

/** A fixed-rate schedule, independent of time zones. */
export interface RateSchedule {
  kind: "rate";
  everyMs: number;
}

/** A parsed schedule. */
export type Schedule = CronSchedule | RateSchedule;

const MINUTE = 60_000;
const DAY = 86_400_000;
const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MACROS: Record<string, string> = {
  "@hourly": "0 * * * *",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@weekly": "0 0 * * 0",
  "@monthly": "0 0 1 * *",
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
};

class ScheduleSyntaxError extends Error {}

function fail(message: string): never {
  throw new ScheduleSyntaxError(message);
}

interface FieldDef {
  name: string;
  min: number;
  max: number;
  names?: string[];
  nameBase?: number;
}

type Dialect = "aws" | "unix";

/** Parses a schedule expression; the error says what is wrong, for a plan problem. */
export function parseSchedule(text: string): { schedule: Schedule } | { error: string } {
  try {
    const t = text.trim();
    if (t.startsWith("@")) {
      const expanded = MACROS[t.toLowerCase()];
      if (!expanded) fail(`unknown macro "${t}": use @hourly, @daily, @weekly, @monthly or @yearly`);
      return { schedule: parseCron(expanded.split(" "), "unix") };
    }
    const rate = /^rate\((.*)\)$/i.exec(t);
    if (rate) return { schedule: parseRate(rate[1].trim()) };
    const cron = /^cron\((.*)\)$/i.exec(t);
    if (cron) {
      const fields = cron[1].trim().split(/\s+/);
      if (fields.length !== 6) {
        fail(`cron() needs 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`);
      }
      return { schedule: parseCron(fields, "aws") };
    }
    const fields = t.split(/\s+/);
    if (fields.length === 5) return { schedule: parseCron(fields, "unix") };
    fail("expected cron(...) with 6 fields, a 5-field cron expression, rate(...) or @daily");
  } catch (e) {
    if (e instanceof ScheduleSyntaxError) return { error: e.message };
    throw e;
  }
}

function parseRate(body: string): RateSchedule {
  const m = /^(\d+)\s+(minute|minutes|hour|hours|day|days)$/i.exec(body);
  if (!m) fail(`rate "${body}" must be "N minutes", "N hours" or "N days"`);
  const n = Number(m[1]);
  if (n <= 0) fail(`rate must be a positive number, got ${n}`);
  const unit = m[2].toLowerCase().replace(/s$/, "");
  return { kind: "rate", everyMs: n * (unit === "minute" ? MINUTE : unit === "hour" ? 60 * MINUTE : DAY) };
}

function parseCron(fields: string[], dialect: Dialect): CronSchedule {
  const [min, hour, dom, month, dow, year] = fields;
  const schedule: CronSchedule = {
    kind: "cron",
    minutes: parseList(min, { name: "minutes", min: 0, max: 59 }),
    hours: parseList(hour, { name: "hours", min: 0, max: 23 }),
    months: parseList(month, { name: "month", min: 1, max: 12, names: MONTHS, nameBase: 1 }),
    years: year === undefined || year === "*" ? null : parseList(year, { name: "year", min: 1970, max: 2199 }),
    dom: dom === "*" || dom === "?" ? null : parseDom(dom),
    dow: dow === "*" || dow === "?" ? null : parseDow(dow, dialect),
  };
  if (dialect === "aws") {
    if (dom !== "?" && dow !== "?") fail("day-of-month and day-of-week cannot both be set; use ? in one of them");
    if (dom === "?" && dow === "?") fail("day-of-month and day-of-week cannot both be ?; use * in one of them");
  }
  if (!firesEver(schedule)) fail("no day ever matches this day-of-month, month and day-of-week");
  if (schedule.years && !firesInYears(schedule, schedule.years)) {
    fail(`no day of year "${year}" matches this day-of-month, month and day-of-week`);
  }
  return schedule;
}

function parseList(text: string, def: FieldDef): number[] {
  const out = new Set<number>();
  for (const item of text.split(",")) {
    const [range, stepText, extra] = item.split("/");
    if (range === "" || extra !== undefined) fail(`${def.name} field "${text}": cannot read "${item}"`);
    let lo: number;
    let hi: number;
    if (range === "*") {
      lo = def.min;
      hi = def.max;
    } else {
      const ends = range.split("-");
      if (ends.length > 2) fail(`${def.name} field "${text}": cannot read "${item}"`);
      lo = fieldValue(ends[0], def, text);
      hi = ends.length === 2 ? fieldValue(ends[1], def, text) : stepText === undefined ? lo : def.max;
    }
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!/^\d+$/.test(stepText ?? "1") || step < 1) fail(`${def.name} field "${text}": step "${stepText}" must be a positive integer`);
    if (lo > hi) fail(`${def.name} field "${text}": range "${range}" runs backwards`);
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

function fieldValue(token: string, def: FieldDef, text: string): number {
  const named = def.names?.indexOf(token.toUpperCase()) ?? -1;
  if (named >= 0) return named + (def.nameBase ?? 0);
  if (!/^\d+$/.test(token)) fail(`${def.name} field "${text}": "${token}" is not a number${def.names ? " or name" : ""}`);
  const v = Number(token);
  if (v < def.min || v > def.max) fail(`${def.name} field "${text}": ${v} is outside ${def.min}-${def.max}`);
  return v;
}

function parseDom(text: string): DayOfMonthSpec {
  const spec: DayOfMonthSpec = { days: [], fromLast: [], lastWeekday: false, nearestWeekday: [] };
  const def = { name: "day-of-month", min: 1, max: 31 };
  for (const item of text.split(",")) {
    const up = item.toUpperCase();
    let m: RegExpExecArray | null;
    if (up === "L") spec.fromLast.push(0);
    else if (up === "LW") spec.lastWeekday = true;
    else if ((m = /^L-(\d+)$/.exec(up))) {
      const n = Number(m[1]);
      if (n < 1 || n > 30) fail(`day-of-month field "${text}": "${item}" must be L-1 to L-30`);
      spec.fromLast.push(n);
    }
    else if ((m = /^(\d+)W$/.exec(up))) spec.nearestWeekday.push(fieldValue(m[1], def, text));
    else if (up === "?") fail('day-of-month field: "?" must stand alone');
    else spec.days.push(...parseList(item, def));
  }
  return spec;
}

function parseDow(text: string, dialect: Dialect): DayOfWeekSpec {
  const spec: DayOfWeekSpec = { days: [], last: [], nth: [] };
  const def: FieldDef =
    dialect === "aws"
      ? { name: "day-of-week", min: 1, max: 7, names: WEEKDAYS, nameBase: 1 }
      : { name: "day-of-week", min: 0, max: 7, names: WEEKDAYS, nameBase: 0 };
  const norm = (v: number) => (dialect === "aws" ? v - 1 : v % 7);
  if (text.split("#").length > 2) fail(`day-of-week field "${text}": only one "#" term is allowed`);
  if (dialect === "aws" && text.includes("/")) fail(`day-of-week field "${text}": "/" is not allowed in day-of-week; list the days (MON,WED,FRI)`);
  for (const item of text.split(",")) {
    const up = item.toUpperCase();
    let m: RegExpExecArray | null;
    if (up === "L") spec.days.push(6); // L alone is the last day of the week: Saturday
    else if ((m = /^(\w+)L$/.exec(up))) spec.last.push(norm(fieldValue(m[1], def, text)));
    else if ((m = /^(\w+)#(\d+)$/.exec(up))) {
      const n = Number(m[2]);
      if (n < 1 || n > 5) fail(`day-of-week field "${text}": "#${n}" must be 1-5`);
      spec.nth.push({ day: norm(fieldValue(m[1], def, text)), n });
    } else if (up === "?") fail('day-of-week field: "?" must stand alone');
    else spec.days.push(...parseList(item, def).map(norm));
  }
  return spec;
}

// ---- calendar ----

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

function weekday(y: number, m: number, d: number): number {
  return new Date(Date.UTC(y, m - 1, d)).getUTCDay();
}

function domMatches(s: DayOfMonthSpec, y: number, m: number, d: number): boolean {
  const dim = daysInMonth(y, m);
  if (s.days.includes(d) || s.fromLast.some((n) => dim - n === d)) return true;
  if (s.lastWeekday) {
    const wd = weekday(y, m, dim);
    if (d === dim - (wd === 6 ? 1 : wd === 0 ? 2 : 0)) return true;
  }
  return s.nearestWeekday.some((n) => {
    if (n > dim) return false;
    const wd = weekday(y, m, n);
    if (wd === 6) return d === (n === 1 ? 3 : n - 1);
    if (wd === 0) return d === (n === dim ? n - 2 : n + 1);
    return d === n;
  });
}

function dowMatches(s: DayOfWeekSpec, y: number, m: number, d: number): boolean {
  const wd = weekday(y, m, d);
  if (s.days.includes(wd)) return true;
  if (s.last.includes(wd) && d + 7 > daysInMonth(y, m)) return true;
  return s.nth.some((x) => x.day === wd && Math.ceil(d / 7) === x.n);
}

function dayMatches(c: CronSchedule, y: number, m: number, d: number): boolean {
  if (!c.months.includes(m)) return false;
  if (c.dom && c.dow) return domMatches(c.dom, y, m, d) || dowMatches(c.dow, y, m, d);
  if (c.dom) return domMatches(c.dom, y, m, d);
  if (c.dow) return dowMatches(c.dow, y, m, d);
  return true;
}

/** Day numbers (days since epoch) matching the day fields over 2024-2051, ignoring years; stops early. */
function scanDays(c: CronSchedule, stop: (days: number[]) => boolean): number[] {
  const found: number[] = [];
  // 28 years repeat every weekday/leap-year pattern of this century.
  for (let day = Date.UTC(2024, 0, 1) / DAY; day < Date.UTC(2052, 0, 1) / DAY; day++) {
    const dt = new Date(day * DAY);
    if (dayMatches(c, dt.getUTCFullYear(), dt.getUTCMonth() + 1, dt.getUTCDate())) {
      found.push(day);
      if (stop(found)) break;
    }
  }
  return found;
}

function firesEver(c: CronSchedule): boolean {
  return scanDays(c, () => true).length > 0;
}

/** True when some day of one of the years matches (cron(0 0 29 2 ? 2027) never does). */
function firesInYears(c: CronSchedule, years: number[]): boolean {
  return years.some((y) => c.months.some((m) => {
    for (let d = 1; d <= daysInMonth(y, m); d++) if (dayMatches(c, y, m, d)) return true;
    return false;
  }));
}

// ---- occurrences ----

interface LocalDay {
  y: number;
  m: number;
  d: number;
}

function localDay(timeZone: string, ms: number, shiftDays: number): LocalDay {
  const dt = new Date(ms + offsetAt(timeZone, ms) + shiftDays * DAY);
  return { y: dt.getUTCFullYear(), m: dt.getUTCMonth() + 1, d: dt.getUTCDate() };
}

function stepDay(day: LocalDay, dir: 1 | -1): LocalDay {
  const dt = new Date(Date.UTC(day.y, day.m - 1, day.d + dir));
  return { y: dt.getUTCFullYear(), m: dt.getUTCMonth() + 1, d: dt.getUTCDate() };
}

/** Walks local days from `from` in direction dir and returns the first instant accepted by ok. */
function searchCron(c: CronSchedule, timeZone: string, from: number, dir: 1 | -1, ok: (t: number) => boolean): Date | null {
  const guard = 3 * 3_600_000; // no zone shifts its offset by more than this within two days
  const fromOffset = offsetAt(timeZone, from);
  const startYear = localDay(timeZone, from, 0).y;
  const yearLimit = dir === 1
    ? Math.min(startYear + 50, c.years ? c.years[c.years.length - 1] : 2199)
    : Math.max(startYear - 50, c.years ? c.years[0] : 1970);
  const minutes = dir === 1 ? c.minutes : [...c.minutes].reverse();
  const hours = dir === 1 ? c.hours : [...c.hours].reverse();
  const skipGaps = c.minutes.length * c.hours.length > 1; // fires more than once a day
  let day = localDay(timeZone, from, -dir); // a day early: midnight gaps push a time into the next day
  while (dir === 1 ? day.y <= yearLimit : day.y >= yearLimit) {
    if (c.years && !c.years.includes(day.y)) {
      day = dir === 1 ? { y: day.y + 1, m: 1, d: 1 } : { y: day.y - 1, m: 12, d: 31 };
    } else if (!c.months.includes(day.m)) {
      const next = new Date(Date.UTC(day.y, dir === 1 ? day.m : day.m - 1, dir === 1 ? 1 : 0));
      day = { y: next.getUTCFullYear(), m: next.getUTCMonth() + 1, d: next.getUTCDate() };
    } else {
      if (dayMatches(c, day.y, day.m, day.d)) {
        for (const h of hours) {
          for (const mi of minutes) {
            const local = Date.UTC(day.y, day.m - 1, day.d, h, mi);
            const rough = local - fromOffset;
            if (dir === 1 ? rough + guard < from : rough - guard > from) continue;
            const t = localToInstant(timeZone, local);
            if (skipGaps && t + offsetAt(timeZone, t) !== local) continue; // in a spring-forward gap
            if (ok(t)) return new Date(t);
          }
        }
      }
      day = stepDay(day, dir);
    }
  }
  return null;
}

/** The most recent occurrence at or before `at`; rate schedules count from anchor (default epoch). */
export function previousOccurrence(s: Schedule, timeZone: string, at: Date, anchor: Date = new Date(0)): Date | null {
  const t = at.getTime();
  if (s.kind === "rate") {
    const a = anchor.getTime();
    if (t < a) return null;
    return new Date(a + Math.floor((t - a) / s.everyMs) * s.everyMs);
  }
  return searchCron(s, timeZone, t, -1, (x) => x <= t);
}

/** The first occurrence strictly after `after`; rate schedules count from anchor (default epoch). */
export function nextOccurrence(s: Schedule, timeZone: string, after: Date, anchor: Date = new Date(0)): Date | null {
  const t = after.getTime();
  if (s.kind === "rate") {
    const a = anchor.getTime();
    if (t < a) return new Date(a);
    return new Date(a + (Math.floor((t - a) / s.everyMs) + 1) * s.everyMs);
  }
  return searchCron(s, timeZone, t, 1, (x) => x > t);
}

/**
 * The smallest gap between two occurrences, on the local wall clock. Wall times in a
 * spring-forward gap are skipped by schedules that fire more than once a day, so a one-hour
 * shift never brings two firings under an hour apart; a 30-minute shift (Lord Howe) can bring
 * two existing wall times 30 real minutes apart (01:45 and 02:45), as any wall clock would.
 */
export function minIntervalMs(s: Schedule, timeZone: string): number {
  void timeZone; // wall-clock gaps are the same in every zone; kept for callers and a future DST-exact answer
  if (s.kind === "rate") return s.everyMs;
  const times = s.hours.flatMap((h) => s.minutes.map((m) => h * 60 + m)); // ascending
  let best = Infinity;
  for (let i = 1; i < times.length; i++) best = Math.min(best, times[i] - times[i - 1]);
  let dayGap = Infinity;
  scanDays(s, (days) => {
    const n = days.length;
    if (n >= 2) dayGap = Math.min(dayGap, days[n - 1] - days[n - 2]);
    return dayGap === 1;
  });
  if (dayGap !== Infinity) best = Math.min(best, dayGap * 1440 - times[times.length - 1] + times[0]);
  return best * MINUTE;
}
