/**
 * `efsbak drill`: restore testing on demand, and the restore tests `efsbak run` does when the
 * plans' `[[restore_tests]]` say they are due (the logic is in jobs/drill.ts).
 *
 *   drill:  resources (--resource, or every one with an AVAILABLE recovery point)
 *           for each: runDrill -> job; text or JSON; exit 1 any FAILED, 3 any PARTIAL, else 0
 *   run:    planRestoreTests  -> decideRestoreTests over the drill jobs of the vaults
 *           runRestoreTests   -> start: runDrill (scheduled_for = occurrence); expire: EXPIRED job
 */
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { EfsbakError, LockedError, UsageError } from "../errors.ts";
import { decideRestoreTests, jobsSince, type RestoreTestDecision } from "../jobs/due.ts";
import { runDrill, type DrillAlgorithm, type DrillDetails, type DrillProgress } from "../jobs/drill.ts";
import { listJobs, type JobRecord } from "../vault/job-record.ts";
import { recordExpired } from "../jobs/run.ts";
import { selectedResources, type Plans } from "../plan/plans.ts";
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import { VAULT_ARG, command } from "./command.ts";
import type { Context } from "./context.ts";
import { jobJson } from "./jobs.ts";
import { formatBytes, formatCount, formatSeconds, formatTime } from "./output.ts";
import { drillProgress } from "./progress.ts";

/** Mismatches printed per drill in text output (all of them are in --json and the job). */
const MAX_PRINTED = 20;

/** The drill command. */
export const drillCommand = command({
  name: "drill",
  description: "restore test: restore the latest (or a random) recovery point of each resource into a scratch directory, verify every file, record the result as a job",
  args: {
    ...VAULT_ARG,
    resource: { type: "string", description: "drill this resource (default: every resource with an AVAILABLE recovery point in the vault)", valueHint: "ID" },
    algorithm: { type: "string", description: "which recovery point: latest (default) or random", valueHint: "latest|random" },
    scratch: { type: "string", description: "make the scratch directory under DIR (default: $TMPDIR or /tmp); it is removed afterwards", valueHint: "DIR" },
  },
  repeatable: ["resource"],
  exitStatus: [
    "0  every drill restored and verified its recovery point",
    "1  a drill failed: a file did not verify (the job names it), or the restore failed",
    "2  usage error",
    "3  a drill ended PARTIAL: entries recorded as inconsistent at backup time could not be verified",
    "4  a prune holds the vault's lock",
  ],
  async run({ ctx, args, repeated }) {
    const algorithm = parseAlgorithm(args.algorithm as string | undefined);
    const target = ctx.vaultTarget(args.vault as string | undefined);
    const vault = await ctx.openVault(target);
    let resources = [...new Set(repeated.resource)];
    if (resources.length === 0) {
      resources = [...new Set((await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) })).filter((r) => r.status === "AVAILABLE").map((r) => r.resource))].sort();
      if (resources.length === 0) {
        throw new EfsbakError(`Cannot drill vault "${target.name}": it holds no AVAILABLE recovery point`, { exitCode: 1, hint: 'back up first ("efsbak backup RESOURCE" or "efsbak run"), then drill' });
      }
    }
    const jobs: JobRecord[] = [];
    for (const resource of resources) {
      jobs.push(await drillOne(ctx, vault, { vaultName: target.name, resource, algorithm, settleMs: ctx.settleMs(target), scratch: args.scratch as string | undefined }));
    }
    const failed = jobs.some((j) => j.state === "FAILED" || j.state === "ABORTED");
    const partial = jobs.some((j) => j.state === "PARTIAL");
    return { exitCode: failed ? 1 : partial ? 3 : 0, json: { jobs: jobs.map(jobJson) }, text: jobs.map(describeDrill).join("\n") };
  },
});

/** Runs one drill with progress on a TTY. */
async function drillOne(ctx: Context, vault: Vault, o: { vaultName: string; resource: string; algorithm: DrillAlgorithm; settleMs: number; scratch?: string; test?: string; scheduledFor?: Date | null; recordBlocked?: boolean }): Promise<JobRecord> {
  const progress = drillProgress<DrillProgress>(ctx, o.resource);
  ctx.log.info(`Drilling ${o.resource} (${o.algorithm} recovery point)`);
  return runDrill(vault, o.resource, {
    vaultName: o.vaultName,
    now: () => ctx.now(),
    scratch: scratchParent(ctx, o.scratch),
    algorithm: o.algorithm,
    random: Math.random,
    clock: () => performance.now(),
    test: o.test ?? null,
    scheduledFor: o.scheduledFor ?? null,
    recordBlocked: o.recordBlocked,
    settleMs: o.settleMs,
    signal: ctx.io.signal,
    onProgress: progress.update,
    onWarning: (m) => ctx.log.warn(`${o.resource}: ${m}`),
  }).finally(progress.done);
}

/** --scratch, else $TMPDIR, else the system's temp directory. */
function scratchParent(ctx: Context, scratch: string | undefined): string {
  if (scratch) return resolve(ctx.io.cwd, scratch);
  return ctx.io.env.TMPDIR || tmpdir();
}

function parseAlgorithm(text: string | undefined): DrillAlgorithm {
  if (text === undefined || text === "latest") return "latest";
  if (text === "random") return "random";
  throw new UsageError(`Cannot use --algorithm "${text}": expected "latest" or "random"`);
}

/** A drill job as text: the verdict line, then what did not verify. */
export function describeDrill(j: JobRecord): string {
  const d = (j.details ?? {}) as Partial<DrillDetails>;
  const test = j.rule ? `${j.rule} ` : "";
  const head = `${j.state.padEnd(9)} drill ${test}${j.resource}`;
  if (!d.recovery_point || d.time_to_restore_ms == null) return `${head}${j.error ? `: ${j.error}` : ""}`;
  const lines = [
    `${head}: recovery point ${d.recovery_point} (${formatTime(d.recovery_point_created_at)}) restored in ${formatSeconds(d.time_to_restore_ms / 1000)}, ` +
      `${formatCount(d.files_verified ?? 0)} files (${formatBytes(d.bytes_verified ?? 0)}), ${formatCount(d.dirs_verified ?? 0)} directories, ${formatCount(d.symlinks_verified ?? 0)} symlinks verified` +
      (d.verify_ms != null ? ` in ${formatSeconds(d.verify_ms / 1000)}` : ""),
  ];
  for (const m of (d.mismatches ?? []).slice(0, MAX_PRINTED)) lines.push(`  mismatch: ${m.path}: ${m.reason}`);
  const more = (d.mismatch_count ?? 0) - Math.min(MAX_PRINTED, d.mismatches?.length ?? 0);
  if (more > 0) lines.push(`  … and ${more} more (see "efsbak jobs --json")`);
  if (d.inconsistent?.length) lines.push(`  ${d.inconsistent.length} entries were recorded as inconsistent at backup time and went to efsbak-lost+found unverified`);
  if (j.state === "FAILED") lines.push(`  hint: run "efsbak check --read-data" to see which packs are damaged, and back up ${j.resource} again to store a fresh copy`);
  return lines.join("\n");
}

/** A restore-test decision with its vault resolved. */
export interface PlannedDrill extends RestoreTestDecision {
  vault: string;
}

/** The vault a restore test drills a resource in: its own, else that of the first rule selecting the resource, else the only vault. */
export function restoreTestVault(plans: Plans, decision: Pick<RestoreTestDecision, "vault" | "resource">): string | null {
  if (decision.vault) return decision.vault;
  for (const p of plans.plans) {
    if (p.rules[0] && selectedResources(plans, p).some((r) => r.id === decision.resource)) return p.rules[0].vault;
  }
  return plans.vaults.size === 1 ? [...plans.vaults.keys()][0] : null;
}

/** Decides which restore tests are due, from the drill jobs of the given vaults. */
export async function planRestoreTests(ctx: Context, options: { plans: Plans; vaults: Map<string, Vault | null>; jobs?: JobRecord[]; plan?: string; rule?: string }): Promise<PlannedDrill[]> {
  const { plans, vaults } = options;
  if (plans.restoreTests.length === 0 || options.plan !== undefined) return [];
  // Given by run (the jobs of its window, every vault); else read here.
  let jobs = options.jobs?.filter((j) => j.type === "drill");
  if (!jobs) {
    jobs = [];
    for (const v of vaults.values()) if (v) jobs.push(...(await listJobs(v, { type: "drill", since: jobsSince(plans, ctx.now()) })));
  }
  const out: PlannedDrill[] = [];
  for (const d of decideRestoreTests(plans, { now: ctx.now(), jobs })) {
    if (options.rule !== undefined && d.test !== options.rule) continue;
    const vault = restoreTestVault(plans, d);
    if (vault === null) {
      ctx.log.warn(`restore test ${d.test} ${d.resource}: no vault to drill in; set "vault" in the restore test`);
      continue;
    }
    out.push({ ...d, vault });
  }
  return out;
}

/** The JSON of a restore-test decision. */
export function restoreTestDecisionJson(d: PlannedDrill): Record<string, unknown> {
  return { action: d.action, restore_test: d.test, resource: d.resource, vault: d.vault, scheduled_for: d.scheduledFor?.toISOString() ?? null, reason: d.reason };
}

/** The text of a restore-test decision (dry run). */
export function describeRestoreTestDecision(d: PlannedDrill): string {
  return `${d.action.toUpperCase().padEnd(6)} drill ${d.test} ${d.resource} -> ${d.vault}: ${d.reason}`;
}

/** Carries out due restore tests: drills that are due, EXPIRED records for missed ones. */
export async function runRestoreTests(ctx: Context, options: { plans: Plans; decisions: PlannedDrill[]; vaults: Map<string, Vault | null> }): Promise<{ jobs: JobRecord[]; failed: boolean; blocked: boolean; lines: string[] }> {
  const { plans, decisions, vaults } = options;
  const jobs: JobRecord[] = [];
  const lines: string[] = [];
  let failed = false;
  let blocked = false;
  for (const d of decisions) {
    if (d.action === "skip") {
      ctx.log.verbose(`restore test ${d.test} ${d.resource}: ${d.reason}`);
      continue;
    }
    let vault = vaults.get(d.vault) ?? null;
    const target = ctx.vaultTarget(d.vault);
    try {
      if (!vault) {
        vault = await ctx.openVault(target);
        vaults.set(d.vault, vault);
      }
      if (d.action === "expire") {
        jobs.push(await recordExpired(vault, { type: "drill", vault: d.vault, plan: null, rule: d.test, resource: d.resource, scheduledFor: d.scheduledFor }, { now: () => ctx.now(), reason: d.reason }));
        ctx.log.warn(`restore test ${d.test} ${d.resource}: EXPIRED (${d.reason})`);
        lines.push(`${"EXPIRED".padEnd(9)} drill ${d.test} ${d.resource}  scheduled ${formatTime(d.scheduledFor?.toISOString())}`);
        continue;
      }
      const test = plans.restoreTests.find((t) => t.name === d.test)!;
      ctx.log.info(`restore test ${d.test}: drilling ${d.resource} (${d.reason})`);
      const job = await drillOne(ctx, vault, { vaultName: d.vault, resource: d.resource, algorithm: test.algorithm, settleMs: ctx.settleMs(target), test: d.test, scheduledFor: d.scheduledFor, recordBlocked: true });
      jobs.push(job);
      lines.push(describeDrill(job));
      if (job.state === "FAILED" || job.state === "ABORTED") failed = true;
    } catch (err) {
      if (err instanceof LockedError) blocked = true;
      else failed = true;
      ctx.log.error(`restore test ${d.test} ${d.resource}: ${err instanceof EfsbakError ? err.message : (err as Error)?.message}`);
      if (vault) {
        const latest = (await listJobs(vault, { type: "drill", resource: d.resource }).catch(() => []))[0];
        if (latest && latest.rule === d.test && latest.scheduled_for === (d.scheduledFor?.toISOString() ?? null)) {
          jobs.push(latest);
          lines.push(describeDrill(latest));
        }
      }
    }
  }
  return { jobs, failed, blocked, lines };
}
