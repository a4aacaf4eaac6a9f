/**
 * `efsbak copy RP --to VAULT`: copy a recovery point into another vault (jobs/copy-job.ts).
 *
 * The destination's password comes from its own variables, so each side may have its own:
 *   EFSBAK_TO_PASSWORD, EFSBAK_TO_PASSWORD_FILE, EFSBAK_TO_PASSWORD_COMMAND
 *   else the destination's `password_file` / `password_command` in its table in the plans
 * The destination is opened through a context whose EFSBAK_PASSWORD* are those (so every rule
 * of opening a vault, downgrade checks included, applies to it as to the source).
 */
import { runCopyJob } from "../jobs/copy-job.ts";
import type { CopyProgress } from "../copy/copy.ts";
import { parseDuration } from "../plan/duration.ts";
import { UsageError } from "../errors.ts";
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import { COMMON_EXIT, VAULT_ARG, command } from "./command.ts";
import { type Context, type VaultTarget, createContext } from "./context.ts";
import { jobJson } from "./jobs.ts";
import { formatBytes, formatCount, formatSeconds } from "./output.ts";
import { resolveRecoveryPoint } from "./rp-ref.ts";
import type { RecoveryPoint } from "../vault/recovery-point.ts";
import type { JobRecord } from "../vault/job-record.ts";

const TO_VARS = [["EFSBAK_TO_PASSWORD", "EFSBAK_PASSWORD"], ["EFSBAK_TO_PASSWORD_FILE", "EFSBAK_PASSWORD_FILE"], ["EFSBAK_TO_PASSWORD_COMMAND", "EFSBAK_PASSWORD_COMMAND"]] as const;

/** The environment the destination is opened with: its own password sources as EFSBAK_PASSWORD*. */
export function destinationEnv(env: Record<string, string | undefined>, target: VaultTarget): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  for (const [, v] of TO_VARS) delete out[v];
  let given = false;
  for (const [from, to] of TO_VARS) {
    if (env[from] !== undefined) {
      out[to] = env[from];
      given = true;
    }
  }
  if (!given && target.spec?.passwordFile) out.EFSBAK_PASSWORD_FILE = target.spec.passwordFile;
  else if (!given && target.spec?.passwordCommand) out.EFSBAK_PASSWORD_COMMAND = target.spec.passwordCommand;
  return out;
}

/** Opens the destination of a copy with its own password (creating a missing vault, as backup does). */
export async function openDestination(ctx: Context, ref: string): Promise<{ target: VaultTarget; vault: Vault; ctx: Context }> {
  const target = ctx.vaultTarget(ref);
  const toCtx = createContext({ ...ctx.io, env: destinationEnv(ctx.io.env, target) }, ctx.flags);
  const vault = await toCtx.openVault(toCtx.vaultTarget(ref), { create: true });
  ctx.createdVaults.push(...toCtx.createdVaults);
  return { target, vault, ctx: toCtx };
}

/** The copy command. */
export const copyCommand = command({
  name: "copy",
  description: "copy a recovery point into another vault, sending only the blobs it lacks",
  args: {
    rp: { type: "positional", description: "recovery point id (or a unique prefix, or \"latest\")", required: true },
    ...VAULT_ARG,
    to: { type: "string", description: "destination vault: a name from the plans, or a path or s3:// URL (password: EFSBAK_TO_PASSWORD, EFSBAK_TO_PASSWORD_FILE or EFSBAK_TO_PASSWORD_COMMAND)", valueHint: "NAME|URL" },
    resource: { type: "string", description: "with \"latest\": the resource", valueHint: "ID" },
    "delete-after": { type: "string", description: "the copy's own retention, from the recovery point's creation (default: the source's delete_at)", valueHint: "DURATION" },
    "cold-after": { type: "string", description: "the copy's move to cold storage, from the recovery point's creation", valueHint: "DURATION" },
  },
  exitStatus: [...COMMON_EXIT, "4  a prune holds a vault's lock, or a backup or copy of the resource holds its lease in the destination"],
  async run({ ctx, args }) {
    if (!args.to) throw new UsageError("Cannot copy: no destination given", "add --to VAULT (a name from the plans, or a path or s3:// URL)");
    const deleteAfterMs = durationArg(args["delete-after"] as string | undefined, "--delete-after");
    const coldAfterMs = durationArg(args["cold-after"] as string | undefined, "--cold-after");
    const fromTarget = ctx.vaultTarget(args.vault as string | undefined);
    const from = await ctx.openVault(fromTarget);
    const to = await openDestination(ctx, String(args.to));
    if (from.config.id === to.vault.config.id) throw new UsageError(`Cannot copy into vault "${to.target.name}": it is the source vault`, "give another vault with --to");
    const done = await copyInto(ctx, { from, fromName: fromTarget.name, to: to.vault, toName: to.target.name, settleMs: { from: ctx.settleMs(fromTarget), to: ctx.settleMs(to.target) }, deleteAfterMs, coldAfterMs,
      async pick(vault) {
        const rps = await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) });
        return resolveRecoveryPoint(rps, String(args.rp), { resource: args.resource as string | undefined });
      } });
    const { records: _, ...outcome } = done;
    return outcome;
  },
});

/** Runs a copy job and words its outcome (shared with run's copy actions). */
export async function copyInto(ctx: Context, options: {
  from: Vault; fromName: string; to: Vault; toName: string; pick(vault: Vault): Promise<RecoveryPoint>;
  settleMs?: { from?: number; to?: number }; deleteAfterMs?: number; coldAfterMs?: number;
}): Promise<{ exitCode: number; json: unknown; text: string; records: { from: JobRecord; to: JobRecord } }> {
  let last = 0;
  const onProgress = (p: CopyProgress) => {
    if (!ctx.interactive || performance.now() - last < 500) return;
    last = performance.now();
    ctx.log.info(`copying: ${formatCount(p.files)} files, ${formatBytes(p.bytesRead)} read, ${formatBytes(p.bytesSent)} sent`);
  };
  const { result, jobs, seconds } = await runCopyJob(options.from, options.to, {
    fromName: options.fromName, toName: options.toName, pick: options.pick, deleteAfterMs: options.deleteAfterMs, coldAfterMs: options.coldAfterMs,
    now: () => ctx.now(), settleMs: options.settleMs, signal: ctx.io.signal, onProgress, onWarning: (m) => ctx.log.warn(m),
  });
  const s = result.stats;
  const text = result.already
    ? `Recovery point ${result.rp.id} is already in vault "${options.toName}": nothing to copy`
    : `Copied ${result.rp.id} (${result.rp.resource}) from "${options.fromName}" to "${options.toName}"${result.rehashed ? " (chunked and hashed again: the vaults' ids differ)" : ""}: ${formatCount(result.files)} files, ${formatCount(s.blobsCopied)} blobs sent (${formatBytes(s.bytesSent)}), ${formatCount(s.blobsPresent)} already there, in ${formatSeconds(seconds)}`;
  return {
    exitCode: 0,
    json: {
      recovery_point: result.rp.id,
      from: options.fromName,
      to: options.toName,
      rehashed: result.rehashed,
      already: result.already,
      files: result.files,
      bytes_read: result.bytesRead,
      blobs_copied: s.blobsCopied,
      blobs_present: s.blobsPresent,
      bytes_sent: s.bytesSent,
      adopted_packs: result.adoptedPacks,
      jobs: { from: jobJson(jobs.from), to: jobJson(jobs.to) },
    },
    text,
    records: jobs,
  };
}

function durationArg(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === null) throw new UsageError(`Cannot read ${flag} "${text}": use forms like 30d, 1y or 1d12h`);
  return ms;
}
