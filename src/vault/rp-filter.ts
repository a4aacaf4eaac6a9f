/**
 * Filters over recovery points (and the jobs that made them), pure: `recovery-points` and
 * `jobs` take `--tag k=v` (repeatable: every tag must match), `--host H` and `--since`.
 */
import type { RecoveryPoint } from "./recovery-point.ts";

/** What a listing keeps. Every given field must match. */
export interface RpFilter {
  /** Tags the recovery point must carry, each with this value. */
  tags?: Record<string, string>;
  /** The host that made it. */
  host?: string;
  /** Created at or after this time. */
  since?: Date;
}

/** True when every tag of `wanted` is in `tags` with the same value. */
export function hasTags(tags: Record<string, string> | undefined, wanted: Record<string, string> | undefined): boolean {
  for (const [k, v] of Object.entries(wanted ?? {})) if (tags?.[k] !== v) return false;
  return true;
}

/** True when the recovery point passes the filter. */
export function rpMatches(rp: Pick<RecoveryPoint, "tags" | "host" | "created_at">, filter: RpFilter): boolean {
  return hasTags(rp.tags, filter.tags) && (filter.host === undefined || rp.host === filter.host) &&
    (filter.since === undefined || rp.created_at >= filter.since.toISOString());
}
