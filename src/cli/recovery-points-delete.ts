/** `efsbak recovery-points delete RP…`: delete recovery points now, unless the vault lock keeps them. */
import { resolveRecoveryPoint } from "./rp-ref.ts";
import { UsageError } from "../errors.ts";
import { deleteRecoveryPoints } from "../prune/delete.ts";
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import { VAULT_ARG, command } from "./command.ts";
import { jobJson } from "./jobs.ts";

/** The recovery-points delete command. */
export const recoveryPointsDeleteCommand = command({
  name: "recovery-points delete",
  description: "delete recovery points now (the next prune reclaims their space); --dry-run",
  args: {
    rp: { type: "positional", description: "recovery point ids (or unique prefixes); several may be given", required: true },
    ...VAULT_ARG,
    "dry-run": { type: "boolean", description: "say what would be deleted or refused; change nothing" },
  },
  exitStatus: [
    "0  deleted (or, with --dry-run, all may be deleted)",
    "1  failure: a recovery point is not found, or the vault lock keeps one (the message gives the date it becomes deletable); nothing was deleted",
    "2  usage error",
    "4  a backup or prune holds the vault's lock",
  ],
  async run({ ctx, args }) {
    const refs = (args._ as string[]).length ? (args._ as string[]) : [String(args.rp)];
    if (refs.some((r) => r === "latest")) throw new UsageError('Cannot delete "latest": name recovery points by id', 'list them with "efsbak recovery-points"');
    const target = ctx.vaultTarget(args.vault as string | undefined);
    const vault = await ctx.openVault(target);
    const all = await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) });
    const rps = [...new Map(refs.map((r) => resolveRecoveryPoint(all, r)).map((r) => [r.id, r])).values()];
    const dryRun = !!args["dry-run"];
    const r = await deleteRecoveryPoints(vault, rps, { vaultName: target.name, now: () => ctx.now(), lock: target.spec?.lock, dryRun, settleMs: ctx.settleMs(target) });
    const lines = r.decisions.map((d) => `${target.name}: recovery point ${d.rp} (${d.resource}) ${dryRun ? "would be deleted" : "deleted"}`);
    lines.push(dryRun ? "Nothing changed (--dry-run)" : 'Their space comes back at the next prune (garbage collection): run "efsbak prune"');
    return { exitCode: 0, json: { dry_run: dryRun, decisions: r.decisions, deleted: r.deleted, job: r.job ? jobJson(r.job) : null }, text: lines.join("\n") };
  },
});
