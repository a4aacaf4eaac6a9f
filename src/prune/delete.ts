/**
 * Deleting recovery points by hand (`efsbak recovery-points delete`).
 *
 *   planDelete (pure): each named recovery point -> delete, or refused with the date the
 *                      vault lock's min_retention lets it go (policy.ts lockedUntil)
 *   any refused -> EfsbakError (exit 1) naming each with its date; nothing is deleted
 *   --dry-run   -> the plan, nothing changed
 *   else, under the vault's exclusive lock (as prune takes it), recorded as a prune job with
 *   details.manual: plan again from the vault as it is now, then remove rps/<id> and
 *   lifecycle/<id>. Data is not touched: the next prune's garbage collection reclaims the
 *   blobs no other recovery point uses (its safety age applies as always).
 */
import { EfsbakError } from "../errors.ts";
import { createJob, type JobRecord } from "../vault/job-record.ts";
import { acquireVaultLock } from "../vault/lock.ts";
import { objectKey } from "../vault/layout.ts";
import { listRecoveryPoints, type RecoveryPoint } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import { lockedUntil, type VaultLock } from "./policy.ts";

/** What happens to one named recovery point. */
export interface DeleteDecision {
  rp: string;
  resource: string;
  created_at: string;
  action: "delete" | "refused";
  reason: string;
  /** When the vault lock lets it go (refused only). */
  deletable_at: string | null;
}

/** Decides, for each recovery point, whether it may be deleted now. */
export function planDelete(rps: RecoveryPoint[], options: { now: Date; lock?: VaultLock }): DeleteDecision[] {
  return rps.map((rp) => {
    const until = lockedUntil(rp, options);
    const base = { rp: rp.id, resource: rp.resource, created_at: rp.created_at };
    return until
      ? { ...base, action: "refused", reason: `the vault lock's min_retention keeps it until ${until.toISOString()}`, deletable_at: until.toISOString() }
      : { ...base, action: "delete", reason: "deleted by hand", deletable_at: null };
  });
}

/** Options of a manual deletion. */
export interface DeleteOptions {
  vaultName: string;
  now: () => Date;
  lock?: VaultLock;
  dryRun?: boolean;
  settleMs?: number;
}

/** What a manual deletion decided and did. */
export interface DeleteResult {
  decisions: DeleteDecision[];
  deleted: string[];
  job: JobRecord | null;
}

function refusal(decisions: DeleteDecision[]): EfsbakError | null {
  const refused = decisions.filter((d) => d.action === "refused");
  if (refused.length === 0) return null;
  const list = refused.map((d) => `${d.rp} until ${d.deletable_at}`).join(", ");
  const message = refused.length === 1
    ? `Cannot delete recovery point "${refused[0]!.rp}": the vault lock's min_retention keeps it until ${refused[0]!.deletable_at}`
    : `Cannot delete ${refused.length} recovery points: the vault lock's min_retention keeps them (${list})`;
  return new EfsbakError(message, { exitCode: 1, hint: `nothing was deleted; ${refused.length === 1 ? "it becomes deletable on" : "all become deletable by"} ${refused.map((d) => d.deletable_at).sort().at(-1)}, or leave ${refused.length === 1 ? "it" : "them"} out to delete the others` });
}

/** Deletes the given recovery points now, unless the vault lock refuses any of them. */
export async function deleteRecoveryPoints(vault: Vault, rps: RecoveryPoint[], options: DeleteOptions): Promise<DeleteResult> {
  let decisions = planDelete(rps, { now: options.now(), lock: options.lock });
  const refused = refusal(decisions);
  if (refused) throw refused;
  if (options.dryRun) return { decisions, deleted: [], job: null };

  const lease = await acquireVaultLock(vault, { purpose: "a deletion of recovery points", exclusive: true, settleMs: options.settleMs });
  try {
    // Plan again under the lock: another prune may have deleted some meanwhile.
    const present = new Map((await listRecoveryPoints(vault)).map((r) => [r.id, r]));
    const gone = rps.filter((r) => !present.has(r.id)).map((r) => r.id);
    if (gone.length > 0) throw new EfsbakError(`Cannot delete recovery point "${gone[0]}": it is no longer in the vault`, { exitCode: 1, hint: "another prune or deletion removed it; nothing was deleted" });
    decisions = planDelete(rps.map((r) => present.get(r.id)!), { now: options.now(), lock: options.lock });
    const again = refusal(decisions);
    if (again) throw again;
    const job = await createJob(vault, { type: "prune", vault: options.vaultName, state: "RUNNING" }, { now: options.now() });
    await job.update({ started_at: options.now().toISOString() });
    const deleted: string[] = [];
    try {
      for (const d of decisions) {
        await vault.storage.remove(objectKey("rps", d.rp));
        await vault.storage.remove(objectKey("lifecycle", d.rp));
        deleted.push(d.rp);
      }
      await job.update({ state: "COMPLETED", ended_at: options.now().toISOString(), details: { manual: true, deleted, decisions } });
      return { decisions, deleted, job: job.record };
    } catch (err) {
      await job.update({ state: "FAILED", ended_at: options.now().toISOString(), error: (err as Error).message, details: { manual: true, deleted } }).catch(() => {});
      throw err;
    }
  } finally {
    await lease.release().catch(() => {});
  }
}
