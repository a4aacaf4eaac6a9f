/**
 * Validation of `hooks` tables (on a resource or a rule) and `[[notifications]]`, for
 * validate.ts: typed specs with defaults, and a positioned problem for each mistake.
 *
 *   hooks = { before = "systemctl stop app", after = "systemctl start app", timeout = "5m" }
 *   [[notifications]] events = ["BACKUP_JOB_FAILED"], webhook = "http://…" | command = "…"
 *
 * Pure: references (resources, plans) are checked by validate.ts with the rest.
 */
import { durationProblem, formatDuration, parseDuration } from "./duration.ts";
import { closest, type KeyPath, type Reader } from "./parse.ts";
import type { HookCommand, HooksSpec, NotificationSpec } from "./plans.ts";

export const HOOK_KEYS = ["before", "after", "timeout"];
export const NOTIFICATION_KEYS = ["name", "events", "resources", "plans", "webhook", "command", "timeout", "retries"];

/** A hook's default timeout: its process group is killed after it. */
export const DEFAULT_HOOK_TIMEOUT = "10m";
/** A notification's default delivery deadline, retries included. */
export const DEFAULT_NOTIFY_TIMEOUT = "10s";
export const DEFAULT_NOTIFY_RETRIES = 3;
const MAX_RETRIES = 10;

/** Job types and final states a notification can name, as `<TYPE>_JOB_<STATE>` (AWS Backup's SNS event names). */
export const EVENT_TYPES = ["BACKUP", "RESTORE", "COPY", "DRILL", "PRUNE", "CHECK"];
export const EVENT_STATES = ["COMPLETED", "PARTIAL", "FAILED", "EXPIRED", "ABORTED"];
export const EVENT_NAMES: readonly string[] = EVENT_TYPES.flatMap((t) => EVENT_STATES.map((s) => `${t}_JOB_${s}`));

/** Reads a `hooks` table at path (absent: undefined). */
export function readHooks(r: Reader, path: KeyPath, context: string): HooksSpec | undefined {
  if (!r.table(path, `hooks of ${context}`, HOOK_KEYS)) return undefined;
  const before = hookCommand(r, [...path, "before"]);
  const after = hookCommand(r, [...path, "after"]);
  const timeoutMs = positiveDuration(r, [...path, "timeout"]) ?? parseDuration(DEFAULT_HOOK_TIMEOUT)!;
  if (r.get([...path, "before"]) === undefined && r.get([...path, "after"]) === undefined) {
    r.report(path, `Hooks of ${context} do nothing: set "before", "after" or both`);
  }
  if (before === undefined && after === undefined) return undefined;
  const spec: HooksSpec = { timeoutMs };
  if (before !== undefined) spec.before = before;
  if (after !== undefined) spec.after = after;
  return spec;
}

/** Reads one `[[notifications]]` table; references are left to the caller. */
export function readNotification(r: Reader, path: KeyPath, defaultName: string): NotificationSpec | undefined {
  const name = r.string([...path, "name"]) ?? defaultName;
  const events = readEvents(r, [...path, "events"], name);
  const resources = r.strings([...path, "resources"]) ?? [];
  const plans = r.strings([...path, "plans"]) ?? [];
  const webhook = r.string([...path, "webhook"]);
  const command = hookCommand(r, [...path, "command"]);
  const timeoutMs = positiveDuration(r, [...path, "timeout"]) ?? parseDuration(DEFAULT_NOTIFY_TIMEOUT)!;
  const retries = readRetries(r, [...path, "retries"]);
  const given = (k: string) => r.get([...path, k]) !== undefined;
  if (given("webhook") && given("command")) {
    r.report([...path, "command"], `Conflicting keys in notification "${name}": set "webhook" or "command", not both`);
  } else if (!given("webhook") && !given("command")) {
    r.report(path, `Notification "${name}" goes nowhere: set "webhook" (an http:// or https:// URL) or "command"`);
  }
  if (webhook !== undefined && !isHttpUrl(webhook)) {
    r.report([...path, "webhook"], `Invalid "webhook" value "${webhook}": expected an http:// or https:// URL`, "value");
    return undefined;
  }
  if (!events || (webhook === undefined) === (command === undefined)) return undefined;
  const spec: NotificationSpec = { name, events, resources, plans, timeoutMs, retries: retries ?? DEFAULT_NOTIFY_RETRIES, file: r.file, line: r.at(path).line };
  if (webhook !== undefined) spec.webhook = webhook;
  if (command !== undefined) spec.command = command;
  return spec;
}

function readEvents(r: Reader, path: KeyPath, name: string): string[] | undefined {
  if (r.get(path) === undefined) {
    r.report(path.slice(0, -1), `Missing required key "events" in notification "${name}": e.g. events = ["BACKUP_JOB_FAILED"]`);
    return undefined;
  }
  const events = r.strings(path);
  if (!events) return undefined;
  if (events.length === 0) r.report(path, `Invalid "events" in notification "${name}": name at least one event, e.g. "BACKUP_JOB_FAILED"`, "value");
  let ok = events.length > 0;
  events.forEach((event, index) => {
    if (EVENT_NAMES.includes(event)) return;
    ok = false;
    const near = closest(event.toUpperCase(), EVENT_NAMES);
    const hint = near ? `did you mean "${near}"?` : `expected <TYPE>_JOB_<STATE> with TYPE one of ${EVENT_TYPES.join(", ")} and STATE one of ${EVENT_STATES.join(", ")}`;
    r.report([...path, index], `Unknown event "${event}": ${hint}`, "value");
  });
  return ok ? events : undefined;
}

/** A command: a non-empty string (run by /bin/sh -c) or a non-empty array of strings (run directly). */
function hookCommand(r: Reader, path: KeyPath): HookCommand | undefined {
  const v = r.get(path);
  if (v === undefined) return undefined;
  const key = String(path[path.length - 1]);
  if (Array.isArray(v)) {
    const argv = r.strings(path);
    if (argv && argv.length === 0) r.report(path, `Invalid "${key}": an empty array runs nothing; give a command`, "value");
    return argv && argv.length > 0 ? argv : undefined;
  }
  if (typeof v !== "string") {
    r.report(path, `Invalid "${key}": expected a string (run by /bin/sh -c) or an array of strings (run directly)`, "value");
    return undefined;
  }
  if (v.trim() === "") {
    r.report(path, `Invalid "${key}": must not be empty`, "value");
    return undefined;
  }
  return v;
}

function positiveDuration(r: Reader, path: KeyPath): number | undefined {
  const text = r.string(path);
  if (text === undefined) return undefined;
  const key = String(path[path.length - 1]);
  const problem = durationProblem(text);
  const ms = problem ? null : parseDuration(text);
  if (ms === null) {
    r.report(path, `Invalid duration "${text}" for "${key}": use forms like 30s, 5m or 1h`, "value");
    return undefined;
  }
  if (ms <= 0) {
    r.report(path, `Invalid "${key}": ${formatDuration(ms)} must be longer than 0`, "value");
    return undefined;
  }
  return ms;
}

function readRetries(r: Reader, path: KeyPath): number | undefined {
  const v = r.get(path);
  if (v === undefined) return undefined;
  if (typeof v !== "number" && typeof v !== "bigint") {
    r.report(path, `Invalid "retries": expected an integer from 0 to ${MAX_RETRIES}`, "value");
    return undefined;
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > MAX_RETRIES) {
    r.report(path, `Invalid "retries" value ${String(v)}: expected an integer from 0 to ${MAX_RETRIES}`, "value");
    return undefined;
  }
  return n;
}

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    return false;
  }
}
