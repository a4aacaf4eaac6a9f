/**
 * Validation of parsed plan files: collects EVERY problem, never stops at the first.
 *
 *   per file, in name order: vaults, resources, [plan] with rules and selections, restore tests
 *     → typed specs with defaults, plus problems of types, keys, durations, schedules, windows
 *   across files: duplicate names (pointing at the later one, naming the first), references
 *     to vaults and resources, rule vault defaults, lifecycle against the vault's rules
 *
 * Pure: the caller passes pathExists (or nothing, to skip path checks).
 */
import { isAbsolute, resolve } from "node:path";
import type { PlanProblem } from "../errors.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { createReader, isTable, type KeyPath, type ParsedFile, type Reader } from "./parse.ts";
import type { PlanSpec, Plans, ResourceSpec, RestoreTestSpec, RuleSpec, SelectionSpec, VaultSpec } from "./plans.ts";
import { compileGitignorePattern } from "../tree/gitignore.ts";
import { minIntervalMs, parseSchedule, type Schedule } from "./schedule.ts";
import { isValidTimeZone } from "./timezone.ts";
import { NOTIFICATION_KEYS, readHooks, readNotification } from "./validate-hooks.ts";
import { readVault } from "./validate-vault.ts";
import { duration, required } from "./_fields.ts";

/** Defaults as AWS Backup has them. */
export const DEFAULT_SCHEDULE = "cron(0 5 ? * * *)";
export const DEFAULT_START_WINDOW = "8h";
export const DEFAULT_COMPLETION_WINDOW = "7d";

const HOUR = 3_600_000;
const COLD_MINIMUM = 90 * 24 * HOUR;

const TOP_KEYS = ["vaults", "resources", "plan", "restore_tests", "notifications"];
/** Most file system requests a backup keeps in flight (each small-file read holds a descriptor). */
export const MAX_CONCURRENCY = 1024;
const RESOURCE_KEYS = ["id", "path", "tags", "exclude", "exclude_if_present", "one_file_system", "concurrency", "hooks"];
const PLAN_KEYS = ["name", "rules", "selections"];
const RULE_KEYS = [
  "name", "schedule", "timezone", "start_window", "completion_window", "vault", "recovery_point_tags", "lifecycle", "hooks", "copy_actions",
];
const COPY_ACTION_KEYS = ["vault", "lifecycle"];
const LIFECYCLE_KEYS = ["cold_after", "delete_after"];
const SELECTION_KEYS = ["name", "resources", "tags"];
const RESTORE_TEST_KEYS = ["name", "schedule", "timezone", "start_window", "window", "resources", "tags", "algorithm", "vault"];

/** Options of validatePlans. */
export interface ValidateOptions {
  baseDir: string;
  /** When given, resource paths are checked with it. */
  pathExists?: (path: string) => boolean;
  /** Some files did not parse: skip reference checks, which would only report knock-on errors. */
  incomplete?: boolean;
}

interface Where {
  r: Reader;
  path: KeyPath;
}

/** What a rule table says, valid or not, so references are checked even in a broken rule. */
interface RuleRead {
  name: string;
  spec?: RuleSpec;
  vault?: string;
  coldAfterMs?: number;
  deleteAfterMs?: number;
  copyActions?: CopyActionRead[];
}

/** A copy action as read, for checking its vault once every vault is known. */
interface CopyActionRead {
  where: Where;
  vault: string;
  action: RuleRead;
}

interface PendingRule extends RuleRead {
  where: Where;
  plan: string;
}

interface PendingRefs {
  where: Where;
  what: string;
  ids: string[];
}

/** What reading the files gathers for the checks across files, which need every file read first. */
interface Gathered {
  plans: Plans;
  /** First place of each name, by kind and scope (duplicates point at it). */
  firsts: Map<string, Where>;
  rules: PendingRule[];
  /** Resource ids named by selections, restore tests and notifications. */
  refs: PendingRefs[];
  testVaults: { where: Where; vault: string }[];
  /** Plan names named by notifications. */
  planRefs: PendingRefs[];
}

/** Validates parsed plan files together; returns the plans and every problem found. */
export function validatePlans(dir: string, files: ParsedFile[], options: ValidateOptions): { plans: Plans; problems: PlanProblem[] } {
  const problems: PlanProblem[] = [];
  const g: Gathered = {
    plans: { dir, vaults: new Map(), resources: new Map(), plans: [], restoreTests: [], notifications: [] },
    firsts: new Map(),
    rules: [],
    refs: [],
    testVaults: [],
    planRefs: [],
  };
  for (const file of files) readFile(g, createReader(file, problems), options);
  if (!options.incomplete) checkReferences(g);
  return { plans: g.plans, problems };
}

/** Records a name; on a repeat, reports it at the later place. False for a duplicate. */
function unique(g: Gathered, kind: string, name: string, where: Where, scope = ""): boolean {
  const key = `${kind}\0${scope}\0${name}`;
  const first = g.firsts.get(key);
  if (!first) return g.firsts.set(key, where), true;
  const at = first.r.at(first.path);
  where.r.report(where.path, `Duplicate ${kind} "${name}": first defined at ${first.r.file}:${at.line}`);
  return false;
}

/** unique() for a name read from a key; a missing or mistyped name is reported elsewhere. */
function named(g: Gathered, r: Reader, path: KeyPath, kind: string, scope = ""): boolean {
  const name = r.get(path);
  return typeof name !== "string" || name === "" || unique(g, kind, name, { r, path }, scope);
}

/** One plan file: its vaults, resources, plan, restore tests and notifications. */
function readFile(g: Gathered, r: Reader, options: ValidateOptions): void {
  const { plans } = g;
  r.table([], "the top level", TOP_KEYS);
  const vaults = r.get(["vaults"]);
  if (vaults !== undefined && !isTable(vaults)) r.report(["vaults"], 'Invalid "vaults": expected tables such as [vaults.main]', "value");
  for (const name of isTable(vaults) ? Object.keys(vaults) : []) {
    const vault = readVault(r, name);
    const fresh = unique(g, "vault", name, { r, path: ["vaults", name] });
    if (vault && fresh) plans.vaults.set(name, vault);
  }
  for (const { path } of r.tables(["resources"], "[[resources]]", RESOURCE_KEYS)) {
    const fresh = named(g, r, [...path, "id"], "resource");
    const resource = readResource(r, path, options);
    if (resource && fresh) plans.resources.set(resource.id, resource);
  }
  const planTable = r.table(["plan"], "[plan]", PLAN_KEYS);
  if (planTable) {
    const fresh = named(g, r, ["plan", "name"], "plan");
    const plan = readPlan(g, r, planTable);
    if (plan && fresh) plans.plans.push(plan);
  }
  for (const { path, table } of r.tables(["restore_tests"], "[[restore_tests]]", RESTORE_TEST_KEYS)) {
    const fresh = named(g, r, [...path, "name"], "restore test");
    const test = readRestoreTest(g, r, path, table);
    if (test && fresh) plans.restoreTests.push(test);
  }
  r.tables(["notifications"], "[[notifications]]", NOTIFICATION_KEYS).forEach(({ path }, index) => {
    const notification = readNotification(r, path, `notification-${index + 1}`);
    const what = `notification "${r.get([...path, "name"]) ?? `notification-${index + 1}`}"`;
    const ids = (key: string) => (Array.isArray(r.get([...path, key])) ? (r.get([...path, key]) as unknown[]).map(String) : []);
    g.refs.push({ where: { r, path: [...path, "resources"] }, what, ids: ids("resources") });
    g.planRefs.push({ where: { r, path: [...path, "plans"] }, what, ids: ids("plans") });
    if (notification) plans.notifications.push(notification);
  });
}

function readPlan(g: Gathered, r: Reader, table: Record<string, unknown>): PlanSpec | undefined {
  const name = required(r, ["plan"], "[plan]", "name");
  const ruleTables = r.tables(["plan", "rules"], "[[plan.rules]]", RULE_KEYS);
  const selectionTables = r.tables(["plan", "selections"], "[[plan.selections]]", SELECTION_KEYS);
  const plan: PlanSpec = { name: name ?? "", file: r.file, rules: [], selections: [] };
  if (ruleTables.length === 0 && !("rules" in table)) {
    r.report(["plan"], `Plan "${plan.name}" has no rules: add a [[plan.rules]] table`);
  } else if (selectionTables.length === 0 && !("selections" in table)) {
    r.report(["plan"], `Plan "${plan.name}" has no selections: add a [[plan.selections]] table naming resources or tags`);
  }
  for (const { path } of ruleTables) {
    const read = readRule(r, path);
    g.rules.push({ ...read, where: { r, path }, plan: plan.name });
    const fresh = named(g, r, [...path, "name"], "rule", plan.name);
    if (read.spec && fresh) plan.rules.push(read.spec);
  }
  selectionTables.forEach(({ path }, index) => {
    const selection = readSelection(g, r, path, `selection-${index + 1}`);
    if (unique(g, "selection", selection.name, { r, path: [...path, "name"] }, plan.name)) plan.selections.push(selection);
  });
  return name === undefined ? undefined : plan;
}

function readSelection(g: Gathered, r: Reader, path: KeyPath, defaultName: string): SelectionSpec {
  const name = r.string([...path, "name"]) ?? defaultName;
  const resources = r.strings([...path, "resources"]) ?? [];
  const tags = r.stringMap([...path, "tags"]) ?? {};
  if (r.get([...path, "resources"]) === undefined && r.get([...path, "tags"]) === undefined) {
    r.report(path, `Selection "${name}" selects nothing: set "resources", "tags" or both`);
  }
  g.refs.push({ where: { r, path: [...path, "resources"] }, what: `selection "${name}"`, ids: resources });
  return { name, resources, tags };
}

function readRestoreTest(g: Gathered, r: Reader, path: KeyPath, table: Record<string, unknown>): RestoreTestSpec | undefined {
  const name = required(r, path, "[[restore_tests]]", "name");
  const timing = readTiming(r, path, "window" in table && !("start_window" in table) ? "window" : "start_window");
  if ("window" in table && "start_window" in table) r.report([...path, "window"], 'Conflicting keys: "window" is another name for "start_window", set only one');
  const resources = r.strings([...path, "resources"]) ?? [];
  const tags = r.stringMap([...path, "tags"]) ?? {};
  if (!("resources" in table) && !("tags" in table)) r.report(path, `Restore test "${name ?? ""}" selects nothing: set "resources", "tags" or both`);
  g.refs.push({ where: { r, path: [...path, "resources"] }, what: `restore test "${name ?? ""}"`, ids: resources });
  const algorithm = r.string([...path, "algorithm"]) ?? "latest";
  if (algorithm !== "latest" && algorithm !== "random") {
    r.report([...path, "algorithm"], `Invalid "algorithm" value "${algorithm}": expected "latest" or "random"`, "value");
  }
  const vault = r.string([...path, "vault"]);
  if (vault !== undefined) g.testVaults.push({ where: { r, path: [...path, "vault"] }, vault });
  if (name === undefined || !timing) return undefined;
  const test: RestoreTestSpec = { name, ...timing, resources, tags, algorithm: algorithm === "random" ? "random" : "latest", file: r.file };
  if (vault !== undefined) test.vault = vault;
  return test;
}

/** Across files: rule vaults (and their defaults), copy action vaults, lifecycles, and every reference. */
function checkReferences(g: Gathered): void {
  const { plans } = g;
  const vaultNames = [...plans.vaults.keys()];
  const known = vaultNames.length === 0
    ? "no vault is defined: add a [vaults.NAME] table"
    : `defined vaults are ${vaultNames.map((v) => `"${v}"`).join(", ")}`;
  for (const rule of g.rules) {
    const { where } = rule;
    if (rule.vault === undefined && vaultNames.length !== 1) {
      where.r.report(where.path, `Missing "vault" in rule "${rule.name}" of plan "${rule.plan}": ${known}`);
      continue;
    }
    const name = rule.vault ?? vaultNames[0];
    if (rule.spec) rule.spec.vault = name;
    const vault = plans.vaults.get(name);
    if (!vault) where.r.report([...where.path, "vault"], `Unknown vault "${name}": ${known}`, "value");
    else checkLifecycle(where, rule, vault);
    for (const a of rule.copyActions ?? []) {
      const target = plans.vaults.get(a.vault);
      if (!target) a.where.r.report([...a.where.path, "vault"], `Unknown vault "${a.vault}" in a copy action of rule "${rule.name}": ${known}`, "value");
      else if (a.vault === name) a.where.r.report([...a.where.path, "vault"], `Invalid copy action of rule "${rule.name}": it copies into the rule's own vault "${name}"`, "value");
      else checkLifecycle(a.where, a.action, target);
    }
  }
  for (const { where, vault } of g.testVaults) {
    if (!plans.vaults.has(vault)) where.r.report(where.path, `Unknown vault "${vault}": ${known}`, "value");
  }
  for (const { where, what, ids } of g.refs) {
    ids.forEach((id, index) => {
      if (!plans.resources.has(id)) where.r.report([...where.path, index], `Unknown resource "${id}" in ${what}`, "value");
    });
  }
  for (const { where, what, ids } of g.planRefs) {
    ids.forEach((id, index) => {
      if (!plans.plans.some((p) => p.name === id)) where.r.report([...where.path, index], `Unknown plan "${id}" in ${what}`, "value");
    });
  }
}

function checkLifecycle(where: Where, rule: RuleRead, vault: VaultSpec) {
  const { coldAfterMs: cold, deleteAfterMs: del } = rule;
  const at: KeyPath = [...where.path, "lifecycle", "delete_after"];
  if (cold !== undefined && del !== undefined) {
    if (del <= cold) {
      where.r.report(at, `Invalid lifecycle: delete_after ${formatDuration(del)} must be later than cold_after ${formatDuration(cold)}`, "value");
    } else if (del < cold + COLD_MINIMUM && !vault.allowShortCold) {
      where.r.report(
        at,
        `Invalid lifecycle: delete_after ${formatDuration(del)} must be at least cold_after + 90d (${formatDuration(cold + COLD_MINIMUM)}); ` +
          `set allow_short_cold = true on vault "${vault.name}" to allow it for testing`,
        "value",
      );
    }
  }
  const lock = vault.lock;
  if (del !== undefined && lock?.minRetentionMs !== undefined && del < lock.minRetentionMs) {
    where.r.report(at, `Invalid lifecycle: delete_after ${formatDuration(del)} is shorter than the min_retention ${formatDuration(lock.minRetentionMs)} of vault "${vault.name}"`, "value");
  }
  if (del !== undefined && lock?.maxRetentionMs !== undefined && del > lock.maxRetentionMs) {
    where.r.report(at, `Invalid lifecycle: delete_after ${formatDuration(del)} is longer than the max_retention ${formatDuration(lock.maxRetentionMs)} of vault "${vault.name}"`, "value");
  }
}

function readResource(r: Reader, path: KeyPath, options: ValidateOptions): ResourceSpec | undefined {
  const id = required(r, path, "[[resources]]", "id");
  const given = required(r, path, "[[resources]]", "path");
  const tags = r.stringMap([...path, "tags"]) ?? {};
  const exclude = r.strings([...path, "exclude"]) ?? [];
  exclude.forEach((p, i) => {
    try {
      compileGitignorePattern(p.startsWith("!") || p.startsWith("\\!") ? p.slice(1) : p);
    } catch (err) {
      r.report([...path, "exclude", i], `Invalid "exclude" pattern: ${(err as Error).message}`, "value");
    }
  });
  const excludeIfPresent = r.strings([...path, "exclude_if_present"]) ?? [];
  excludeIfPresent.forEach((n, i) => {
    if (n === "" || n.includes("/") || n === "." || n === "..") r.report([...path, "exclude_if_present", i], `Invalid "exclude_if_present" name "${n}": expected a file name, without "/"`, "value");
  });
  const oneFileSystem = r.boolean([...path, "one_file_system"]) ?? false;
  const concurrency = readConcurrency(r, [...path, "concurrency"]);
  const hooks = readHooks(r, [...path, "hooks"], `resource "${id ?? ""}"`);
  if (given === undefined || id === undefined) return undefined;
  const absolute = isAbsolute(given) ? given : resolve(options.baseDir, given);
  if (options.pathExists && !options.pathExists(absolute)) {
    const shown = absolute === given ? "" : ` (resolved to "${absolute}")`;
    r.report([...path, "path"], `Resource path "${given}" does not exist${shown}`, "value");
  }
  return { id, path: absolute, tags, exclude, excludeIfPresent, oneFileSystem, ...(concurrency !== undefined ? { concurrency } : {}), ...(hooks ? { hooks } : {}), file: r.file, line: r.at(path).line };
}

/** A resource's `concurrency`: file system requests in flight while backing it up. */
function readConcurrency(r: Reader, path: KeyPath): number | undefined {
  const v = r.get(path);
  if (v === undefined) return undefined;
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_CONCURRENCY) {
    r.report(path, `Invalid "concurrency" value ${typeof v === "string" ? `"${v}"` : String(v)}: expected a whole number from 1 to ${MAX_CONCURRENCY}`, "value");
    return undefined;
  }
  return n;
}

/** `copy_actions = [{ vault = "offsite", lifecycle = { delete_after = "365d" } }]` of a rule (vaults checked later). */
function readCopyActions(r: Reader, rulePath: KeyPath, rule: RuleRead): CopyActionRead[] {
  const out: CopyActionRead[] = [];
  for (const { path } of r.tables([...rulePath, "copy_actions"], "copy_actions", COPY_ACTION_KEYS)) {
    const vault = required(r, path, "a copy action", "vault");
    const lifecycle = [...path, "lifecycle"];
    r.table(lifecycle, "lifecycle", LIFECYCLE_KEYS);
    const action: RuleRead = { name: rule.name, coldAfterMs: duration(r, [...lifecycle, "cold_after"]), deleteAfterMs: duration(r, [...lifecycle, "delete_after"]) };
    if (vault !== undefined) out.push({ where: { r, path }, vault, action });
  }
  rule.copyActions = out;
  return out;
}

function readRule(r: Reader, path: KeyPath): RuleRead {
  const name = required(r, path, "[[plan.rules]]", "name");
  const timing = readTiming(r, path, "start_window");
  const completionWindowMs = duration(r, [...path, "completion_window"]) ?? parseDuration(DEFAULT_COMPLETION_WINDOW)!;
  if (completionWindowMs <= 0) r.report([...path, "completion_window"], 'Invalid "completion_window": must be longer than 0', "value");
  const vault = r.string([...path, "vault"]);
  const recoveryPointTags = r.stringMap([...path, "recovery_point_tags"]) ?? {};
  const lifecycle = [...path, "lifecycle"];
  r.table(lifecycle, "lifecycle", LIFECYCLE_KEYS);
  const coldAfterMs = duration(r, [...lifecycle, "cold_after"]);
  const deleteAfterMs = duration(r, [...lifecycle, "delete_after"]);
  const hooks = readHooks(r, [...path, "hooks"], `rule "${name ?? ""}"`);
  const read: RuleRead = { name: name ?? "", vault, coldAfterMs, deleteAfterMs };
  const copyActions = readCopyActions(r, path, read);
  if (name === undefined || !timing) return read;
  read.spec = { name, ...timing, completionWindowMs, vault: vault ?? "", recoveryPointTags };
  if (coldAfterMs !== undefined) read.spec.coldAfterMs = coldAfterMs;
  if (deleteAfterMs !== undefined) read.spec.deleteAfterMs = deleteAfterMs;
  if (hooks) read.spec.hooks = hooks;
  if (copyActions.length > 0) read.spec.copyActions = copyActions.map((a) => ({ vault: a.vault, ...(a.action.coldAfterMs !== undefined ? { coldAfterMs: a.action.coldAfterMs } : {}), ...(a.action.deleteAfterMs !== undefined ? { deleteAfterMs: a.action.deleteAfterMs } : {}) }));
  return read;
}

interface Timing {
  schedule: Schedule;
  scheduleText: string;
  timezone: string;
  startWindowMs: number;
}

/** schedule, timezone and start window, shared by rules and restore tests. */
function readTiming(r: Reader, path: KeyPath, windowKey: string): Timing | undefined {
  const scheduleText = r.string([...path, "schedule"]) ?? DEFAULT_SCHEDULE;
  const timezone = r.string([...path, "timezone"]) ?? "UTC";
  const startWindowMs = duration(r, [...path, windowKey]) ?? parseDuration(DEFAULT_START_WINDOW)!;
  if (startWindowMs < HOUR) {
    r.report([...path, windowKey], `Invalid "${windowKey}": ${formatDuration(startWindowMs)} is under the minimum of 1h`, "value");
  }
  const zoneOk = isValidTimeZone(timezone);
  if (!zoneOk) {
    const offset = /^[+-]\d/.test(timezone) ? ' (a UTC offset is not a time zone: a fixed +02:00 is "Etc/GMT-2")' : "";
    r.report([...path, "timezone"], `Unknown time zone "${timezone}": use an IANA name such as "UTC" or "Europe/Berlin"${offset}`, "value");
  }
  const parsed = parseSchedule(scheduleText);
  if ("error" in parsed) {
    r.report([...path, "schedule"], `Invalid schedule "${scheduleText}": ${parsed.error}`, "value");
    return undefined;
  }
  const every = minIntervalMs(parsed.schedule, zoneOk ? timezone : "UTC");
  if (every < HOUR) {
    r.report([...path, "schedule"], `Invalid schedule "${scheduleText}": it fires every ${formatDuration(every)}, more often than hourly`, "value");
  }
  return zoneOk ? { schedule: parsed.schedule, scheduleText, timezone, startWindowMs } : undefined;
}
