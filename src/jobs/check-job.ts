/**
 * A check as a job, as restore-job.ts is a restore's: the shared vault lock, the job record,
 * the check, the outcome.
 *
 *   lock = acquireVaultLock(shared)          a prune cannot repack what check reads (which would
 *                                            look like damage); a vault this process cannot
 *                                            write: no lock, no job, one warning
 *   vault = withCurrentIndex(vault)          a damaged index file is check's to report, not a stop
 *   job RUNNING -> check -> COMPLETED | FAILED (damage found, or check threw)
 *   release the lock
 */
import { type CheckProgress, type CheckReport, check } from "../check/check.ts";
import type { StorageError } from "../storage/storage.ts";
import { acquireVaultLock } from "../vault/lock.ts";
import { type Vault, withCurrentIndex } from "../vault/vault.ts";
import { type JobWriter, createJobIfWritable } from "../vault/job-record.ts";

/** What a check job needs besides the vault. */
export interface CheckJobOptions {
  /** The vault's name in the plans, or its location (for the job record). */
  vaultName: string;
  /** Read a share of the packs whole (check.ts readData). */
  readData: false | { share: number };
  now: () => Date;
  settleMs?: number;
  signal?: AbortSignal;
  /** Told when the vault takes no lock because this process cannot write it. */
  onWarning?: (message: string) => void;
  /** Told once when the job record cannot be written (read-only credentials). */
  onReadOnly: (err: StorageError) => void;
  /** Started once the job is recorded, done when the check ends: progress of the check's phases. */
  startProgress?: () => { update(p: CheckProgress): void; done(): void };
}

/** What a check job found; `job` is null when nothing was recorded (a vault this process cannot write). */
export interface CheckJobResult {
  report: CheckReport;
  job: JobWriter | null;
}

/** Checks a vault (opened read-only) under the shared vault lock, recording the job. */
export async function runCheckJob(opened: Vault, options: CheckJobOptions): Promise<CheckJobResult> {
  const lock = await acquireVaultLock(opened, { purpose: "a check", exclusive: false, settleMs: options.settleMs, signal: options.signal, onReadOnly: options.onWarning });
  try {
    const vault = await withCurrentIndex(opened, { onIndexDamage: () => {} });
    const writer = lock.held ? await createJobIfWritable(vault, { type: "check", vault: options.vaultName, state: "RUNNING" }, { now: options.now(), onReadOnly: options.onReadOnly }) : null;
    await writer?.update({ started_at: options.now().toISOString() });
    const progress = options.startProgress?.();
    let report: CheckReport;
    try {
      report = await check(vault, { readData: options.readData, onProgress: progress?.update }).finally(() => progress?.done());
    } catch (err) {
      await writer?.update({ state: "FAILED", ended_at: options.now().toISOString(), error: (err as Error).message }).catch(() => {});
      throw err;
    }
    const damaged = report.problems.length > 0;
    await writer?.update({
      state: damaged ? "FAILED" : "COMPLETED",
      ended_at: options.now().toISOString(),
      bytes_read: report.bytesRead,
      error: damaged ? `${report.problems.length} problems found` : null,
      details: { recovery_points: report.recoveryPoints, trees: report.trees, blobs: report.blobs, packs: report.packs, packs_read: report.packsRead, problems: report.problems.slice(0, 100), unindexed_packs: report.unindexedPacks.length },
    });
    return { report, job: writer?.recorded ? writer : null };
  } finally {
    await lock.release().catch(() => {});
  }
}
