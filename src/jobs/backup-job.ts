/**
 * A backup job: the lease, the job record and the backup itself, in the right order.
 *
 *   take the resource's lease (blocked: LockedError; a scheduled job records FAILED first)
 *   job CREATED -> RUNNING
 *   before hooks (jobs/hooks.ts); one fails: FAILED, nothing read
 *   parent = newest recovery point of the resource
 *   backup() -> recovery point
 *   job COMPLETED; PARTIAL when it stopped early (RP PARTIAL, resumed next time) or skipped
 *     entries it could not read (RP AVAILABLE; the job lists them: "Completed with issues");
 *     FAILED with the error; after hooks see the outcome, then it is written; lease released
 *
 * Used by `efsbak backup` and by `efsbak run`, so both behave the same.
 */
import { EfsbakError, LockedError } from "../errors.ts";
import { backup, type BackupProgress } from "../backup/backup.ts";
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import { type Vault, openVault, withCurrentIndex } from "../vault/vault.ts";
import { createJob, listJobEntries, type JobRecord } from "../vault/job-record.ts";
import { abortDeadJobs } from "../vault/stale-jobs.ts";
import { type HookRecord, type HookSet, runAfterHooks, runBeforeHooks } from "./hooks.ts";
import { acquireResourceLease, acquireVaultLock, type Lease } from "../vault/lock.ts";

/** The resource to back up. */
export interface BackupSource {
  id: string;
  path: string;
  exclude?: string[];
  excludeIfPresent?: string[];
  oneFileSystem?: boolean;
  /** File system requests in flight (the resource's `concurrency`, or --concurrency). */
  concurrency?: number;
}

/** Options of a backup job. */
export interface BackupJobOptions {
  /** Vault name (or location) as the user knows it, recorded on the job. */
  vaultName: string;
  /** The plan clock (moves with --now). */
  now: () => Date;
  plan?: string | null;
  rule?: string | null;
  scheduledFor?: Date | null;
  tags?: Record<string, string>;
  coldAfterMs?: number;
  deleteAfterMs?: number;
  /** End of the completion window (plan clock): the backup stops there and is kept PARTIAL. */
  deadline?: Date | null;
  /** Stops the backup cleanly (SIGTERM, Ctrl-C): kept PARTIAL, resumed next time. */
  signal?: AbortSignal;
  /** Record a FAILED job when the lease is held (scheduled runs), instead of touching nothing. */
  recordBlocked?: boolean;
  settleMs?: number;
  onProgress?: (p: BackupProgress) => void;
  onWarning?: (message: string) => void;
  workers?: number;
  /** Large source files read past the page cache where the file system takes it (default true; cli: EFSBAK_DIRECT_IO=0 sets false). */
  directReads?: boolean;
  /** Hooks around the backup, outermost first (the rule's, then the resource's). */
  hooks?: HookSet[];
}

/** Runs one backup job and returns its final record. Throws LockedError when blocked. */
export async function runBackupJob(vault: Vault, source: BackupSource, options: BackupJobOptions): Promise<JobRecord> {
  const jobFields = { type: "backup" as const, vault: options.vaultName, plan: options.plan, rule: options.rule, resource: source.id, scheduledFor: options.scheduledFor };
  // The resource's lease (one backup per resource) and a shared claim on the vault (prune,
  // exclusive, waits while backups run), taken together: each claim settles for a moment.
  const purpose = `a backup of "${source.id}"`;
  const claims = await Promise.allSettled([
    acquireResourceLease(vault, source.id, { purpose, settleMs: options.settleMs }),
    acquireVaultLock(vault, { purpose, exclusive: false, settleMs: options.settleMs }),
  ]);
  const refused = claims.find((c): c is PromiseRejectedResult => c.status === "rejected");
  if (refused) {
    for (const c of claims) if (c.status === "fulfilled") await c.value.release().catch(() => {});
    const err = refused.reason;
    if (err instanceof LockedError && options.recordBlocked) {
      const job = await createJob(vault, { ...jobFields, state: "FAILED" }, { now: options.now() });
      await job.update({ ended_at: options.now().toISOString(), error: err.message });
    }
    throw err;
  }
  const [lease, shared] = claims.map((c) => (c as PromiseFulfilledResult<Lease>).value);
  let leaveClaim = false;
  try {
    // A claim nobody released: the backup that held it died. Its job says RUNNING until
    // someone says otherwise; we are the next job that finds it.
    if (lease.recovered) {
      const open = await listJobEntries(vault, { type: "backup", resource: source.id });
      for (const j of await abortDeadJobs(vault, open, { now: options.now(), by: `the next backup of "${source.id}"` })) {
        options.onWarning?.(`Job ${j.id} (a backup of "${source.id}" started ${j.started_at ?? j.created_at}) marked ABORTED: its process ended without finishing it`);
      }
    }
    const job = await createJob(vault, jobFields, { now: options.now() });
    const started = options.now();
    await job.update({ state: "RUNNING", started_at: started.toISOString() });
    const stop = new AbortController();
    let stopReason = "";
    const onAbort = () => {
      stopReason = "stopped on request";
      stop.abort();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const hookSets = options.hooks ?? [];
    const hookContext = { jobId: job.record.id, resource: source.id, path: source.path, plan: options.plan, rule: options.rule, vault: options.vaultName };
    const hooks: HookRecord[] = [];
    // The final state, once the after hooks have seen it (their records and warnings go with it).
    const finish = async (patch: Partial<JobRecord>) => {
      const after = await runAfterHooks(hookSets, { ...hookContext, state: patch.state, recoveryPoint: patch.recovery_point, error: patch.error });
      for (const w of after.warnings) options.onWarning?.(w);
      hooks.push(...after.records);
      const warnings = [...(patch.warnings ?? job.record.warnings), ...after.warnings];
      await job.update({ ...patch, ended_at: options.now().toISOString(), warnings, ...(hooks.length > 0 ? { hooks } : {}) });
    };
    const timer = options.deadline ? setTimeout(() => {
      stopReason = `stopped at the end of the completion window (${options.deadline!.toISOString()})`;
      stop.abort();
    }, Math.max(0, options.deadline.getTime() - options.now().getTime())) : null;
    try {
      const before = await runBeforeHooks(hookSets, hookContext, { signal: stop.signal });
      hooks.push(...before.records);
      if (before.failed) throw before.failed;
      // A damaged recovery point (check names it) must not stop every later backup: it is
      // passed over as a parent, and the job says so.
      const ignored: string[] = [];
      const rps = await listRecoveryPoints(vault, {
        onDamage: (err) => {
          ignored.push(`Ignored a damaged recovery point: ${err.message}`);
          options.onWarning?.(ignored.at(-1)!);
        },
      });
      const parent = rps.filter((r) => r.resource === source.id && (r.status === "AVAILABLE" || r.status === "PARTIAL")).at(-1) ?? null;
      const result = await backup(await withCurrentIndex(vault), source.path, {
        resource: source.id,
        now: started,
        jobId: job.record.id,
        parent,
        plan: options.plan,
        rule: options.rule,
        tags: options.tags,
        coldAfterMs: options.coldAfterMs,
        deleteAfterMs: options.deleteAfterMs,
        exclude: source.exclude,
        excludeIfPresent: source.excludeIfPresent,
        oneFileSystem: source.oneFileSystem,
        // A local vault (and its cold tier) inside the source is never backed up into itself.
        leaveOut: [vault.storage.location, vault.cold.location].filter((l) => l.startsWith("/")),
        concurrency: source.concurrency,
        onProgress: options.onProgress,
        onWarning: options.onWarning,
        workers: options.workers,
        directReads: options.directReads,
        // Only after a crash can packs be in the vault that no index names: looking for them
        // lists every pack, which a large vault should not pay on every run.
        adopt: lease.recovered || shared.recovered,
        // Packs stored but not indexed: leave our claim as a crash would, so that the next
        // backup of this resource finds it dead and adopts them.
        onUnindexed: () => void (leaveClaim = true),
        signal: stop.signal,
      });
      const rp = result.rp;
      const stopped = rp.status === "PARTIAL";
      const skipped = result.skipped.length;
      const issues = skipped > 0 ? `Completed with issues: ${skipped} ${skipped === 1 ? "entry" : "entries"} skipped` : null;
      await finish({
        state: stopped || skipped > 0 ? "PARTIAL" : "COMPLETED",
        files: rp.files,
        bytes_read: result.bytesRead,
        bytes_new: rp.bytes_new,
        bytes_stored: rp.bytes_stored,
        warnings: [...ignored, ...result.warnings],
        inconsistent: rp.inconsistent,
        recovery_point: rp.id,
        ...(skipped > 0 ? { skipped: result.skipped, skipped_count: skipped } : {}),
        error: stopped ? `${stopReason || "stopped"}: recovery point ${rp.id} is PARTIAL; the next backup resumes from it${issues ? `; ${issues}` : ""}` : issues,
      });
      return job.record;
    } catch (err) {
      const message = err instanceof EfsbakError ? err.message : `internal error: ${(err as Error)?.message ?? String(err)}`;
      await finish({ state: "FAILED", error: message }).catch(() => {});
      throw err;
    } finally {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
  } finally {
    await shared.release().catch(() => {});
    if (leaveClaim) lease.abandon();
    else await lease.release().catch(() => {});
  }
}
