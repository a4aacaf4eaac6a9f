/** `efsbak check`: verify a vault's structure, and with --read-data its data. */
import { UsageError } from "../errors.ts";
import { runCheckJob } from "../jobs/check-job.ts";
import { COMMON_EXIT, VAULT_ARG, command } from "./command.ts";
import { formatBytes, formatCount, snakeKeys } from "./output.ts";
import { jobJson, readOnlyWarning } from "./jobs.ts";
import { phaseProgress } from "./progress.ts";

const CHECK_UNITS: Record<string, string> = { index: " index files", packs: " packs", "read-data": " packs", "recovery-points": " recovery points", trees: " trees" };

/** The check command. */
export const checkCommand = command({
  name: "check",
  description: "verify vault structure; --read-data re-reads and re-hashes all data (or --read-data=10%)",
  args: {
    ...VAULT_ARG,
    "read-data": { type: "string", description: "also read and verify data: all, or a random share like 10%", valueHint: "PERCENT" },
  },
  implied: { "read-data": "100%" },
  exitStatus: ["0  no problems found", "1  damage found (each problem names the object and the recovery points it affects)", "2  usage error", "4  a prune holds the vault's lock"],
  async run({ ctx, args }) {
    const target = ctx.vaultTarget(args.vault as string | undefined);
    // A damaged index file must not stop check from running: check reads the index files
    // itself and reports each damaged one.
    const opened = await ctx.openVault(target, { readOnly: true, onIndexDamage: () => {} });
    const readData = parseShare(args["read-data"] as string | undefined);
    const { report, job } = await runCheckJob(opened, {
      vaultName: target.name,
      readData: readData === null ? false : { share: readData },
      now: () => ctx.now(),
      settleMs: ctx.settleMs(target),
      signal: ctx.io.signal,
      onWarning: (m) => ctx.log.warn(m),
      onReadOnly: readOnlyWarning(ctx, target.name, "check"),
      startProgress: () => phaseProgress(ctx, { verb: "checking", units: CHECK_UNITS }),
    });
    const damaged = report.problems.length > 0;
    const lines = [
      `Checked ${target.name}: ${formatCount(report.recoveryPoints)} recovery points, ${formatCount(report.trees)} trees, ${formatCount(report.blobs)} blobs, ${formatCount(report.packs)} packs` +
        (readData !== null ? `; read ${formatCount(report.packsRead)} packs (${formatBytes(report.bytesRead)})` : ""),
    ];
    if (report.leftovers.length) lines.push(`${report.leftovers.length} temp files of interrupted saves (${formatBytes(report.leftovers.reduce((n, l) => n + l.size, 0))}): not damage; prune removes those older than the pack safety age`);
    if (report.unindexedPacks.length) lines.push(`${report.unindexedPacks.length} packs are not indexed yet (left by an interrupted backup; the next backup adopts them)`);
    for (const p of report.problems) lines.push(`damage: ${p.object}: ${p.message}${p.recoveryPoints.length ? ` (affects recovery points ${p.recoveryPoints.join(", ")})` : ""}`);
    lines.push(damaged ? `${report.problems.length} problems found\nhint: restore affected recovery points anyway: what is intact goes back in place and the rest to efsbak-lost+found; back up the resources again to store fresh copies` : "No problems found");
    return { exitCode: damaged ? 1 : 0, json: { job: job ? jobJson(job.record) : null, ...(snakeKeys(report) as object) }, text: lines.join("\n") };
  },
});

/** "100%", "10%", "0.1" -> share; undefined -> null. */
function parseShare(text: string | undefined): number | null {
  if (text === undefined) return null;
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  const v = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!(v > 0 && v <= 1)) throw new UsageError(`Cannot read --read-data "${text}": expected a share like 10% (or nothing, for all)`);
  return v;
}
