/**
 * A restore as a job: the shared vault lock, the job record, the restore, the outcome, one
 * place for the CLI (cli/restore.ts) and the console (console/restore-task.ts).
 *
 *   lock = acquireVaultLock(shared)          a prune waits or is refused while this reads;
 *                                            a vault this process cannot write: no lock, no job
 *   vault = withCurrentIndex(vault)          a prune that ran just before may have repacked
 *   job PENDING -> RUNNING -> restore -> COMPLETED | PARTIAL (fragments) | FAILED
 *   release the lock
 *
 * Where a directory listing is lost, its version in another recovery point of the resource can
 * be salvaged: the others are offered nearest in time first.
 */
import { EfsbakError } from "../errors.ts";
import { type RestoreProgress, type RestoreResult, restore } from "../restore/restore.ts";
import { acquireVaultLock } from "../vault/lock.ts";
import type { RecoveryPoint } from "../vault/recovery-point.ts";
import { type Vault, withCurrentIndex } from "../vault/vault.ts";
import { type JobWriter, createJobIfWritable } from "../vault/job-record.ts";

/** What a restore job needs besides the vault. */
export interface RestoreJobOptions {
  /** The vault's name in the plans, or its location (for the job record). */
  vaultName: string;
  /** Picks the recovery point once the vault's current index and recovery points are known. */
  pick(vault: Vault): Promise<{ rp: RecoveryPoint; rps: RecoveryPoint[] }>;
  /** The target directory for the recovery point (absolute). */
  target(rp: RecoveryPoint): string;
  include?: string[];
  /** Directories restored at once and pack loads in flight (restore.ts, default 16). */
  concurrency?: number;
  chown: boolean;
  now: () => Date;
  settleMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: RestoreProgress) => void;
  onWarning?: (message: string) => void;
  /** Called with the job record's id once it exists. */
  onJob?: (jobId: string) => void;
}

/** What a restore job did; `job` is null when the vault could not be written (read-only use). */
export interface RestoreJobResult {
  rp: RecoveryPoint;
  result: RestoreResult;
  job: JobWriter | null;
  seconds: number;
}

/** Restores a recovery point under the shared vault lock, recording the job. */
export async function runRestoreJob(opened: Vault, options: RestoreJobOptions): Promise<RestoreJobResult> {
  const lock = await acquireVaultLock(opened, { purpose: "a restore", exclusive: false, settleMs: options.settleMs, signal: options.signal, onReadOnly: options.onWarning });
  try {
    const vault = await withCurrentIndex(opened);
    const { rp, rps } = await options.pick(vault);
    const at = Date.parse(rp.created_at);
    const others = rps.filter((r) => r.resource === rp.resource && r.id !== rp.id).sort((a, b) => Math.abs(Date.parse(a.created_at) - at) - Math.abs(Date.parse(b.created_at) - at));
    // A vault that takes the lock but not the job record (jobs/ read-only): said once, not recorded.
    const writer = lock.held
      ? await createJobIfWritable(vault, { type: "restore", vault: options.vaultName, resource: rp.resource, plan: rp.plan, rule: rp.rule, state: "PENDING" }, {
        now: options.now(),
        onReadOnly: (err) => options.onWarning?.(`Vault "${options.vaultName}" is read-only for this user: this restore goes on, but is not recorded as a job (${err.message})`),
      })
      : null;
    const job = writer?.recorded ? writer : null;
    if (job) options.onJob?.(job.record.id);
    await job?.update({ state: "RUNNING", started_at: options.now().toISOString(), recovery_point: rp.id });
    const t0 = performance.now();
    let result: RestoreResult;
    try {
      result = await restore(vault, rp, options.target(rp), { now: options.now(), include: options.include, concurrency: options.concurrency, chown: options.chown, onProgress: options.onProgress, onWarning: options.onWarning, signal: options.signal, others });
    } catch (err) {
      const message = err instanceof EfsbakError ? err.message : `internal error: ${(err as Error)?.message ?? String(err)}`;
      await job?.update({ state: "FAILED", ended_at: options.now().toISOString(), error: message }).catch(() => {});
      throw err;
    }
    const partial = result.fragments.length > 0;
    await job?.update({
      state: partial ? "PARTIAL" : "COMPLETED",
      ended_at: options.now().toISOString(),
      files: result.files,
      bytes_read: result.bytes,
      warnings: result.warnings,
      restore_dir: result.restoreDir,
      fragments: result.fragments.length,
    });
    return { rp, result, job, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await lock.release().catch(() => {});
  }
}
