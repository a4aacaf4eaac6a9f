/**
 * Durations in plan files: a sequence of `<integer><unit>` parts, largest unit first, each
 * unit at most once: `45s`, `90m`, `8h`, `30d`, `1y` (365 days), `1d12h`. No spaces, no
 * fractions, no sign. Months are left out on purpose: they have no fixed length.
 * At most MAX_DURATION (100y): every date computed from a duration stays representable
 * (JavaScript dates end in the year 275760; "285000y" would pass that).
 */
import { EfsbakError } from "../errors.ts";

const UNITS: Record<string, number> = {
  y: 365 * 86_400_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
};

const ORDER = ["y", "d", "h", "m", "s"];

/** The longest duration a plan or flag may give, as written and in milliseconds. */
export const MAX_DURATION = "100y";
export const MAX_DURATION_MS = 100 * UNITS.y;

/** Parses a duration such as "1d12h" into milliseconds; null when it is not one or is longer than MAX_DURATION. */
export function parseDuration(text: string): number | null {
  const ms = parseDurationUnbounded(text);
  return ms !== null && ms <= MAX_DURATION_MS ? ms : null;
}

/** Why text is not a usable duration ("too long" or "malformed"), or null when it is one. */
export function durationProblem(text: string): "too long" | "malformed" | null {
  const ms = parseDurationUnbounded(text);
  return ms === null ? "malformed" : ms > MAX_DURATION_MS ? "too long" : null;
}

function parseDurationUnbounded(text: string): number | null {
  if (typeof text !== "string" || text.length === 0) return null;
  const part = /(\d+)([ydhms])/y;
  let ms = 0;
  let lastUnit = -1;
  let index = 0;
  while (index < text.length) {
    part.lastIndex = index;
    const m = part.exec(text);
    if (!m) return null;
    const unit = ORDER.indexOf(m[2]);
    if (unit <= lastUnit) return null; // units in order, each once: "1h1d" and "1h1h" are typos
    lastUnit = unit;
    ms += Number(m[1]) * UNITS[m[2]];
    index = part.lastIndex;
  }
  return Number.isSafeInteger(ms) ? ms : null;
}

/** Formats milliseconds the way plan files write them, e.g. 129600000 → "1d12h"; "0s" for 0. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return ms === 0 ? "0s" : `${ms}ms`;
  let rest = Math.round(ms);
  let out = "";
  for (const unit of ORDER) {
    const n = Math.floor(rest / UNITS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * UNITS[unit];
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}

/**
 * The ISO time `ms` after `start`, or an EfsbakError (never a RangeError) when it is not a
 * representable time; `what` names the value for the message, e.g. "delete_at".
 */
export function isoAfter(start: Date, ms: number, what: string): string {
  const t = new Date(start.getTime() + ms);
  if (!Number.isFinite(t.getTime())) {
    const from = Number.isFinite(start.getTime()) ? start.toISOString() : "an invalid time";
    throw new EfsbakError(`Cannot compute ${what}: ${from} plus ${formatDuration(ms)} is past the last representable time`, { exitCode: 2, hint: `give durations of at most ${MAX_DURATION}` });
  }
  return t.toISOString();
}
