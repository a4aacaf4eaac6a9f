/**
 * Job records: every backup, restore, prune, check and drill leaves one in its vault.
 *
 * A job is a folder jobs/<job id>/ of small objects, one per state change (0000, 0001, …),
 * each written once and never modified; the newest sequence number is the job's state. So a
 * process killed mid-job leaves its last state (RUNNING) behind, and `jobs` shows that it
 * never finished; nothing is ever rewritten in place.
 *
 * States are AWS Backup's: CREATED → PENDING → RUNNING → COMPLETED | PARTIAL | FAILED |
 * ABORTED (via ABORTING), and EXPIRED for a scheduled job whose start window passed.
 */
import { invocationPid } from "../process-id.ts";
import { hostname } from "node:os";
import type { Storage } from "../storage/storage.ts";
import type { VaultDamageError } from "../errors.ts";
import { jobKey } from "../vault/layout.ts";
import { loadJsonObjects } from "../vault/load-json.ts";
import { timeOrderedId } from "../vault/id.ts";
import type { Vault } from "../vault/vault.ts";
import { VERSION } from "../version.ts";

/** Job states, as AWS Backup names them. */
export type JobState = "CREATED" | "PENDING" | "RUNNING" | "ABORTING" | "ABORTED" | "COMPLETED" | "FAILED" | "EXPIRED" | "PARTIAL";

/** Kinds of job. */
export type JobType = "backup" | "restore" | "prune" | "check" | "drill";

/** States after which a job never changes again. */
export const FINAL_STATES: ReadonlySet<JobState> = new Set(["ABORTED", "COMPLETED", "FAILED", "EXPIRED", "PARTIAL"]);

/** One job as stored (its latest state). Times are ISO-8601 UTC. */
export interface JobRecord {
  id: string;
  type: JobType;
  plan: string | null;
  rule: string | null;
  resource: string | null;
  vault: string;
  scheduled_for: string | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  state: JobState;
  files: number;
  bytes_read: number;
  bytes_new: number;
  bytes_stored: number;
  warnings: string[];
  error: string | null;
  recovery_point: string | null;
  host: string;
  pid: number;
  efsbak_version: string;
  /** Paths recorded as inconsistent (changed during the backup). */
  inconsistent?: string[];
  /** Backup jobs: entries that could not be backed up (path in displayName form, reason), and how many. */
  skipped?: { path: string; reason: string }[];
  skipped_count?: number;
  /** Restore jobs: where the files went, and how many went to lost+found. */
  restore_dir?: string | null;
  fragments?: number;
  /** Check and prune jobs: a short account of what was found or done. */
  details?: Record<string, unknown>;
}

/** Fields a new job starts with. */
export interface NewJob {
  type: JobType;
  vault: string;
  plan?: string | null;
  rule?: string | null;
  resource?: string | null;
  scheduledFor?: Date | null;
  state?: JobState;
}

/** A job being written: its current record and a way to move it on. */
export interface JobWriter {
  readonly record: JobRecord;
  /** Applies a change and writes it as the next state object. */
  update(patch: Partial<JobRecord>): Promise<void>;
}

/** Creates a job record (state CREATED unless given) and writes it. */
export async function createJob(vault: Pick<Vault, "saveJson">, job: NewJob, options: { now: Date; host?: string; pid?: number }): Promise<JobWriter> {
  const record: JobRecord = {
    id: timeOrderedId(options.now.getTime()),
    type: job.type,
    plan: job.plan ?? null,
    rule: job.rule ?? null,
    resource: job.resource ?? null,
    vault: job.vault,
    scheduled_for: job.scheduledFor ? job.scheduledFor.toISOString() : null,
    created_at: options.now.toISOString(),
    started_at: null,
    ended_at: null,
    state: job.state ?? "CREATED",
    files: 0,
    bytes_read: 0,
    bytes_new: 0,
    bytes_stored: 0,
    warnings: [],
    error: null,
    recovery_point: null,
    host: options.host ?? hostname(),
    pid: options.pid ?? invocationPid(),
    efsbak_version: VERSION,
  };
  let seq = 0;
  await vault.saveJson(jobKey(record.id, seq), record);
  return {
    record,
    async update(patch) {
      Object.assign(record, patch);
      seq++;
      await vault.saveJson(jobKey(record.id, seq), record);
    },
  };
}

/** Filters for listing jobs. */
export interface JobFilter {
  state?: string;
  type?: string;
  resource?: string;
  /** Only jobs created at or after this time. */
  since?: Date;
}

/**
 * Lists jobs, newest first: one listing of jobs/, then the newest state object of each job.
 * A damaged record is reported through onDamage and skipped.
 */
export async function listJobs(vault: Pick<Vault, "storage" | "loadJson">, filter: JobFilter = {}, options: { onDamage?: (err: VaultDamageError) => void } = {}): Promise<JobRecord[]> {
  const latest = await latestJobKeys(vault.storage);
  const sinceHex = filter.since ? filter.since.getTime().toString(16).padStart(12, "0") : null;
  const keys = [...latest.values()].filter((k) => sinceHex === null || k.slice(5, 17) >= sinceHex);
  const out = await loadJsonObjects<JobRecord>(vault, keys, options);
  return out
    .filter((j) => (!filter.state || j.state === filter.state.toUpperCase()) && (!filter.type || j.type === filter.type) &&
      (!filter.resource || j.resource === filter.resource) && (!filter.since || j.created_at >= filter.since.toISOString()))
    .sort((a, b) => (a.created_at > b.created_at ? -1 : a.created_at < b.created_at ? 1 : a.id > b.id ? -1 : 1));
}

/** job id -> key of its newest state object. */
async function latestJobKeys(storage: Pick<Storage, "list">): Promise<Map<string, string>> {
  const latest = new Map<string, string>();
  for await (const o of storage.list("jobs/")) {
    const parts = o.key.split("/");
    if (parts.length !== 3) continue;
    const prev = latest.get(parts[1]);
    if (!prev || prev < o.key) latest.set(parts[1], o.key);
  }
  return latest;
}
