/** Readers of values that several tables share: required strings and durations (private to plan/). */
import { MAX_DURATION, durationProblem, parseDuration } from "./duration.ts";
import type { KeyPath, Reader } from "./parse.ts";

/** A required, non-empty string key of a table; reported when missing or empty. */
export function required(r: Reader, path: KeyPath, context: string, key: string): string | undefined {
  if (r.get([...path, key]) === undefined) {
    r.report(path, `Missing required key "${key}" in ${context}`);
    return undefined;
  }
  const value = r.string([...path, key]);
  if (value === "") r.report([...path, key], `Invalid "${key}": must not be empty`, "value");
  return value || undefined;
}

/** A duration value (90m, 8h, 30d, 1y, 1d12h; at most MAX_DURATION); reported when malformed. */
export function duration(r: Reader, path: KeyPath): number | undefined {
  const text = r.string(path);
  if (text === undefined) return undefined;
  const problem = durationProblem(text);
  if (problem === "too long") {
    r.report(path, `Invalid duration "${text}" for "${path[path.length - 1]}": at most ${MAX_DURATION}`, "value");
    return undefined;
  }
  if (problem) {
    r.report(path, `Invalid duration "${text}" for "${path[path.length - 1]}": use forms like 90m, 8h, 30d, 1y or 1d12h`, "value");
    return undefined;
  }
  return parseDuration(text)!;
}
