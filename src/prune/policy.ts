/**
 * Lifecycle policy, pure: recovery points + now + vault lock -> what to do with each, and why.
 *
 *   delete_at reached            -> delete, unless the vault lock's min_retention keeps it
 *                                   (then it shows as EXPIRED until it may go)
 *   older than max_retention     -> delete, whatever its own dates say
 *   cold_at reached, still warm  -> move to the cold tier
 *
 * `efsbak prune --dry-run` and `run --dry-run` print these decisions; executing them is
 * lifecycle.ts's job.
 */
import type { RecoveryPoint } from "../vault/recovery-point.ts";

/** A vault lock, as the plans declare it. */
export interface VaultLock {
  minRetentionMs?: number;
  maxRetentionMs?: number;
}

/** What lifecycle does to one recovery point. */
export interface LifecycleDecision {
  rp: string;
  resource: string;
  action: "delete" | "cold" | "expired";
  reason: string;
}

/** Decides the lifecycle of every recovery point at `now`. Recovery points needing nothing are left out. */
export function planLifecycle(rps: RecoveryPoint[], options: { now: Date; lock?: VaultLock; cold?: ReadonlySet<string> }): LifecycleDecision[] {
  const now = options.now.getTime();
  const out: LifecycleDecision[] = [];
  for (const rp of rps) {
    const created = Date.parse(rp.created_at);
    const age = now - created;
    const min = options.lock?.minRetentionMs;
    const max = options.lock?.maxRetentionMs;
    const deleteAt = rp.delete_at ? Date.parse(rp.delete_at) : null;
    if (max !== undefined && age >= max) {
      out.push({ rp: rp.id, resource: rp.resource, action: "delete", reason: `older than the vault lock's max_retention (created ${rp.created_at})` });
      continue;
    }
    if (deleteAt !== null && now >= deleteAt) {
      if (min !== undefined && age < min) {
        out.push({ rp: rp.id, resource: rp.resource, action: "expired", reason: `delete_at ${rp.delete_at} passed, but the vault lock's min_retention keeps it until ${new Date(created + min).toISOString()}` });
      } else {
        out.push({ rp: rp.id, resource: rp.resource, action: "delete", reason: `delete_at ${rp.delete_at} reached` });
      }
      continue;
    }
    if (rp.cold_at && now >= Date.parse(rp.cold_at) && !options.cold?.has(rp.id)) {
      out.push({ rp: rp.id, resource: rp.resource, action: "cold", reason: `cold_at ${rp.cold_at} reached` });
    }
  }
  return out;
}

/** When the vault lock lets a recovery point be deleted by hand (created_at + min_retention); null when it may go now. */
export function lockedUntil(rp: Pick<RecoveryPoint, "created_at">, options: { now: Date; lock?: VaultLock }): Date | null {
  const min = options.lock?.minRetentionMs;
  if (min === undefined) return null;
  const until = Date.parse(rp.created_at) + min;
  return options.now.getTime() < until ? new Date(until) : null;
}
