/**
 * How the command line names a recovery point: its id, a unique prefix of it (at least 4
 * characters), or "latest" (the newest recovery point of one resource that is not PARTIAL).
 * Every command taking RP resolves it here, so "latest" means the same everywhere.
 */
import { EfsbakError, UsageError } from "../errors.ts";
import type { RecoveryPoint } from "../vault/recovery-point.ts";

/** Statuses "latest" may pick: complete recovery points (EXPIRED ones are complete, only past retention). */
const LATEST_STATUSES: ReadonlySet<string> = new Set(["AVAILABLE", "EXPIRED"]);

/** Resolves RP (id, unique id prefix, or "latest") among rps, oldest first; resource narrows the pool. */
export function resolveRecoveryPoint(rps: RecoveryPoint[], ref: string, options: { resource?: string } = {}): RecoveryPoint {
  const resource = options.resource;
  const pool = resource ? rps.filter((r) => r.resource === resource) : rps;
  if (ref === "latest") return latestOf(rps, pool, resource);
  if (ref.length < 4) throw new UsageError(`Cannot find recovery point "${ref}": give at least 4 characters of its id`);
  const hits = pool.filter((r) => r.id.startsWith(ref));
  if (hits.length === 1) return hits[0];
  if (hits.length === 0) throw new EfsbakError(`Cannot find recovery point "${ref}" in the vault${resource ? ` among those of "${resource}"` : ""}`, { exitCode: 1, hint: 'list them with "efsbak recovery-points"' });
  throw new UsageError(`Recovery point "${ref}" is ambiguous: ${hits.length} ids start with it`, "give more characters of the id");
}

function latestOf(all: RecoveryPoint[], pool: RecoveryPoint[], resource: string | undefined): RecoveryPoint {
  if (!resource) {
    const resources = [...new Set(all.map((r) => r.resource))].sort();
    if (resources.length > 1) {
      throw new UsageError(
        `Cannot tell which recovery point "latest" is: the vault holds ${resources.length} resources (${resources.join(", ")})`,
        `add --resource, e.g. --resource ${resources[0]}`,
      );
    }
  }
  const of = resource ? ` of "${resource}"` : "";
  if (pool.length === 0) throw new EfsbakError(`Cannot find a recovery point${of}: the vault has none`, { exitCode: 1, hint: resource ? 'list them with "efsbak recovery-points"' : undefined });
  const last = pool.filter((r) => LATEST_STATUSES.has(r.status)).at(-1);
  if (!last) {
    throw new EfsbakError(`Cannot find a complete recovery point${of}: all ${pool.length} are ${[...new Set(pool.map((r) => r.status))].join(" or ")}`, {
      exitCode: 1,
      hint: `name one by its id to use it anyway (see "efsbak recovery-points${resource ? ` --resource ${resource}` : ""}")`,
    });
  }
  return last;
}
