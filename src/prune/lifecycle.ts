/**
 * Lifecycle and garbage collection of a vault, as `run` (every time) and `prune` do them.
 *
 *   rps + marks -> planLifecycle (pure) -> delete | cold | expired, with reasons
 *   references of what stays (trees only; cold-only data marked) -> planGc (pure)
 *   --dry-run: return both plans, change nothing
 *   else, under the vault's exclusive lock, recorded as a prune job:
 *     mark cold recovery points (lifecycle/<id>), delete recovery points (rps/<id>),
 *     then executeGc: repack, new index, delete what no one uses
 *     then housekeeping.ts: dead jobs ABORTED, old job records, temp-file leftovers
 *
 * Deciding reads metadata only (index, trees, recovery points), never data; repacking reads
 * only the warm packs it must.
 */
import { createJob, type JobRecord } from "../vault/job-record.ts";
import { acquireVaultLock } from "../vault/lock.ts";
import { idOfKey, objectKey } from "../vault/layout.ts";
import { listLifecycleMarks, listRecoveryPoints, markCold } from "../vault/recovery-point.ts";
import { type Vault, openVault } from "../vault/vault.ts";
import { executeGc, planGc, type GcPlan, type GcProgress, type GcResult } from "./gc.ts";
import { type LifecycleDecision, type VaultLock, planLifecycle } from "./policy.ts";
import { collectReferences } from "./references.ts";
import { readVaultLock, strongerLock } from "../vault/vault-lock.ts";
import { executeHousekeeping, planHousekeeping, type HousekeepingPlan, type HousekeepingResult } from "./housekeeping.ts";

/** Indexed packs younger than this (by storage time, real clock) are never deleted or repacked. */
export const GC_MIN_PACK_AGE_MS = 60 * 60 * 1000;

/**
 * Temp files are never removed younger than this, whatever the pack safety age (tests and
 * drills set it to 0): a save running right now may be writing them.
 */
export const TEMP_MIN_AGE_MS = 5 * 60 * 1000;

/** Options of a lifecycle pass. */
export interface LifecycleOptions {
  vaultName: string;
  /** The plan clock (lifecycle dates). */
  now: () => Date;
  /** The real clock (pack ages); never the simulated one. */
  realNow?: () => number;
  /** The plans' lock; the lock stored in the vault applies too (the stronger of both wins). */
  lock?: VaultLock;
  dryRun?: boolean;
  /** Collect garbage even when no recovery point changed (prune does; run only after changes). */
  alwaysGc?: boolean;
  minPackAgeMs?: number;
  /** Finished job records older than this are removed (default JOB_RETENTION_MS, vault/job-record.ts). */
  jobRetentionMs?: number;
  settleMs?: number;
  signal?: AbortSignal;
  /** Progress: trees marked (total unknown), then packs repacked and deleted. */
  onProgress?: (p: LifecycleProgress) => void;
}

/** Progress of a lifecycle pass. */
export type LifecycleProgress = GcProgress | { phase: "marking"; done: number; total: number; bytes?: undefined };

/** What a lifecycle pass decided and did. */
export interface LifecycleResult {
  decisions: LifecycleDecision[];
  deleted: string[];
  movedCold: string[];
  gc: GcPlan | null;
  gcDone: GcResult | null;
  job: JobRecord | null;
  /** Jobs, job records and leftovers to tidy (null when the pass did not get that far). */
  housekeeping: HousekeepingPlan | null;
  housekept: HousekeepingResult | null;
}

/** Plans lifecycle and GC for the vault and, unless dry-run, carries them out. */
export async function applyLifecycle(vault: Vault, options: LifecycleOptions): Promise<LifecycleResult> {
  // What to do, from a picture of the vault: read again under the lock before acting.
  const decide = async (v: Vault) => {
    const rps = await listRecoveryPoints(v);
    const marks = await listLifecycleMarks(v);
    const cold = new Set([...marks.keys()]);
    // The lock stored in the vault binds every prune, whatever plans (if any) this one read.
    const lock = strongerLock(await readVaultLock(v), options.lock);
    const decisions = planLifecycle(rps, { now: options.now(), lock, cold });
    const deleting = new Set(decisions.filter((d) => d.action === "delete").map((d) => d.rp));
    const cooling = new Set(decisions.filter((d) => d.action === "cold").map((d) => d.rp));
    return { v, rps, cold, decisions, deleting, cooling };
  };
  let { v, rps, cold, decisions, deleting, cooling } = await decide(vault);
  const changes = deleting.size + cooling.size > 0;
  if (!changes && !options.alwaysGc) return { decisions, deleted: [], movedCold: [], gc: null, gcDone: null, job: null, housekeeping: null, housekept: null };
  const housekeepingOptions = () => ({ now: options.now(), realNow: (options.realNow ?? Date.now)(), jobRetentionMs: options.jobRetentionMs, minTempAgeMs: Math.max(options.minPackAgeMs ?? GC_MIN_PACK_AGE_MS, TEMP_MIN_AGE_MS) });

  const planFor = async () => {
    const roots = rps.filter((r) => !deleting.has(r.id)).map((r) => ({ tree: r.tree, cold: cold.has(r.id) || cooling.has(r.id) }));
    const refs = await collectReferences(v, roots, { onTree: (n) => options.onProgress?.({ phase: "marking", done: n, total: 0 }) });
    const ages = await packAges(v, options.realNow ?? Date.now);
    const gc = planGc(v.index, refs, { packAgeMs: (id) => ages.get(id), minAgeMs: options.minPackAgeMs ?? GC_MIN_PACK_AGE_MS });
    return { refs, gc };
  };

  if (options.dryRun) {
    const { gc } = await planFor();
    return { decisions, deleted: [], movedCold: [], gc, gcDone: null, job: null, housekeeping: await planHousekeeping(vault, housekeepingOptions()), housekept: null };
  }

  const lease = await acquireVaultLock(vault, { purpose: "a prune", exclusive: true, settleMs: options.settleMs, signal: options.signal });
  try {
    const job = await createJob(vault, { type: "prune", vault: options.vaultName, state: "RUNNING" }, { now: options.now() });
    await job.update({ started_at: options.now().toISOString() });
    const deleted: string[] = [];
    const movedCold: string[] = [];
    try {
      // Plan under the lock, from the vault as it is now: a backup that ended before the lock
      // was taken may have written recovery points and index files after `vault` was opened,
      // using data that the older picture would take for garbage.
      ({ v, rps, cold, decisions, deleting, cooling } = await decide(await openVault(vault.storage, { cold: vault.cold, config: vault.config, keys: vault.keys })));
      const { refs, gc } = await planFor();
      for (const id of cooling) {
        await markCold(vault, id, options.now());
        movedCold.push(id);
      }
      // Recovery points go before their data: a crash in between leaves garbage, never a
      // recovery point that points at nothing.
      for (const id of deleting) {
        await vault.storage.remove(objectKey("rps", id));
        await vault.storage.remove(objectKey("lifecycle", id));
        deleted.push(id);
      }
      const gcDone = await executeGc(v, gc, refs, { signal: options.signal, onProgress: options.onProgress });
      const housekeeping = await planHousekeeping(v, housekeepingOptions());
      // This prune's own job is alive (our pid), so it is never among the dead.
      const housekept = await executeHousekeeping(v, housekeeping, { now: options.now() });
      await job.update({
        state: "COMPLETED",
        ended_at: options.now().toISOString(),
        bytes_stored: gcDone.bytesWritten,
        details: {
          deleted, moved_cold: movedCold, packs_written: gcDone.packsWritten, packs_deleted: gcDone.packsDeleted, bytes_reclaimed: gcDone.bytesDeleted - gcDone.bytesWritten, decisions,
          jobs_aborted: housekept.aborted.map((j) => j.id), jobs_deleted: housekept.jobsDeleted, leftovers_deleted: housekept.leftoversDeleted, leftover_bytes_deleted: housekept.leftoverBytesDeleted,
        },
      });
      return { decisions, deleted, movedCold, gc, gcDone, job: job.record, housekeeping, housekept };
    } catch (err) {
      await job.update({ state: "FAILED", ended_at: options.now().toISOString(), error: (err as Error).message, details: { deleted, moved_cold: movedCold } }).catch(() => {});
      throw err;
    }
  } finally {
    await lease.release().catch(() => {});
  }
}

/** Age in ms of every pack in both tiers, by storage time. */
async function packAges(vault: Vault, realNow: () => number): Promise<Map<string, number>> {
  const ages = new Map<string, number>();
  const now = realNow();
  for (const s of [vault.storage, vault.cold]) {
    for await (const o of s.list("packs/")) ages.set(idOfKey(o.key), now - o.mtimeMs);
  }
  return ages;
}
