/**
 * What `efsbak run` does once the plans are loaded and the vaults opened (cli/run.ts parses
 * the arguments, opens the vaults and prints; the restore tests are cli/drill.ts's):
 *
 *   windowJobs            the job records that can change a decision (found through due marks,
 *                         else the window listed), dead RUNNING ones marked ABORTED first
 *   runDueBackups         per decision: skip; expire -> one EXPIRED job; start -> backup job
 *                         (a held lease: recorded FAILED, counted as blocked), then its copy actions
 *   runVaultLifecycle     the plans' vault lock adopted, then lifecycle; a held lock skips it
 *   runExitCode           1 any failure, else 4 a lease blocked a job, else 3 any PARTIAL/EXPIRED, else 0
 */
import { EfsbakError, LockedError } from "../errors.ts";
import type { BackupProgress } from "../backup/backup.ts";
import type { Plans, ResourceSpec, RuleSpec, VaultSpec } from "../plan/plans.ts";
import { type LifecycleResult, applyLifecycle } from "../prune/lifecycle.ts";
import { adoptPlanLock } from "../vault/vault-lock.ts";
import type { Vault } from "../vault/vault.ts";
import { runBackupJob } from "./backup-job.ts";
import { type Decision, type DueOccurrence, jobsSince } from "./due.ts";
import { type JobRecord, type NewJob, createJob, jobsForOccurrences, listJobEntries, listJobs } from "../vault/job-record.ts";
import { abortDeadJobs } from "../vault/stale-jobs.ts";

/** Where run's jobs say what they do (cli: the logger). */
export interface RunLog {
  verbose(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Jobs a step ended, and whether one failed or was blocked by a lease (the exit policy's inputs). */
export interface RunTally {
  jobs: JobRecord[];
  failed: boolean;
  blocked: boolean;
}

/**
 * The job records of one vault that can change this run's decisions: those of `occurrences`
 * (the vault's, found through their due marks), plus the window's listing where a mark is
 * missing (a vault written before due marks). Unless dryRun, a job whose process died (kill -9,
 * power loss) is marked ABORTED now, not left RUNNING forever.
 */
export async function windowJobs(vault: Vault, occurrences: DueOccurrence[], options: { plans: Plans; now: () => Date; dryRun: boolean; onAborted?: (job: JobRecord) => void }): Promise<JobRecord[]> {
  const found = await jobsForOccurrences(vault, occurrences);
  let entries = found.jobs;
  if (!found.complete) entries = [...entries, ...(await listJobEntries(vault, { since: jobsSince(options.plans, options.now()) }))];
  if (!options.dryRun) {
    const aborted = new Map((await abortDeadJobs(vault, entries, { now: options.now(), by: "run" })).map((j) => [j.id, j]));
    for (const j of aborted.values()) options.onAborted?.(j);
    entries = entries.map((e) => (aborted.has(e.record.id) ? { ...e, record: aborted.get(e.record.id)! } : e));
  }
  return entries.map((e) => e.record);
}

/** Records a job that was due but not started (its window passed): EXPIRED, ended now. */
export async function recordExpired(vault: Vault, job: Omit<NewJob, "state">, options: { now: () => Date; reason: string }): Promise<JobRecord> {
  const writer = await createJob(vault, { ...job, state: "EXPIRED" }, { now: options.now() });
  await writer.update({ ended_at: options.now().toISOString(), error: `Not started: ${options.reason}` });
  return writer.record;
}

/** Options of runDueBackups. */
export interface DueBackupsOptions {
  plans: Plans;
  /** Every vault a decision names, opened. */
  vaults: Map<string, Vault | null>;
  now: () => Date;
  signal?: AbortSignal;
  /** --concurrency, over each resource's own. */
  concurrency?: number;
  /** Large source files read past the page cache (BackupJobOptions.directReads). */
  directReads?: boolean;
  log: RunLog;
  /** How long a claim on the named vault settles. */
  settleMs(vaultName: string): number;
  /** Progress of one backup (cli: a progress line); done() once it ended, however. */
  progress?(vault: Vault, resource: ResourceSpec): Promise<{ update(p: BackupProgress): void; done(): void }>;
  /** The rule's copy actions, after a backup that stored a recovery point. */
  copy?(rule: RuleSpec, decision: Decision, rpId: string): Promise<RunTally>;
}

/** Carries out the backup decisions in order: EXPIRED records for missed ones, backup jobs (and their copies) for due ones. */
export async function runDueBackups(decisions: Decision[], options: DueBackupsOptions): Promise<RunTally> {
  const { plans, log } = options;
  const done: JobRecord[] = [];
  let failed = false;
  let blocked = false;
  for (const d of decisions) {
    const vault = options.vaults.get(d.vault)!;
    if (d.action === "skip") {
      log.verbose(`${d.plan}/${d.rule} ${d.resource}: ${d.reason}`);
      continue;
    }
    if (d.action === "expire") {
      done.push(await recordExpired(vault, { type: "backup", vault: d.vault, plan: d.plan, rule: d.rule, resource: d.resource, scheduledFor: d.scheduledFor }, { now: options.now, reason: d.reason }));
      log.warn(`${d.plan}/${d.rule} ${d.resource}: EXPIRED (${d.reason})`);
      continue;
    }
    const rule = plans.plans.find((p) => p.name === d.plan)!.rules.find((r) => r.name === d.rule)!;
    const res = plans.resources.get(d.resource)!;
    log.info(`${d.plan}/${d.rule}: backing up ${d.resource} (${d.reason})`);
    const progress = await options.progress?.(vault, res);
    try {
      const job = await runBackupJob(vault, { id: res.id, path: res.path, exclude: res.exclude, excludeIfPresent: res.excludeIfPresent, oneFileSystem: res.oneFileSystem, concurrency: options.concurrency ?? res.concurrency }, {
        vaultName: d.vault,
        now: options.now,
        plan: d.plan,
        rule: d.rule,
        scheduledFor: d.scheduledFor,
        tags: rule.recoveryPointTags,
        coldAfterMs: rule.coldAfterMs,
        deleteAfterMs: rule.deleteAfterMs,
        recordBlocked: true,
        deadline: d.scheduledFor ? new Date(d.scheduledFor.getTime() + rule.completionWindowMs) : null,
        signal: options.signal,
        directReads: options.directReads,
        settleMs: options.settleMs(d.vault),
        onProgress: progress?.update,
        onWarning: (m) => log.warn(`${d.resource}: ${m}`),
        hooks: [
          ...(rule.hooks ? [{ ...rule.hooks, from: `rule "${d.plan}/${d.rule}"` }] : []),
          ...(res.hooks ? [{ ...res.hooks, from: `resource "${res.id}"` }] : []),
        ],
      }).finally(() => progress?.done());
      done.push(job);
      if (rule.copyActions?.length && job.recovery_point && (job.state === "COMPLETED" || job.state === "PARTIAL") && options.copy) {
        const copies = await options.copy(rule, d, job.recovery_point);
        done.push(...copies.jobs);
        failed ||= copies.failed;
        blocked ||= copies.blocked;
      }
    } catch (err) {
      if (err instanceof LockedError) {
        blocked = true;
        log.error(`${d.plan}/${d.rule} ${d.resource}: ${err.message}`);
      } else {
        failed = true;
        log.error(`${d.plan}/${d.rule} ${d.resource}: backup failed: ${err instanceof EfsbakError ? err.message : (err as Error)?.message}`);
      }
      // The record the job left (FAILED, blocked or not), for the summary.
      const latest = (await listJobs(vault, { type: "backup", resource: d.resource }))[0];
      if (latest) done.push(latest);
    }
  }
  return { jobs: done, failed, blocked };
}

/** What lifecycle did on one vault: applied, skipped (a prune or deletion held the lock), or failed. */
export type VaultLifecycleOutcome = { result: LifecycleResult } | { skipped: true } | { failed: true };

/**
 * Lifecycle on one vault at the end of a run: `open` reopens it (the backups added index files
 * the run's vault object has not read; null: nothing to apply, such as a copy target no copy
 * has made yet). A lock in the plans stricter than the vault's goes into the vault first.
 */
export async function runVaultLifecycle(name: string, open: () => Promise<Vault | null>, options: { spec?: VaultSpec; now: () => Date; minPackAgeMs?: number; settleMs: number; signal?: AbortSignal; log: RunLog }): Promise<VaultLifecycleOutcome | null> {
  const { spec, log } = options;
  try {
    const fresh = await open();
    if (!fresh) return null;
    if (spec?.lock) {
      // So every prune from anywhere enforces it; a looser one never loosens the vault's.
      const adopted = await adoptPlanLock(fresh, spec.lock, { now: options.now() });
      if (adopted.changed) log.warn(`${name}: vault lock tightened from the plans (${spec.file}): it is stored in the vault now, and can never be loosened`);
      if (adopted.looser) log.warn(`${name}: the plans' vault lock is looser than the one stored in the vault; the vault's applies (see "efsbak vault lock --vault ${name}")`);
    }
    const result = await applyLifecycle(fresh, { vaultName: name, now: options.now, lock: spec?.lock, minPackAgeMs: options.minPackAgeMs, jobRetentionMs: spec?.jobRetentionMs, settleMs: options.settleMs, signal: options.signal });
    return { result };
  } catch (err) {
    if (err instanceof LockedError) {
      log.warn(`${name}: lifecycle skipped this time: ${err.message}`);
      return { skipped: true };
    }
    log.error(`${name}: lifecycle failed: ${err instanceof EfsbakError ? err.message : (err as Error)?.message}`);
    return { failed: true };
  }
}

/** run's exit status: 1 any failure, else 4 a lease blocked a job, else 3 any PARTIAL or EXPIRED job, else 0. */
export function runExitCode(tally: RunTally): 0 | 1 | 3 | 4 {
  const partial = tally.jobs.some((j) => j.state === "PARTIAL" || j.state === "EXPIRED");
  return tally.failed ? 1 : tally.blocked ? 4 : partial ? 3 : 0;
}
