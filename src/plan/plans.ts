/**
 * Plans: what to back up, where and when, as the plan files declare it (the types every
 * consumer reads), and the pure look-ups on them. Reading a plans directory is plan/load.ts.
 *
 * Invariants of a Plans that load.ts returns: names are unique (vaults, resource ids, plans,
 * rules within a plan, restore tests), every vault and resource a rule, selection or restore
 * test names exists, and every rule has a vault.
 */
import type { PlanProblem } from "../errors.ts";
import type { Schedule } from "./schedule.ts";
import type { S3Settings } from "../storage/open.ts";

/** A vault as declared in `[vaults.NAME]`; its S3 keys are storage/open.ts's S3Settings. */
export interface VaultSpec extends S3Settings {
  name: string;
  url: string;
  coldPath?: string;
  /** Where `efsbak copy --to` this vault reads its password (a file, or a command that prints it), when no EFSBAK_TO_PASSWORD* is set. */
  passwordFile?: string;
  passwordCommand?: string;
  encryption?: "aes-256-gcm" | null;
  allowShortCold: boolean;
  lock?: { minRetentionMs?: number; maxRetentionMs?: number };
  /** `job_retention`: prune deletes finished job records older than this (default JOB_RETENTION_MS in vault/job-record.ts). */
  jobRetentionMs?: number;
  /** `limit_upload` / `limit_download` (MiB/s in the plan), as bytes per second; S3 vaults only. */
  limitUploadBytesPerSec?: number;
  limitDownloadBytesPerSec?: number;
  file: string;
  line: number;
}

/** A resource from `[[resources]]`; path is absolute. */
export interface ResourceSpec {
  id: string;
  path: string;
  tags: Record<string, string>;
  /** .gitignore-style patterns (tree/gitignore.ts). */
  exclude: string[];
  /** `exclude_if_present`: a directory holding one of these names keeps only that file. */
  excludeIfPresent: string[];
  /** `one_file_system`: do not cross mount points. */
  oneFileSystem: boolean;
  /** File system requests in flight while backing it up (default 64). */
  concurrency?: number;
  /** `hooks`: commands before and after each backup of this resource. */
  hooks?: HooksSpec;
  file: string;
  line: number;
}

/** A hook command: a string runs through /bin/sh -c, an array is executed directly. */
export type HookCommand = string | string[];

/** A `hooks` table of a resource or a rule. */
export interface HooksSpec {
  before?: HookCommand;
  after?: HookCommand;
  /** After this long the hook's process group is killed (default 10m). */
  timeoutMs: number;
}

/** A `[[notifications]]` table: job events sent to a webhook or a command. */
export interface NotificationSpec {
  name: string;
  /** `<TYPE>_JOB_<STATE>` names, e.g. BACKUP_JOB_FAILED. */
  events: string[];
  /** Only jobs of these resources / plans (empty: all). */
  resources: string[];
  plans: string[];
  webhook?: string;
  command?: HookCommand;
  /** The whole delivery, retries included, ends within this (default 10s). */
  timeoutMs: number;
  retries: number;
  file: string;
  line: number;
}

/** A rule from `[[plan.rules]]`, defaults applied and vault resolved. */
export interface RuleSpec {
  name: string;
  schedule: Schedule;
  scheduleText: string;
  timezone: string;
  startWindowMs: number;
  completionWindowMs: number;
  vault: string;
  recoveryPointTags: Record<string, string>;
  coldAfterMs?: number;
  deleteAfterMs?: number;
  /** `hooks`: commands before and after each backup this rule starts (around the resource's own). */
  hooks?: HooksSpec;
  /** `copy_actions`: each new recovery point of the rule is copied into these vaults, with their own lifecycle. */
  copyActions?: CopyActionSpec[];
}

/** One copy action of a rule. */
export interface CopyActionSpec {
  vault: string;
  coldAfterMs?: number;
  deleteAfterMs?: number;
}

/** A selection from `[[plan.selections]]`: resource ids, or all resources carrying every tag. */
export interface SelectionSpec {
  name: string;
  resources: string[];
  tags: Record<string, string>;
}

/** A plan: the `[plan]` table of one file. */
export interface PlanSpec {
  name: string;
  file: string;
  rules: RuleSpec[];
  selections: SelectionSpec[];
}

/** A restore test from `[[restore_tests]]`. */
export interface RestoreTestSpec {
  name: string;
  schedule: Schedule;
  scheduleText: string;
  timezone: string;
  startWindowMs: number;
  resources: string[];
  tags: Record<string, string>;
  algorithm: "latest" | "random";
  vault?: string;
  file: string;
}

/** Everything the plans directory declares. */
export interface Plans {
  dir: string;
  vaults: Map<string, VaultSpec>;
  resources: Map<string, ResourceSpec>;
  plans: PlanSpec[];
  restoreTests: RestoreTestSpec[];
  notifications: NotificationSpec[];
}

/** Sorts problems by file, line, then column. */
export function sortProblems(problems: PlanProblem[]): PlanProblem[] {
  return [...problems].sort((a, b) =>
    a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col,
  );
}

/** Resources picked by ids or tags (all tags must match), each once, ordered by id. */
export function resourcesMatching(plans: Plans, selections: { resources: string[]; tags: Record<string, string> }[]): ResourceSpec[] {
  const picked = new Map<string, ResourceSpec>();
  for (const s of selections) {
    for (const id of s.resources) {
      const r = plans.resources.get(id);
      if (r) picked.set(id, r);
    }
    const tags = Object.entries(s.tags);
    if (tags.length === 0) continue;
    for (const r of plans.resources.values()) {
      if (tags.every(([k, v]) => r.tags[k] === v)) picked.set(r.id, r);
    }
  }
  return [...picked.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The union of a plan's selections, each resource once, ordered by id. */
export function selectedResources(plans: Plans, plan: PlanSpec): ResourceSpec[] {
  return resourcesMatching(plans, plan.selections);
}
