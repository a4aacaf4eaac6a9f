/**
 * Applying lifecycle decisions to a vault: deleting recovery points whose time has come.
 * Runs under the vault's exclusive lock (locks/), so it never races another prune, and
 * records a prune job. Deleting a recovery point removes only its rps/ object: the data it
 * alone used becomes garbage for the collector (TODO(#6): cold tier moves and garbage
 * collection).
 */
import { createJob, type JobRecord } from "../jobs/job.ts";
import { acquireLease } from "../jobs/lock.ts";
import { objectKey } from "../vault/layout.ts";
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import { type LifecycleDecision, type VaultLock, planLifecycle } from "./policy.ts";

/** Options of a lifecycle pass. */
export interface LifecycleOptions {
  vaultName: string;
  now: () => Date;
  lock?: VaultLock;
  dryRun?: boolean;
  settleMs?: number;
}

/** What a lifecycle pass decided and did. */
export interface LifecycleResult {
  decisions: LifecycleDecision[];
  deleted: string[];
  job: JobRecord | null;
}

/** Plans lifecycle for the vault and, unless dry-run, deletes what is due. */
export async function applyLifecycle(vault: Vault, options: LifecycleOptions): Promise<LifecycleResult> {
  const rps = await listRecoveryPoints(vault);
  const decisions = planLifecycle(rps, { now: options.now(), lock: options.lock });
  const deletions = decisions.filter((d) => d.action === "delete");
  if (options.dryRun || deletions.length === 0) return { decisions, deleted: [], job: null };
  const lease = await acquireLease(vault.storage, "locks/", { purpose: "a prune", what: "lifecycle", exclusive: true, settleMs: options.settleMs });
  try {
    const job = await createJob(vault, { type: "prune", vault: options.vaultName, state: "RUNNING" }, { now: options.now() });
    await job.update({ started_at: options.now().toISOString() });
    const deleted: string[] = [];
    try {
      for (const d of deletions) {
        await vault.storage.remove(objectKey("rps", d.rp));
        deleted.push(d.rp);
      }
    } catch (err) {
      await job.update({ state: "FAILED", ended_at: options.now().toISOString(), error: (err as Error).message, details: { deleted } }).catch(() => {});
      throw err;
    }
    await job.update({ state: "COMPLETED", ended_at: options.now().toISOString(), details: { deleted, decisions } });
    return { decisions, deleted, job: job.record };
  } finally {
    await lease.release().catch(() => {});
  }
}
