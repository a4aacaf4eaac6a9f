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
import { NotFoundError, StorageError, type Storage } from "../storage/storage.ts";
import { VaultDamageError } from "../errors.ts";
import { dueKey, jobKey, type DueSlot } from "./layout.ts";
import { loadJsonObjects } from "./load-json.ts";
import { timeOrderedId } from "./id.ts";
import type { Vault } from "./vault.ts";
import { VERSION } from "../version.ts";

/** One hook run, as the job record keeps it. */
export interface HookRecord {
  phase: "before" | "after";
  from: string;
  command: string;
  exit_code: number | null;
  duration_ms: number;
  /** The last HOOK_OUTPUT_BYTES of stdout and stderr, interleaved as written. */
  output: string;
  timed_out: boolean;
  /** The signal that ended it, when one did. */
  signal?: string;
}

/** Job states, as AWS Backup names them. */
export type JobState = "CREATED" | "PENDING" | "RUNNING" | "ABORTING" | "ABORTED" | "COMPLETED" | "FAILED" | "EXPIRED" | "PARTIAL";

/** Kinds of job. */
export type JobType = "backup" | "restore" | "prune" | "check" | "drill" | "copy";

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
  /** Backup jobs with hooks: each hook run, in order (jobs/hooks.ts). */
  hooks?: HookRecord[];
  /** Check and prune jobs: a short account of what was found or done. */
  details?: Record<string, unknown>;
}

/** Who hears of final jobs (jobs/notify.ts through cli/notifications.ts); null: nobody. */
let finalObserver: ((job: JobRecord) => void) | null = null;

/**
 * Tells fn of each job record this process writes in a final state with its end time, once
 * per job and after the write; returns a function that stops it. fn must not throw or block.
 */
export function observeFinalJobs(fn: (job: JobRecord) => void): () => void {
  finalObserver = fn;
  return () => {
    if (finalObserver === fn) finalObserver = null;
  };
}

function reportFinal(record: JobRecord): boolean {
  if (!FINAL_STATES.has(record.state) || record.ended_at === null) return false;
  try {
    finalObserver?.(structuredClone(record));
  } catch {
    // an observer's fault never changes a job
  }
  return true;
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

/**
 * Creates a job record (state CREATED unless given) and writes it. A scheduled job (one with
 * scheduledFor, a rule and a resource) also leaves its due mark, so `run` can tell the
 * occurrence is handled from one object, whatever the vault's history.
 */
export async function createJob(vault: Pick<Vault, "saveJson" | "keys">, job: NewJob, options: { now: Date; host?: string; pid?: number }): Promise<JobWriter> {
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
  let reported = reportFinal(record);
  // After the record, so a mark never names a job that is not there (a crash in between
  // leaves a job without a mark, which run's fallback listing still finds).
  const slot = slotOf(record);
  if (slot && job.scheduledFor) await vault.saveJson(dueKey(slot, job.scheduledFor.getTime(), vault.keys?.idKey), { job_id: record.id } satisfies DueMark);
  return {
    record,
    async update(patch) {
      Object.assign(record, patch);
      seq++;
      await vault.saveJson(jobKey(record.id, seq), record);
      reported ||= reportFinal(record);
    },
  };
}

/**
 * createJob for commands that only read the vault (restore, check): when the vault refuses
 * the write (a read-only vault, or credentials that may only read), the job goes unrecorded,
 * `onReadOnly` is told once, and the command goes on. Any other error is thrown.
 */
export async function createJobIfWritable(vault: Pick<Vault, "saveJson" | "keys">, job: NewJob, options: { now: Date; onReadOnly: (err: StorageError) => void }): Promise<JobWriter & { readonly recorded: boolean }> {
  let recorded = true;
  const denied = (err: unknown) => {
    if (!(err instanceof StorageError && err.denied)) throw err;
    if (recorded) options.onReadOnly(err);
    recorded = false;
  };
  let writer: JobWriter;
  try {
    writer = await createJob(vault, job, options);
  } catch (err) {
    denied(err);
    // Not recorded: the same record, kept in memory only.
    const record = (await createJob({ keys: null, saveJson: async () => {} }, job, options)).record;
    writer = { record, update: async (patch) => void Object.assign(record, patch) };
  }
  const inner = writer;
  return {
    get record() {
      return inner.record;
    },
    get recorded() {
      return recorded;
    },
    async update(patch) {
      if (!recorded) {
        Object.assign(inner.record, patch);
        return;
      }
      await inner.update(patch).catch((err) => {
        denied(err);
        Object.assign(inner.record, patch);
      });
    },
  };
}

/** What a due mark holds. */
export interface DueMark {
  job_id: string;
}

function slotOf(j: { type: string; plan: string | null; rule: string | null; resource: string | null }): DueSlot | null {
  return j.rule !== null && j.resource !== null ? { type: j.type, plan: j.plan, rule: j.rule, resource: j.resource } : null;
}

/**
 * The jobs recorded for these occurrences, found through their due marks: one load per
 * occurrence, then the job's own folder. `complete` is false when some occurrence had no
 * mark: a vault written before due marks existed (or a crash right after createJob) may
 * still hold a job for it, so the caller lists the window (listJobs with since) as well.
 */
export async function jobsForOccurrences(vault: Pick<Vault, "storage" | "loadJson" | "keys">, wanted: (DueSlot & { scheduledFor: Date })[]): Promise<{ jobs: JobEntry[]; complete: boolean }> {
  const jobs: JobEntry[] = [];
  let complete = true;
  const queue = wanted.slice();
  async function worker() {
    for (let w = queue.pop(); w !== undefined; w = queue.pop()) {
      let mark: DueMark;
      try {
        mark = await vault.loadJson<DueMark>(dueKey(w, w.scheduledFor.getTime(), vault.keys?.idKey));
      } catch (err) {
        if (!(err instanceof NotFoundError) && !(err instanceof VaultDamageError)) throw err;
        complete = false;
        continue;
      }
      const record = await newestState(vault, mark.job_id);
      if (record) jobs.push(record);
      else complete = false;
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker));
  return { jobs, complete };
}

async function newestState(vault: Pick<Vault, "storage" | "loadJson">, jobId: string): Promise<JobEntry | null> {
  if (!/^[0-9a-f]{12,64}$/.test(jobId)) return null;
  let newest: { key: string; mtimeMs: number } | null = null;
  for await (const o of vault.storage.list(`jobs/${jobId}/`)) if (newest === null || o.key > newest.key) newest = o;
  if (newest === null) return null;
  try {
    const record = await vault.loadJson<JobRecord>(newest.key);
    return record.id === jobId ? { record, key: newest.key, mtimeMs: newest.mtimeMs } : null;
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof VaultDamageError) return null;
    throw err;
  }
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
 * With `since`, the listing starts at that time (job ids begin with their creation time), so
 * its cost is the window's, not the vault's history. A damaged record is reported through
 * onDamage and skipped.
 */
export async function listJobs(vault: Pick<Vault, "storage" | "loadJson">, filter: JobFilter = {}, options: { onDamage?: (err: VaultDamageError) => void } = {}): Promise<JobRecord[]> {
  return (await listJobEntries(vault, filter, options)).map((e) => e.record);
}

/** A job record with the key of its newest state object (the next state goes after it). */
export interface JobEntry {
  record: JobRecord;
  key: string;
  /** Storage time of the newest state object, real clock. */
  mtimeMs: number;
}

/** listJobs, with each record's key. */
export async function listJobEntries(vault: Pick<Vault, "storage" | "loadJson">, filter: JobFilter = {}, options: { onDamage?: (err: VaultDamageError) => void } = {}): Promise<JobEntry[]> {
  const sinceHex = filter.since ? timeHex(filter.since.getTime()) : null;
  const latest = await latestJobKeys(vault.storage, sinceHex);
  const keys = [...latest.values()].filter((o) => sinceHex === null || o.key.slice(5, 17) >= sinceHex);
  const records = await loadJsonObjects<JobRecord>(vault, keys.map((o) => o.key), options);
  return records
    // A record whose id is not its folder's name is not the job it claims to be: passed over.
    .filter((record) => latest.has(record.id))
    .map((record) => ({ record, key: latest.get(record.id)!.key, mtimeMs: latest.get(record.id)!.mtimeMs }))
    .filter(({ record: j }) => (!filter.state || j.state === filter.state.toUpperCase()) && (!filter.type || j.type === filter.type) &&
      (!filter.resource || j.resource === filter.resource) && (!filter.since || j.created_at >= filter.since.toISOString()))
    .sort((x, y) => {
      const a = x.record;
      const b = y.record;
      return a.created_at > b.created_at ? -1 : a.created_at < b.created_at ? 1 : a.id > b.id ? -1 : 1;
    });
}

/** Writes the next state of a job found by listJobEntries (e.g. ABORTED for a dead process). */
export async function updateJobEntry(vault: Pick<Vault, "saveJson">, entry: JobEntry, patch: Partial<JobRecord>): Promise<JobRecord> {
  const seq = Number.parseInt(entry.key.slice(entry.key.lastIndexOf("/") + 1), 10);
  const record = { ...entry.record, ...patch };
  await vault.saveJson(jobKey(record.id, seq + 1), record);
  if (!FINAL_STATES.has(entry.record.state)) reportFinal(record);
  return record;
}

/** How long finished job records are kept by default (`job_retention` in a vault table). */
export const JOB_RETENTION_MS = 90 * 86_400_000;

/** Every state object of the given jobs (prune removes old finished jobs whole). */
export async function jobObjectKeys(storage: Pick<Storage, "list">, jobIds: ReadonlySet<string>): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of storage.list("jobs/")) {
    const parts = o.key.split("/");
    if (parts.length === 3 && jobIds.has(parts[1])) keys.push(o.key);
  }
  return keys;
}

function timeHex(ms: number): string {
  return Math.max(0, Math.floor(ms)).toString(16).padStart(12, "0");
}

/** job id -> its newest state object; from sinceHex on when given. */
async function latestJobKeys(storage: Pick<Storage, "list">, sinceHex: string | null): Promise<Map<string, { key: string; mtimeMs: number }>> {
  const latest = new Map<string, { key: string; mtimeMs: number }>();
  for await (const o of storage.list("jobs/", sinceHex === null ? undefined : { startAfter: `jobs/${sinceHex}` })) {
    const parts = o.key.split("/");
    if (parts.length !== 3) continue;
    const prev = latest.get(parts[1]);
    if (!prev || prev.key < o.key) latest.set(parts[1], { key: o.key, mtimeMs: o.mtimeMs });
  }
  return latest;
}
