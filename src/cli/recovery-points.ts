/** `efsbak recovery-points`: the recovery points of a vault, oldest first. */
import { listLifecycleMarks, listRecoveryPoints, type RecoveryPoint } from "../vault/recovery-point.ts";
import { planLifecycle } from "../prune/policy.ts";
import { rpMatches } from "../vault/rp-filter.ts";
import { UsageError } from "../errors.ts";
import { readVaultLock, strongerLock } from "../vault/vault-lock.ts";
import { COMMON_EXIT, VAULT_ARG, command } from "./command.ts";
import { FILTER_ARGS, parseFilter } from "./filters.ts";
import { formatBytes, formatCount, formatTime, table } from "./output.ts";

/** A recovery point in the --json shape of DESIGN.md. */
export function rpJson(rp: RecoveryPoint, state: { tier?: "warm" | "cold"; status?: string } = {}): Record<string, unknown> {
  return {
    id: rp.id,
    resource: rp.resource,
    source_path: rp.source_path,
    plan: rp.plan,
    rule: rp.rule,
    created_at: rp.created_at,
    completed_at: rp.completed_at,
    status: state.status ?? rp.status,
    tier: state.tier ?? "warm",
    cold_at: rp.cold_at,
    delete_at: rp.delete_at,
    size_bytes: rp.size_bytes,
    files: rp.files,
    skipped: rp.skipped ?? 0,
    bytes_new: rp.bytes_new,
    tags: rp.tags,
    host: rp.host,
    parent: rp.parent,
  };
}

/** The recovery-points command. */
export const recoveryPointsCommand = command({
  name: "recovery-points",
  description: "list recovery points: id, resource, time, status, tier, lifecycle dates, size",
  args: {
    ...VAULT_ARG,
    resource: { type: "string", description: "only recovery points of this resource", valueHint: "ID" },
    ...FILTER_ARGS,
  },
  repeatable: ["tag"],
  exitStatus: COMMON_EXIT,
  async run({ ctx, args, repeated }) {
    const extra = args._ as string[];
    if (extra.length) throw new UsageError(`Unknown argument "${extra[0]}" for "efsbak recovery-points"`, 'to delete, "efsbak recovery-points delete RP…"');
    const filter = parseFilter(ctx, args, repeated.tag);
    const target = ctx.vaultTarget(args.vault as string | undefined);
    const vault = await ctx.openVault(target);
    const all = await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) });
    const marks = await listLifecycleMarks(vault);
    // Past retention but kept by the vault lock (the vault's own, and the plans'): shown EXPIRED, as AWS Backup does.
    const lock = strongerLock(await readVaultLock(vault), target.spec?.lock);
    const expired = new Set(planLifecycle(all, { now: ctx.now(), lock, cold: new Set(marks.keys()) }).filter((d) => d.action === "expired").map((d) => d.rp));
    const rps = all.filter((r) => (!args.resource || r.resource === args.resource) && rpMatches(r, filter));
    const docs = rps.map((r) => rpJson(r, { tier: marks.has(r.id) ? "cold" : "warm", status: expired.has(r.id) ? "EXPIRED" : undefined }));
    const rows = docs.map((r) => [
      String(r.id), String(r.resource), formatTime(r.created_at as string), String(r.status), String(r.tier),
      formatTime(r.cold_at as string | null), formatTime(r.delete_at as string | null), formatCount(r.files as number), formatBytes(r.size_bytes as number),
    ]);
    const text = rps.length === 0 ? "No recovery points" : table(["ID", "RESOURCE", "CREATED", "STATUS", "TIER", "COLD AT", "DELETE AT", "FILES", "SIZE"], rows);
    return { exitCode: 0, json: { recovery_points: docs }, text };
  },
});
