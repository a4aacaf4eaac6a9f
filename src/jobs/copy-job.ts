/**
 * A copy as a job: locks in both vaults, a COPY job recorded in both, the copy, the outcome.
 *
 *   source:       the vault lock, shared (a prune there waits while this reads)
 *   destination:  the resource's lease (no backup or other copy of that resource at the same
 *                 time) + the vault lock, shared
 *   both vaults:  job PENDING -> RUNNING -> COPY -> COMPLETED | FAILED (`copy` type; the
 *                 source's names the destination in details.to, the destination's details.from)
 *   release every claim
 */
import { EfsbakError } from "../errors.ts";
import { type CopyProgress, type CopyResult, copyRecoveryPoint } from "../copy/copy.ts";
import { acquireResourceLease, acquireVaultLock, type Lease } from "../vault/lock.ts";
import type { RecoveryPoint } from "../vault/recovery-point.ts";
import { type Vault, withCurrentIndex } from "../vault/vault.ts";
import { type JobRecord, type JobWriter, createJob, listJobEntries } from "../vault/job-record.ts";
import { abortDeadJobs } from "../vault/stale-jobs.ts";

/** What a copy job needs besides the two vaults. */
export interface CopyJobOptions {
  /** Names of the vaults (in the plans, or their locations), for job records. */
  fromName: string;
  toName: string;
  /** Picks the recovery point once the source's current index and recovery points are known. */
  pick(vault: Vault): Promise<RecoveryPoint>;
  deleteAfterMs?: number;
  coldAfterMs?: number;
  now: () => Date;
  settleMs?: { from?: number; to?: number };
  signal?: AbortSignal;
  onProgress?: (p: CopyProgress) => void;
  onWarning?: (message: string) => void;
}

/** What a copy job did. */
export interface CopyJobResult {
  result: CopyResult;
  /** The job records: in the source and in the destination. */
  jobs: { from: JobRecord; to: JobRecord };
  seconds: number;
}

/** Copies a recovery point from one vault into another, as a job in both. */
export async function runCopyJob(from: Vault, to: Vault, options: CopyJobOptions): Promise<CopyJobResult> {
  const leases: Lease[] = [];
  try {
    leases.push(await acquireVaultLock(from, { purpose: `a copy to "${options.toName}"`, exclusive: false, settleMs: options.settleMs?.from, signal: options.signal }));
    const src = await withCurrentIndex(from);
    const rp = await options.pick(src);
    const lease = await acquireResourceLease(to, rp.resource, { purpose: `a copy of "${rp.resource}" from "${options.fromName}"`, settleMs: options.settleMs?.to, signal: options.signal });
    leases.push(lease);
    leases.push(await acquireVaultLock(to, { purpose: `a copy from "${options.fromName}"`, exclusive: false, settleMs: options.settleMs?.to, signal: options.signal }));
    const dst = await withCurrentIndex(to);
    // A copy killed before left its jobs RUNNING (and its lease, now recovered): mark them ABORTED.
    if (lease.recovered) {
      for (const v of [src, dst]) {
        const open = await listJobEntries(v, { type: "copy", resource: rp.resource });
        for (const j of await abortDeadJobs(v, open, { now: options.now(), by: `the next copy of "${rp.resource}"` })) {
          options.onWarning?.(`Job ${j.id} (a copy of "${rp.resource}" started ${j.started_at ?? j.created_at}) marked ABORTED: its process ended without finishing it`);
        }
      }
    }
    const fields = { type: "copy" as const, resource: rp.resource, plan: rp.plan, rule: rp.rule, state: "PENDING" as const };
    const jobs: JobWriter[] = [
      await createJob(src, { ...fields, vault: options.fromName }, { now: options.now() }),
      await createJob(dst, { ...fields, vault: options.toName }, { now: options.now() }),
    ];
    const started = { state: "RUNNING" as const, started_at: options.now().toISOString(), recovery_point: rp.id };
    await jobs[0].update({ ...started, details: { to: options.toName } });
    await jobs[1].update({ ...started, details: { from: options.fromName } });
    const t0 = performance.now();
    let result: CopyResult;
    try {
      result = await copyRecoveryPoint(src, dst, rp, { jobId: jobs[1].record.id, deleteAfterMs: options.deleteAfterMs, coldAfterMs: options.coldAfterMs, signal: options.signal, onProgress: options.onProgress });
    } catch (err) {
      const message = err instanceof EfsbakError ? err.message : `internal error: ${(err as Error)?.message ?? String(err)}`;
      const failed = { state: "FAILED" as const, ended_at: options.now().toISOString(), error: message };
      await Promise.allSettled(jobs.map((j) => j.update(failed)));
      throw err;
    }
    const details = {
      rehashed: result.rehashed,
      already: result.already,
      blobs_copied: result.stats.blobsCopied,
      blobs_present: result.stats.blobsPresent,
      bytes_sent: result.stats.bytesSent,
      packs: result.stats.packs,
      adopted_packs: result.adoptedPacks,
    };
    const ended = { state: "COMPLETED" as const, ended_at: options.now().toISOString(), files: result.files, bytes_read: result.bytesRead, bytes_new: result.stats.bytesNew, bytes_stored: result.stats.bytesSent };
    await jobs[0].update({ ...ended, details: { to: options.toName, ...details } });
    await jobs[1].update({ ...ended, details: { from: options.fromName, ...details } });
    return { result, jobs: { from: jobs[0].record, to: jobs[1].record }, seconds: (performance.now() - t0) / 1000 };
  } finally {
    for (const l of leases.reverse()) await l.release().catch(() => {});
  }
}
