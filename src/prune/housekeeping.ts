/**
 * What prune tidies besides recovery points and packs, under the vault's exclusive lock:
 *
 *   jobs whose process died                 -> ABORTED (vault/stale-jobs.ts)
 *   finished jobs older than job retention  -> removed whole (every state object), with the
 *                                              due marks of occurrences that old
 *   temp files of interrupted saves         -> removed once older than the pack safety age
 *     (local vaults: `.tmp-*` beside the key; storage time, real clock)
 *
 * planHousekeeping decides (and prints under --dry-run); executeHousekeeping acts.
 */
import { FINAL_STATES, JOB_RETENTION_MS, jobObjectKeys, listJobEntries, type JobEntry, type JobRecord } from "../vault/job-record.ts";
import { abortDeadJobs, deadJobs } from "../vault/stale-jobs.ts";
import { listLeftovers, type Leftover } from "../vault/leftovers.ts";
import type { Vault } from "../vault/vault.ts";

/** Options of a housekeeping pass. */
export interface HousekeepingOptions {
  /** The plan clock (job ages). */
  now: Date;
  /** The real clock, ms (temp file ages). */
  realNow: number;
  /** Finished jobs older than this go (default JOB_RETENTION_MS). */
  jobRetentionMs?: number;
  /** Temp files younger than this stay: a save may still be writing them. */
  minTempAgeMs: number;
}

/** What a housekeeping pass will do. */
export interface HousekeepingPlan {
  /** Jobs whose process died, to be marked ABORTED. */
  dead: JobEntry[];
  /** Ids of finished jobs past retention. */
  expiredJobs: string[];
  /** Due marks of occurrences past retention. */
  expiredMarks: string[];
  /** Leftovers old enough to remove, and (for check) every leftover seen. */
  leftovers: Leftover[];
  keptLeftovers: Leftover[];
}

/** What it did. */
export interface HousekeepingResult {
  aborted: JobRecord[];
  jobsDeleted: number;
  leftoversDeleted: number;
  leftoverBytesDeleted: number;
}

/** Decides what to tidy; changes nothing. */
export async function planHousekeeping(vault: Vault, options: HousekeepingOptions): Promise<HousekeepingPlan> {
  const retention = options.jobRetentionMs ?? JOB_RETENTION_MS;
  const cutoff = options.now.getTime() - retention;
  const entries = await listJobEntries(vault, {}, { onDamage: () => {} });
  const dead = await deadJobs(vault, entries);
  const expiredJobs = entries
    .filter((e) => FINAL_STATES.has(e.record.state) && Date.parse(e.record.ended_at ?? e.record.created_at) < cutoff)
    .map((e) => e.record.id);
  const expiredMarks: string[] = [];
  const cutoffHex = Math.max(0, cutoff).toString(16).padStart(12, "0");
  for await (const o of vault.storage.list("due/")) if ((o.key.split("/")[2] ?? "") < cutoffHex) expiredMarks.push(o.key);
  const all = await listLeftovers(vault, options.realNow);
  return {
    dead,
    expiredJobs,
    expiredMarks,
    leftovers: all.filter((l) => l.age_ms >= options.minTempAgeMs),
    keptLeftovers: all.filter((l) => l.age_ms < options.minTempAgeMs),
  };
}

/** Carries a plan out. */
export async function executeHousekeeping(vault: Vault, plan: HousekeepingPlan, options: { now: Date }): Promise<HousekeepingResult> {
  const aborted = await abortDeadJobs(vault, plan.dead, { now: options.now, by: "prune" });
  // Marks first: a mark without its job is looked past (run lists the window), a job without its mark is found by the fallback too.
  for (const key of plan.expiredMarks) await vault.storage.remove(key);
  const ids = new Set(plan.expiredJobs);
  if (ids.size > 0) for (const key of await jobObjectKeys(vault.storage, ids)) await vault.storage.remove(key);
  let bytes = 0;
  for (const l of plan.leftovers) {
    await (l.tier === "warm" ? vault.storage : vault.cold).remove(l.key);
    bytes += l.size;
  }
  return { aborted, jobsDeleted: ids.size, leftoversDeleted: plan.leftovers.length, leftoverBytesDeleted: bytes };
}
