/** `efsbak restore RP`: restore a recovery point into TARGET/efsbak-restore_<time>/. */
import { createJobIfWritable } from "../jobs/job.ts";
import { EfsbakError } from "../errors.ts";
import { restore, type RestoreProgress } from "../restore/restore.ts";
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
  },
  repeatable: ["include"],
  exitStatus: [...COMMON_EXIT, "3  restored, but some fragments went to efsbak-lost+found (see its MANIFEST.json)"],
  async run({ ctx, args, repeated }) {
    const target = ctx.vaultTarget(args.vault as string | undefined);
    const vault = await ctx.openVault(target);
    const rps = await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) });
    const rp = resolveRecoveryPoint(rps, String(args.rp), { resource: args.resource as string | undefined });
    // Where a directory listing is lost, its version in the nearest other recovery point of
    // the resource can be salvaged: nearest in time first.
    const at = Date.parse(rp.created_at);
    const others = rps.filter((r) => r.resource === rp.resource && r.id !== rp.id).sort((a, b) => Math.abs(Date.parse(a.created_at) - at) - Math.abs(Date.parse(b.created_at) - at));
    const into = resolve(ctx.io.cwd, (args.target as string | undefined) ?? rp.source_path);
    const job = await createJobIfWritable(vault, { type: "restore", vault: target.name, resource: rp.resource, plan: rp.plan, rule: rp.rule, state: "PENDING" }, { now: ctx.now(), onReadOnly: readOnlyWarning(ctx, target.name, "restore") });
    await job.update({ state: "RUNNING", started_at: ctx.now().toISOString(), recovery_point: rp.id });
    const progress = totalProgress<RestoreProgress>(ctx, "restoring");
    const t0 = performance.now();
    let result;
    try {
      result = await restore(vault, rp, into, { now: ctx.now(), include: repeated.include, chown: process.getuid?.() === 0, onProgress: progress.update, onWarning: (m) => ctx.log.warn(m), signal: ctx.io.signal, others });
    } catch (err) {
      progress.done();
      const message = err instanceof EfsbakError ? err.message : `internal error: ${(err as Error)?.message ?? String(err)}`;
      await job.update({ state: "FAILED", ended_at: ctx.now().toISOString(), error: message }).catch(() => {});
      throw err;
    }
    progress.done();
    const seconds = (performance.now() - t0) / 1000;
    const partial = result.fragments.length > 0;
    await job.update({
      state: partial ? "PARTIAL" : "COMPLETED",
      ended_at: ctx.now().toISOString(),
      files: result.files,
      bytes_read: result.bytes,
      warnings: result.warnings,
      restore_dir: result.restoreDir,
      fragments: result.fragments.length,
    });
    let text = `Restored ${rp.id} (${rp.resource}) into ${result.restoreDir}: ${formatCount(result.files)} files, ${formatCount(result.dirs)} directories, ${formatCount(result.symlinks)} symlinks, ${formatBytes(result.bytes)} in ${formatSeconds(seconds)}`;
    if (partial) text += `\n${result.fragments.length} fragments could not go back in place; they are in ${result.restoreDir}/efsbak-lost+found/ (see MANIFEST.json there)`;
    return {
      exitCode: partial ? 3 : 0,
      json: { job: jobJson(job.record), recovery_point: rp.id, restore_dir: result.restoreDir, fragments: result.fragments },
      text,
    };
  },
});
