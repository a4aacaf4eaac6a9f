/**
 * IANA time zones through Intl: whether a name is known, a zone's UTC offset at an instant,
 * and the instant a local wall time means (DST gaps and repeats resolved as cron expects).
 * Used by schedule.ts; pure apart from Intl's own tables.
 */
const DAY = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    const n = "numeric";
    f = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: n, month: n, day: n, hour: n, minute: n, second: n });
    formatters.set(timeZone, f);
  }
  return f;
}

/**
 * True when Intl knows the IANA time zone name. UTC offsets ("+02:00", "-0500"), which Intl
 * also accepts, are not names: IANA names start with a letter ("UTC", "Etc/GMT-2").
 */
export function isValidTimeZone(tz: string): boolean {
  if (typeof tz !== "string" || !/^[A-Za-z]/.test(tz)) return false;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** UTC offset of the zone at an instant, in ms (local = utc + offset). */
export function offsetAt(timeZone: string, ms: number): number {
  if (timeZone === "UTC") return 0;
  const whole = ms - (((ms % 1000) + 1000) % 1000);
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(whole))) p[part.type] = Number(part.value);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second) - whole;
}

/** The instant a local wall time means: first instant if it occurs twice, end of the gap if never. */
export function localToInstant(timeZone: string, local: number): number {
  const before = offsetAt(timeZone, local - DAY);
  const after = offsetAt(timeZone, local + DAY);
  const candidates = [local - before, local - after].sort((a, b) => a - b);
  for (const t of candidates) if (t + offsetAt(timeZone, t) === local) return t;
  if (before === after) return candidates[0];
  // Spring-forward gap: find the transition between lo (old offset) and hi (new offset).
  let lo = candidates[0];
  let hi = candidates[1];
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (offsetAt(timeZone, mid) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}
