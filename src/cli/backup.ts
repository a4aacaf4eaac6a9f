/** `efsbak backup RESOURCE`: an on-demand backup of a resource from the plans, or of a path. */
import { existsSync, realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { runBackupJob, type BackupSource } from "../jobs/backup-job.ts";
import type { HookSet } from "../jobs/hooks.ts";
import { formatDuration, parseDuration } from "../plan/duration.ts";
import { selectedResources } from "../plan/plans.ts";
import { createSourceFilter } from "../tree/exclude.ts";
import { MAX_CONCURRENCY } from "../plan/validate.ts";
import { parseTags } from "./args.ts";
import { COMMON_EXIT, VAULT_ARG, command } from "./command.ts";
import type { Context, VaultTarget } from "./context.ts";
import { formatBytes, formatCount, formatSeconds } from "./output.ts";
import { backupEstimate, backupProgress, backupScan } from "./progress.ts";
import { jobJson } from "./jobs.ts";

const NINETY_DAYS = 90 * 86_400_000;

/** The backup command. */
export const backupCommand = command({
  name: "backup",
  description: "back up a resource (an id from the plans, or a directory path) now",
  args: {
    resource: { type: "positional", description: "resource id from the plans, or a directory", required: true },
    ...VAULT_ARG,
    tag: { type: "string", description: "recovery point tag KEY=VALUE", valueHint: "KEY=VALUE" },
    exclude: { type: "string", description: "pattern of paths to leave out, as in .gitignore (\"!PATTERN\" re-includes)", valueHint: "PATTERN" },
    "exclude-if-present": { type: "string", description: "leave out the contents of directories holding this file (e.g. CACHEDIR.TAG)", valueHint: "NAME" },
    "one-file-system": { type: "boolean", description: "do not cross mount points" },
    "cold-after": { type: "string", description: "move the recovery point to the cold tier after this long", valueHint: "DURATION" },
    "delete-after": { type: "string", description: "delete the recovery point after this long", valueHint: "DURATION" },
    concurrency: { type: "string", description: "file system requests in flight (default 64, or the resource's concurrency); more for network file systems", valueHint: "N" },
  },
  repeatable: ["tag", "exclude", "exclude-if-present"],
  exitStatus: [...COMMON_EXIT, "3  the backup ended PARTIAL: stopped early, or skipped entries it could not read (listed in its job)", "4  another backup of this resource is running"],
  async run({ ctx, args, repeated }) {
    const { source, target, hooks } = resolveSource(ctx, String(args.resource), args.vault as string | undefined);
    source.exclude = [...(source.exclude ?? []), ...repeated.exclude];
    source.excludeIfPresent = [...(source.excludeIfPresent ?? []), ...repeated["exclude-if-present"]];
    if (args["one-file-system"]) source.oneFileSystem = true;
    createSourceFilter(source); // a bad pattern is a usage error before anything starts
    const concurrency = concurrencyArg(args.concurrency as string | undefined);
    if (concurrency !== undefined) source.concurrency = concurrency;
    const coldAfterMs = durationArg(args["cold-after"] as string | undefined, "--cold-after");
    const deleteAfterMs = durationArg(args["delete-after"] as string | undefined, "--delete-after");
    if (coldAfterMs !== undefined && deleteAfterMs !== undefined && deleteAfterMs < coldAfterMs + NINETY_DAYS && !target.spec?.allowShortCold) {
      throw new UsageError("Cannot use this lifecycle: --delete-after must be at least --cold-after + 90d (cold storage keeps data 90 days)", "lengthen --delete-after, or set allow_short_cold = true on a local vault for testing");
    }
    const lock = target.spec?.lock;
    if (lock?.minRetentionMs !== undefined && deleteAfterMs !== undefined && deleteAfterMs < lock.minRetentionMs) {
      throw new UsageError(`Cannot back up with --delete-after ${args["delete-after"]}: vault "${target.name}" is locked with min_retention ${formatDuration(lock.minRetentionMs)}`, "choose a longer --delete-after");
    }
    if (lock?.maxRetentionMs !== undefined && deleteAfterMs !== undefined && deleteAfterMs > lock.maxRetentionMs) {
      throw new UsageError(`Cannot back up with --delete-after ${args["delete-after"]}: vault "${target.name}" is locked with max_retention ${formatDuration(lock.maxRetentionMs)}`, "choose a shorter --delete-after");
    }
    const vault = await ctx.openVault(target, { create: true });
    const scan = backupScan(ctx, source.path);
    const progress = backupProgress(ctx, await backupEstimate(ctx, { vault, resource: source.id }), scan);
    const t0 = performance.now();
    const job = await runBackupJob(vault, source, {
      vaultName: target.name,
      now: () => ctx.now(),
      tags: parseTags(repeated.tag),
      coldAfterMs,
      deleteAfterMs,
      settleMs: ctx.settleMs(target),
      signal: ctx.io.signal,
      directReads: ctx.io.env.EFSBAK_DIRECT_IO !== "0",
      onProgress: progress.update,
      onWarning: (m) => ctx.log.warn(m),
      hooks,
    }).finally(() => {
      scan?.stop();
      progress.done();
    });
    const seconds = (performance.now() - t0) / 1000;
    const text = `Backed up "${source.id}" to ${target.name}: ${formatCount(job.files)} files, ${formatBytes(job.bytes_read)} read, ${formatBytes(job.bytes_new)} new, ${formatBytes(job.bytes_stored)} stored in ${formatSeconds(seconds)}\n` +
      `recovery point ${job.recovery_point}${job.warnings.length ? ` (${job.warnings.length} warnings)` : ""}` +
      (job.skipped_count ? `\n${job.error}: ${skippedList(job.skipped ?? [])}` : "");
    return { exitCode: job.state === "COMPLETED" ? 0 : 3, json: { job: jobJson(job), recovery_point: job.recovery_point, vault_created: ctx.createdVaults.length > 0 }, text };
  },
});

/** The first skipped entries for the summary line (all of them are in the job record). */
function skippedList(skipped: { path: string; reason: string }[], max = 10): string {
  const shown = skipped.slice(0, max).map((e) => `"${e.path}" (${e.reason})`).join(", ");
  return skipped.length > max ? `${shown} and ${skipped.length - max} more (efsbak jobs --json lists them all)` : shown;
}

/** A resource id from the plans, or a directory path. */
function resolveSource(ctx: Context, ref: string, vaultRef: string | undefined): { source: BackupSource; target: VaultTarget; hooks?: HookSet[] } {
  const plans = ctx.plans();
  const res = plans?.resources.get(ref);
  if (res) {
    const target = ctx.vaultTarget(vaultRef ?? defaultVaultFor(ctx, ref));
    return { source: { id: res.id, path: res.path, exclude: res.exclude.slice(), excludeIfPresent: res.excludeIfPresent.slice(), oneFileSystem: res.oneFileSystem, concurrency: res.concurrency }, target, hooks: res.hooks ? [{ ...res.hooks, from: `resource "${res.id}"` }] : [] };
  }
  const abs = resolve(ctx.io.cwd, ref);
  if (!existsSync(abs)) {
    throw new UsageError(`Cannot back up "${ref}": it is neither a resource in the plans nor an existing path`, plans ? `known resources: ${[...plans.resources.keys()].join(", ") || "none"}` : undefined);
  }
  if (!statSync(abs).isDirectory()) throw new UsageError(`Cannot back up "${ref}": not a directory`);
  const real = realpathSync(abs);
  if (vaultRef === undefined && !(plans && plans.vaults.size === 1)) {
    throw new UsageError(`Cannot back up "${ref}": no vault given`, `add --vault PATH (created if missing), e.g. --vault ./.efsbak/vault`);
  }
  return { source: { id: real, path: real }, target: ctx.vaultTarget(vaultRef) };
}

/** The vault of the first rule that selects the resource, when there is one. */
function defaultVaultFor(ctx: Context, resource: string): string | undefined {
  const plans = ctx.plans();
  if (!plans || plans.vaults.size === 1) return undefined;
  for (const p of plans.plans) {
    if (p.rules[0] && selectedResources(plans, p).some((r) => r.id === resource)) return p.rules[0].vault;
  }
  return undefined;
}

/** --concurrency N (backup, run): a whole number from 1 to MAX_CONCURRENCY. */
export function concurrencyArg(text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > MAX_CONCURRENCY) throw new UsageError(`Cannot read --concurrency "${text}": expected a whole number from 1 to ${MAX_CONCURRENCY}`);
  return n;
}

function durationArg(text: string | undefined, flag: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  const ms = parseDuration(text);
  if (ms === null || ms <= 0) throw new UsageError(`Cannot read ${flag} "${text}": expected a duration like 30d, 12h or 1y`);
  return ms;
}
