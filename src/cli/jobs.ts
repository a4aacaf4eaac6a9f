/** `efsbak jobs`: recent jobs of a vault, newest first. */
import { listJobs, type JobRecord } from "../vault/job-record.ts";
import { COMMON_EXIT, VAULT_ARG, command } from "./command.ts";
import { formatBytes, formatCount, formatTime, table } from "./output.ts";
import { UsageError } from "../errors.ts";
import { hasTags } from "../vault/rp-filter.ts";
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import { FILTER_ARGS, parseFilter } from "./filters.ts";
import type { StorageError } from "../storage/storage.ts";
import type { Context } from "./context.ts";

/**
 * The one warning a command that only reads gives when the vault will not take its job
 * record (read-only use: the command goes on and exits as usual).
 */
export function readOnlyWarning(ctx: Context, vault: string, what: string): (err: StorageError) => void {
  return (err) => ctx.log.warn(`Vault "${vault}" is read-only for this user: this ${what} goes on, but is not recorded as a job (${err.message})`);
}

/** The MESSAGE column of a job without error: its first warning, and how many more (full list in --json). */
export function warningSummary(warnings: string[]): string {
  if (warnings.length === 0) return "";
  return warnings.length === 1 ? warnings[0] : `${warnings[0]} (and ${warnings.length - 1} more warning${warnings.length === 2 ? "" : "s"})`;
}

/** A job in the --json shape of DESIGN.md. */
export function jobJson(j: JobRecord): Record<string, unknown> {
  return {
    id: j.id,
    type: j.type,
    plan: j.plan,
    rule: j.rule,
    resource: j.resource,
    vault: j.vault,
    scheduled_for: j.scheduled_for,
    started_at: j.started_at,
    ended_at: j.ended_at,
    state: j.state,
    files: j.files,
    bytes_read: j.bytes_read,
    bytes_new: j.bytes_new,
    bytes_stored: j.bytes_stored,
    warnings: j.warnings,
    error: j.error,
    recovery_point: j.recovery_point,
    inconsistent: j.inconsistent ?? [],
    ...(j.type === "backup" ? { skipped: j.skipped ?? [], skipped_count: j.skipped_count ?? 0 } : {}),
    ...(j.restore_dir !== undefined ? { restore_dir: j.restore_dir, fragments: j.fragments ?? 0 } : {}),
    ...(j.details ? { details: j.details } : {}),
    ...(j.hooks ? { hooks: j.hooks } : {}),
    host: j.host,
    efsbak_version: j.efsbak_version,
  };
}

/** The jobs command. */
export const jobsCommand = command({
  name: "jobs",
  description: "list recent jobs with state, times, bytes, files and messages",
  args: {
    ...VAULT_ARG,
    state: { type: "string", description: "only jobs in this state (COMPLETED, FAILED, PARTIAL, EXPIRED, RUNNING…)", valueHint: "STATE" },
    type: { type: "string", description: "only jobs of this type (backup, restore, prune, check, drill, copy)", valueHint: "TYPE" },
    resource: { type: "string", description: "only jobs of this resource", valueHint: "ID" },
    limit: { type: "string", description: "show at most this many (default 50; 0 = all)", valueHint: "N" },
    ...FILTER_ARGS,
  },
  repeatable: ["tag"],
  exitStatus: COMMON_EXIT,
  async run({ ctx, args, repeated }) {
    const filter = parseFilter(ctx, args, repeated.tag);
    const target = ctx.vaultTarget(args.vault as string | undefined);
    const vault = await ctx.openVault(target);
    const limit = args.limit === undefined ? 50 : Number(args.limit);
    if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`Cannot read --limit "${args.limit}": expected a whole number`);
    let all = (await listJobs(vault, { state: args.state as string | undefined, type: args.type as string | undefined, resource: args.resource as string | undefined, since: filter.since }, { onDamage: (e) => ctx.log.warn(e.message) }))
      .filter((j) => filter.host === undefined || j.host === filter.host);
    if (filter.tags) {
      // A job carries the tags of the recovery point it made or restored; others never match.
      const tagsOf = new Map((await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) })).map((r) => [r.id, r.tags]));
      all = all.filter((j) => j.recovery_point !== null && tagsOf.has(j.recovery_point) && hasTags(tagsOf.get(j.recovery_point), filter.tags));
    }
    const jobs = limit === 0 ? all : all.slice(0, limit);
    const rows = jobs.map((j) => [
      j.id.slice(0, 12), j.type, j.state, j.resource ?? "-", formatTime(j.started_at ?? j.created_at), formatTime(j.ended_at),
      formatCount(j.files), formatBytes(j.bytes_new), j.error ?? warningSummary(j.warnings),
    ]);
    const text = jobs.length === 0 ? "No jobs" : table(["ID", "TYPE", "STATE", "RESOURCE", "STARTED", "ENDED", "FILES", "NEW", "MESSAGE"], rows);
    return { exitCode: 0, json: { jobs: jobs.map(jobJson) }, text };
  },
});
