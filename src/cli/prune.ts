/** `efsbak prune`: apply lifecycle now and collect garbage. */
import { UsageError } from "../errors.ts";
import { parseDuration } from "../plan/duration.ts";
import { applyLifecycle, type LifecycleResult } from "../prune/lifecycle.ts";
import { COMMON_EXIT, VAULT_ARG, command } from "./command.ts";
import type { Context } from "./context.ts";
import { jobJson } from "./jobs.ts";
import { formatBytes, formatCount, snakeKeys } from "./output.ts";
import { phaseProgress } from "./progress.ts";

const PRUNE_UNITS: Record<string, string> = { marking: " trees", repacking: " packs", deleting: " packs" };

/** EFSBAK_GC_MIN_AGE: the pack safety age (for tests and drills; default 1h). */
export function gcMinAge(ctx: Context): number | undefined {
  const text = ctx.io.env.EFSBAK_GC_MIN_AGE;
  if (text === undefined || text === "") return undefined;
  const ms = text === "0" ? 0 : parseDuration(text);
  if (ms === null) throw new UsageError(`Cannot read EFSBAK_GC_MIN_AGE "${text}": expected a duration like 1h`);
  return ms;
}

/** Text lines describing a lifecycle result. */
export function describeLifecycle(name: string, r: LifecycleResult, dryRun: boolean): string[] {
  const lines: string[] = [];
  const verb = (done: string, would: string) => (dryRun ? would : done);
  for (const d of r.decisions) {
    const what = d.action === "delete" ? verb("deleted", "would delete") : d.action === "cold" ? verb("moved to cold", "would move to cold") : "kept (EXPIRED)";
    lines.push(`${name}: recovery point ${d.rp} (${d.resource}) ${what}: ${d.reason}`);
  }
  if (r.gc) {
    const g = r.gc;
    lines.push(`${name}: ${verb("collected", "would collect")} garbage: ${formatCount(g.deletePacks.length)} packs to delete, ${formatCount(g.repackPacks.length)} to repack` +
      `${g.toCold ? ` (${formatCount(g.toCold)} blobs to the cold tier)` : ""}, ${formatCount(g.keptPacks)} kept; ${formatCount(g.deadBlobs)} unused blobs, ${formatBytes(g.bytesReclaimed)} to reclaim`);
    if (dryRun) for (const p of [...g.deletePacks, ...g.repackPacks]) lines.push(`  ${g.deletePacks.includes(p) ? "delete" : "repack"} ${p.tier} pack ${p.packId} (${formatBytes(p.size)}): ${p.reason}`);
  }
  if (r.gcDone) lines.push(`${name}: wrote ${r.gcDone.packsWritten} packs, deleted ${r.gcDone.packsDeleted}; reclaimed ${formatBytes(Math.max(0, r.gcDone.bytesDeleted - r.gcDone.bytesWritten))}`);
  const h = r.housekeeping;
  if (h) {
    for (const d of h.dead) lines.push(`${name}: job ${d.record.id} (${d.record.type}${d.record.resource ? ` of ${d.record.resource}` : ""}, ${d.record.state} since ${d.record.started_at ?? d.record.created_at}) ${verb("marked", "would be marked")} ABORTED: its process (host "${d.record.host}", pid ${d.record.pid}) is gone`);
    if (h.expiredJobs.length) lines.push(`${name}: ${verb("removed", "would remove")} ${formatCount(h.expiredJobs.length)} job records past the job retention`);
    if (h.leftovers.length) lines.push(`${name}: ${verb("removed", "would remove")} ${formatCount(h.leftovers.length)} temp files of interrupted saves (${formatBytes(h.leftovers.reduce((n, l) => n + l.size, 0))})`);
    if (h.keptLeftovers.length) lines.push(`${name}: kept ${formatCount(h.keptLeftovers.length)} temp files younger than the pack safety age (a save may still be writing them)`);
  }
  return lines;
}

/** The housekeeping part of prune's --json (planned under --dry-run, done otherwise). */
export function housekeepingJson(r: LifecycleResult): Record<string, unknown> | null {
  const h = r.housekeeping;
  if (!h) return null;
  return {
    jobs_aborted: (r.housekept?.aborted.map((j) => j.id)) ?? h.dead.map((d) => d.record.id),
    jobs_deleted: h.expiredJobs.length,
    leftovers_deleted: h.leftovers.map((l) => ({ tier: l.tier, key: l.key, size: l.size })),
    leftovers_kept: h.keptLeftovers.length,
  };
}

/** The prune command. */
export const pruneCommand = command({
  name: "prune",
  description: "apply lifecycle now (cold tier, expiry) and collect garbage; --dry-run prints the plan",
  args: {
    ...VAULT_ARG,
    "dry-run": { type: "boolean", description: "print what would be deleted, moved and repacked; change nothing" },
  },
  exitStatus: [...COMMON_EXIT, "4  a backup or another prune holds the vault's lock"],
  async run({ ctx, args }) {
    const target = ctx.vaultTarget(args.vault as string | undefined);
    const vault = await ctx.openVault(target);
    const dryRun = !!args["dry-run"];
    const progress = phaseProgress(ctx, { verb: "pruning", units: PRUNE_UNITS });
    const r = await applyLifecycle(vault, {
      vaultName: target.name,
      now: () => ctx.now(),
      lock: target.spec?.lock,
      dryRun,
      alwaysGc: true,
      minPackAgeMs: gcMinAge(ctx),
      jobRetentionMs: target.spec?.jobRetentionMs,
      settleMs: ctx.settleMs(target),
      signal: ctx.io.signal,
      onProgress: progress.update,
    }).finally(progress.done);
    const lines = describeLifecycle(target.name, r, dryRun);
    return {
      exitCode: 0,
      json: {
        dry_run: dryRun,
        job: r.job ? jobJson(r.job) : null,
        decisions: r.decisions,
        deleted: r.deleted,
        moved_cold: r.movedCold,
        gc: snakeKeys(r.gc),
        gc_done: snakeKeys(r.gcDone),
        housekeeping: housekeepingJson(r),
      },
      text: lines.length ? lines.join("\n") : "Nothing to do",
    };
  },
});
