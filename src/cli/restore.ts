/** `efsbak restore RP`: restore a recovery point into TARGET/efsbak-restore_<time>/. */
import { UsageError } from "../errors.ts";
import { runRestoreJob } from "../jobs/restore-job.ts";
import type { RestoreProgress } from "../restore/restore.ts";
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import { resolveRecoveryPoint } from "./rp-ref.ts";
import { resolve } from "node:path";
import { COMMON_EXIT, VAULT_ARG, command } from "./command.ts";
import { formatBytes, formatCount, formatSeconds } from "./output.ts";
import { totalProgress } from "./progress.ts";
import { jobJson, readOnlyWarning } from "./jobs.ts";

/** The restore command. */
export const restoreCommand = command({
  name: "restore",
  description: "restore a recovery point into TARGET/efsbak-restore_<time>/, never over existing files",
  args: {
    rp: { type: "positional", description: "recovery point id (or a unique prefix, or \"latest\")", required: true },
    ...VAULT_ARG,
    target: { type: "string", description: "directory to restore into (default: the resource's own path)", valueHint: "DIR" },
    include: { type: "string", description: "restore only this file or subtree (path inside the recovery point)", valueHint: "PATH" },
    resource: { type: "string", description: "with \"latest\": the resource", valueHint: "ID" },
    concurrency: { type: "string", description: "directories restored at once and pack loads in flight (default 16; more for network file systems)", valueHint: "N" },
  },
  repeatable: ["include"],
  exitStatus: [...COMMON_EXIT, "3  restored, but some fragments went to efsbak-lost+found (see its MANIFEST.json)", "4  a prune holds the vault's lock"],
  async run({ ctx, args, repeated }) {
    const target = ctx.vaultTarget(args.vault as string | undefined);
    const opened = await ctx.openVault(target);
    const concurrency = args.concurrency === undefined ? undefined : Number(args.concurrency);
    if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 1024)) throw new UsageError(`Invalid --concurrency "${String(args.concurrency)}": expected a whole number from 1 to 1024`);
    const progress = totalProgress<RestoreProgress>(ctx, "restoring");
    let done;
    try {
      done = await runRestoreJob(opened, {
        vaultName: target.name,
        async pick(vault) {
          const rps = await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) });
          return { rp: resolveRecoveryPoint(rps, String(args.rp), { resource: args.resource as string | undefined }), rps };
        },
        target: (rp) => resolve(ctx.io.cwd, (args.target as string | undefined) ?? rp.source_path),
        include: repeated.include,
        concurrency,
        chown: process.getuid?.() === 0,
        now: () => ctx.now(),
        settleMs: ctx.settleMs(target),
        signal: ctx.io.signal,
        onProgress: progress.update,
        onWarning: (m) => ctx.log.warn(m),
      });
    } finally {
      progress.done();
    }
    const { rp, result, job, seconds } = done;
    const partial = result.fragments.length > 0;
    let text = `Restored ${rp.id} (${rp.resource}) into ${result.restoreDir}: ${formatCount(result.files)} files, ${formatCount(result.dirs)} directories, ${formatCount(result.symlinks)} symlinks, ${formatBytes(result.bytes)} in ${formatSeconds(seconds)}`;
    if (partial) text += `\n${result.fragments.length} fragments could not go back in place; they are in ${result.restoreDir}/${result.lostFound}/ (see MANIFEST.json there)`;
    return {
      exitCode: partial ? 3 : 0,
      json: { job: job ? jobJson(job.record) : null, recovery_point: rp.id, restore_dir: result.restoreDir, lost_found: result.lostFound, fragments: result.fragments },
      text,
    };
  },
});
