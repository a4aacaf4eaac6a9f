/**
 * What the dashboard and the chart show, computed from a vault's job records and recovery
 * points and the plan clock. Pure: no I/O, no clock of its own.
 *
 *   jobs of the last 24 h and 7 d, by state           (created_at within the window)
 *   per resource: newest recovery point, its age, the last backup job's state;
 *                 failures first, then the stalest
 *   failures: FAILED, ABORTED, EXPIRED and PARTIAL jobs of the last 7 d, newest first
 *   history: per hour (spans under 3 days) or per day, job outcomes and the bytes the
 *            backups stored, cumulative
 */
import type { JobRecord } from "../vault/job-record.ts";
import type { RecoveryPoint } from "../vault/recovery-point.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Job states that mean something needs a look. */
export const BAD_STATES: ReadonlySet<string> = new Set(["FAILED", "ABORTED", "EXPIRED", "PARTIAL"]);

/** Jobs of one time window, counted by state. */
export interface JobWindow {
  label: string;
  since: string;
  total: number;
  byState: Record<string, number>;
}

/** One resource's standing. */
export interface ResourceStatus {
  resource: string;
  newestRp: string | null;
  newestAt: string | null;
  /** Seconds since the newest recovery point was created; null without one. */
  ageSeconds: number | null;
  lastState: string | null;
  lastJob: string | null;
  lastError: string | null;
}

/** The dashboard numbers of one vault. */
export interface VaultSummary {
  windows: JobWindow[];
  resources: ResourceStatus[];
  failures: Pick<JobRecord, "id" | "type" | "resource" | "state" | "created_at" | "error">[];
  recoveryPoints: number;
  /** Sum of the recovery points' logical sizes. */
  logicalBytes: number;
}

/** Summarizes a vault for the dashboard. */
export function summarizeVault(jobs: JobRecord[], rps: RecoveryPoint[], options: { now: Date }): VaultSummary {
  const { now } = options;
  const windows = [{ label: "24 h", ms: DAY }, { label: "7 d", ms: 7 * DAY }].map((w) => countWindow(jobs, w.label, new Date(now.getTime() - w.ms)));
  const since7d = new Date(now.getTime() - 7 * DAY).toISOString();
  const failures = jobs.filter((j) => BAD_STATES.has(j.state) && j.created_at >= since7d)
    .map((j) => ({ id: j.id, type: j.type, resource: j.resource, state: j.state, created_at: j.created_at, error: j.error }));
  return { windows, resources: resourceStatus(jobs, rps, now), failures, recoveryPoints: rps.length, logicalBytes: rps.reduce((s, r) => s + r.size_bytes, 0) };
}

function countWindow(jobs: JobRecord[], label: string, since: Date): JobWindow {
  const iso = since.toISOString();
  const byState: Record<string, number> = {};
  let total = 0;
  for (const j of jobs) {
    if (j.created_at < iso) continue;
    byState[j.state] = (byState[j.state] ?? 0) + 1;
    total++;
  }
  return { label, since: iso, total, byState };
}

function resourceStatus(jobs: JobRecord[], rps: RecoveryPoint[], now: Date): ResourceStatus[] {
  const rows = new Map<string, ResourceStatus>();
  const row = (resource: string) => {
    let r = rows.get(resource);
    if (!r) rows.set(resource, (r = { resource, newestRp: null, newestAt: null, ageSeconds: null, lastState: null, lastJob: null, lastError: null }));
    return r;
  };
  for (const rp of rps) {
    const r = row(rp.resource);
    if (r.newestAt === null || rp.created_at > r.newestAt) {
      r.newestAt = rp.created_at;
      r.newestRp = rp.id;
      r.ageSeconds = Math.max(0, Math.round((now.getTime() - Date.parse(rp.created_at)) / 1000));
    }
  }
  // jobs are newest first: the first backup job seen of a resource is its last.
  for (const j of jobs) {
    if (j.type !== "backup" || !j.resource) continue;
    const r = row(j.resource);
    if (r.lastJob !== null) continue;
    r.lastJob = j.id;
    r.lastState = j.state;
    r.lastError = j.error;
  }
  const bad = (r: ResourceStatus) => (r.lastState !== null && BAD_STATES.has(r.lastState)) || r.newestRp === null;
  return [...rows.values()].sort((a, b) => Number(bad(b)) - Number(bad(a)) || (b.ageSeconds ?? Infinity) - (a.ageSeconds ?? Infinity) || (a.resource < b.resource ? -1 : 1));
}

/** Columns of the chart: bucket start times (seconds) and a value per bucket for each series. */
export interface History {
  bucket: "hour" | "day";
  times: number[];
  storedBytes: number[];
  completed: number[];
  partial: number[];
  failed: number[];
}

/** Job outcomes per bucket and the bytes backups stored, cumulative, from the first job to now. */
export function jobHistory(jobs: JobRecord[], options: { now: Date; maxBuckets?: number }): History {
  const { now } = options;
  const max = options.maxBuckets ?? 90;
  const first = jobs.reduce((m, j) => Math.min(m, Date.parse(j.created_at)), now.getTime());
  const bucket = now.getTime() - first < 3 * DAY ? "hour" : "day";
  const size = bucket === "hour" ? HOUR : DAY;
  const end = Math.floor(now.getTime() / size) * size;
  // at least a day of hours or two weeks of days, so a young vault's chart has a time axis
  const least = bucket === "hour" ? 24 : 14;
  const start = Math.min(Math.max(Math.floor(first / size) * size, end - (max - 1) * size), end - (least - 1) * size);
  const n = (end - start) / size + 1;
  const h: History = { bucket, times: [], storedBytes: [], completed: [], partial: [], failed: [] };
  for (let i = 0; i < n; i++) {
    h.times.push((start + i * size) / 1000);
    h.storedBytes.push(0);
    h.completed.push(0);
    h.partial.push(0);
    h.failed.push(0);
  }
  let before = 0;
  for (const j of jobs) {
    const t = Date.parse(j.created_at);
    const i = Math.floor((t - start) / size);
    if (i < 0) {
      if (j.type === "backup") before += j.bytes_stored;
      continue;
    }
    if (i >= n) continue;
    if (j.type === "backup") h.storedBytes[i] += j.bytes_stored;
    if (j.state === "COMPLETED") h.completed[i]++;
    else if (j.state === "PARTIAL") h.partial[i]++;
    else if (BAD_STATES.has(j.state)) h.failed[i]++;
  }
  for (let i = 0; i < n; i++) h.storedBytes[i] += i === 0 ? before : h.storedBytes[i - 1];
  return h;
}
