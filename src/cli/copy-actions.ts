/**
 * A rule's copy actions, after `run` made a recovery point: each action copies it into its
 * vault with its own lifecycle, as a COPY job in both vaults (cli/copy.ts, jobs/copy-job.ts).
 * A failed or blocked copy is reported and counted; it never changes the backup's outcome.
 */
import { EfsbakError, LockedError } from "../errors.ts";
import { type JobRecord, listJobs } from "../vault/job-record.ts";
import type { RuleSpec } from "../plan/plans.ts";
import type { Context } from "./context.ts";
import { copyInto, openDestination } from "./copy.ts";

/** What the copy actions of one backup did. */
export interface CopyActionsOutcome {
  jobs: JobRecord[];
  failed: boolean;
  blocked: boolean;
}

/** Copies recovery point `rpId` of vault `vaultName` into each copy action's vault. */
export async function runCopyActions(ctx: Context, options: { rule: RuleSpec; plan: string; vaultName: string; rpId: string }): Promise<CopyActionsOutcome> {
  const out: CopyActionsOutcome = { jobs: [], failed: false, blocked: false };
  const label = `${options.plan}/${options.rule.name}`;
  for (const action of options.rule.copyActions ?? []) {
    let toVault = null;
    try {
      const fromTarget = ctx.vaultTarget(options.vaultName);
      // Opened again: the backup just wrote index files an earlier open has not read.
      const from = await ctx.openVault(fromTarget);
      const to = await openDestination(ctx, action.vault);
      toVault = to.vault;
      ctx.log.info(`${label}: copying ${options.rpId} to "${action.vault}"`);
      const r = await copyInto(ctx, {
        from, fromName: options.vaultName, to: to.vault, toName: action.vault,
        settleMs: { from: ctx.settleMs(fromTarget), to: ctx.settleMs(to.target) },
        deleteAfterMs: action.deleteAfterMs, coldAfterMs: action.coldAfterMs,
        async pick(vault) {
          return vault.loadJson(`rps/${options.rpId}`);
        },
      });
      ctx.log.info(`${label}: ${r.text}`);
      out.jobs.push(r.records.to);
    } catch (err) {
      if (err instanceof LockedError) out.blocked = true;
      else out.failed = true;
      ctx.log.error(`${label}: copy to "${action.vault}" failed: ${err instanceof EfsbakError ? err.message : (err as Error)?.message}`);
      if (toVault) out.jobs.push(...(await listJobs(toVault, { type: "copy" }).catch(() => [])).slice(0, 1));
    }
  }
  return out;
}
