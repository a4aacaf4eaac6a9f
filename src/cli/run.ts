/**
 * `efsbak run [DIR]`: do what the plans say is due.
 *
 *   load plans (invalid: exit 2, nothing runs)
 *   read the job records of every vault the plans name (state lives in the vault)
 *   decideDue(plans, now, jobs) -> start | expire | skip, each with a reason
 *   --dry-run: print the decisions (and lifecycle's), change nothing
 *   start: backup job (a held lease: recorded FAILED); expire: one EXPIRED job
 *   restore tests the same way (decideRestoreTests): drill jobs, EXPIRED for missed ones (cli/drill.ts)
 *   lifecycle on every vault
 *   exit: 1 any failure, else 4 a lease blocked a job, else 3 any PARTIAL/EXPIRED, else 0
 *
 * The loop over the decisions, lifecycle's per vault and the exit policy are jobs/run.ts's;
 * this file parses the arguments, opens the vaults, and prints.
 */
import { runCopyActions } from "./copy-actions.ts";
import { destinationEnv } from "./copy.ts";
import { decideDue, dueOccurrences, type Decision } from "../jobs/due.ts";
import type { JobRecord } from "../vault/job-record.ts";
import { runDueBackups, runExitCode, runVaultLifecycle, windowJobs } from "../jobs/run.ts";
import type { Plans } from "../plan/plans.ts";
import { applyLifecycle } from "../prune/lifecycle.ts";
import type { LifecycleDecision } from "../prune/policy.ts";
import { readConfig, type Vault } from "../vault/vault.ts";
import { command } from "./command.ts";
import { type Context, createContext } from "./context.ts";
import { describeRestoreTestDecision, planRestoreTests, restoreTestVault, restoreTestDecisionJson, runRestoreTests, type PlannedDrill } from "./drill.ts";
import { jobJson } from "./jobs.ts";
import { formatTime } from "./output.ts";
import { backupEstimate, backupProgress, backupScan } from "./progress.ts";
import { concurrencyArg } from "./backup.ts";
import { describeLifecycle, gcMinAge } from "./prune.ts";

/** The run command. */
export const runCommandDef = command({
  name: "run",
  description: "start the backups and restore tests that are due, record missed ones as EXPIRED, apply lifecycle",
  args: {
    dir: { type: "positional", description: "plans directory (default: --plans or \"plans\")", required: false },
    "dry-run": { type: "boolean", description: "print each decision and why; change nothing" },
    plan: { type: "string", description: "only this plan", valueHint: "NAME" },
    rule: { type: "string", description: "only this rule", valueHint: "NAME" },
    concurrency: { type: "string", description: "file system requests in flight for every backup (default: each resource's concurrency, else 64)", valueHint: "N" },
  },
  exitStatus: [
    "0  every due job completed (or nothing was due)",
    "1  a job failed (a backup, or a drill that did not verify)",
    "2  the plans are invalid (nothing ran)",
    "3  a job (backup or drill) ended PARTIAL or EXPIRED",
    "4  a lease blocked a job (another backup of the resource, or a prune, was running)",
  ],
  async run({ ctx, args }) {
    if (args.dir !== undefined) ctx.usePlansDir(args.dir as string);
    const plans = ctx.plans({ required: true })!;
    const dryRun = !!args["dry-run"];
    const concurrency = concurrencyArg(args.concurrency as string | undefined);
    const vaultNames = [...new Set(plans.plans.flatMap((p) => p.rules.map((r) => r.vault)))];
    const vaults = new Map<string, Vault | null>();
    const jobs: JobRecord[] = [];
    // Only the records that can change a decision, found through their due marks: a run costs
    // what its window needs, not the vault's history.
    const occurrences = dueOccurrences(plans, { now: ctx.now(), plan: args.plan as string | undefined, rule: args.rule as string | undefined });
    for (const name of vaultNames) {
      const target = ctx.vaultTarget(name);
      if (dryRun) {
        const config = await readConfig(ctx.storageOf(target).storage);
        vaults.set(name, config ? await ctx.openVault(target) : null);
      } else {
        vaults.set(name, await ctx.openVault(target, { create: true }));
      }
      const v = vaults.get(name);
      if (!v) continue;
      const own = occurrences.filter((o) => (o.vault ?? restoreTestVault(plans, { vault: null, resource: o.resource })) === name);
      jobs.push(...(await windowJobs(v, own, {
        plans,
        now: () => ctx.now(),
        dryRun,
        onAborted: (j) => ctx.log.warn(`${name}: job ${j.id} (${j.type} of ${j.resource ?? "the vault"}) marked ABORTED: its process ended without finishing it`),
      })));
    }
    const decisions = decideDue(plans, { now: ctx.now(), jobs, plan: args.plan as string | undefined, rule: args.rule as string | undefined });
    const drillDecisions = await planRestoreTests(ctx, { plans, vaults, jobs, plan: args.plan as string | undefined, rule: args.rule as string | undefined });
    if (dryRun) return dryRunOutcome(ctx, plans, vaults, decisions, drillDecisions);

    const backups = await runDueBackups(decisions, {
      plans,
      vaults,
      now: () => ctx.now(),
      signal: ctx.io.signal,
      concurrency,
      directReads: ctx.io.env.EFSBAK_DIRECT_IO !== "0",
      log: ctx.log,
      settleMs: (name) => ctx.settleMs(ctx.vaultTarget(name)),
      async progress(vault, res) {
        const scan = backupScan(ctx, res.path);
        const line = backupProgress(ctx, await backupEstimate(ctx, { vault, resource: res.id }), scan);
        return { update: line.update, done: () => (scan?.stop(), line.done()) };
      },
      copy: (rule, d, rpId) => runCopyActions(ctx, { rule, plan: d.plan, vaultName: d.vault, rpId }),
    });
    const done = backups.jobs;
    let failed = backups.failed;
    let blocked = backups.blocked;

    // Restore tests after the backups, so a drill may test the recovery point just made.
    const drills = await runRestoreTests(ctx, { plans, decisions: drillDecisions, vaults });
    done.push(...drills.jobs);
    failed ||= drills.failed;
    blocked ||= drills.blocked;

    const lifecycle: Record<string, { decisions: LifecycleDecision[]; deleted: string[]; moved_cold: string[] }> = {};
    const lifecycleLines: string[] = [];
    // Vaults that copy actions fill get their lifecycle too, opened with their own password
    // sources (as copy opens them); one that no copy has made yet has nothing to apply.
    const copyTargets = [...new Set(plans.plans.flatMap((p) => p.rules.flatMap((r) => (r.copyActions ?? []).map((a) => a.vault))))].filter((n) => !vaults.has(n));
    const targets: [string, Vault | null, boolean][] = [...[...vaults].map(([n, v]): [string, Vault | null, boolean] => [n, v, false]), ...copyTargets.map((n): [string, Vault | null, boolean] => [n, null, true])];
    for (const [name, vault, copyTarget] of targets) {
      if (!vault && !copyTarget) continue;
      const reopen = async (): Promise<Vault | null> => {
        if (!copyTarget) return ctx.openVault(ctx.vaultTarget(name));
        const toCtx = createContext({ ...ctx.io, env: destinationEnv(ctx.io.env, ctx.vaultTarget(name)) }, ctx.flags);
        const target = toCtx.vaultTarget(name);
        return (await readConfig(toCtx.storageOf(target).storage)) ? toCtx.openVault(target) : null;
      };
      const outcome = await runVaultLifecycle(name, reopen, { spec: plans.vaults.get(name), now: () => ctx.now(), minPackAgeMs: gcMinAge(ctx), settleMs: ctx.settleMs(ctx.vaultTarget(name)), signal: ctx.io.signal, log: ctx.log });
      if (outcome && "failed" in outcome) failed = true;
      if (!outcome || !("result" in outcome)) continue;
      const r = outcome.result;
      lifecycle[name] = { decisions: r.decisions, deleted: r.deleted, moved_cold: r.movedCold };
      lifecycleLines.push(...describeLifecycle(name, r, false));
    }

    const exitCode = runExitCode({ jobs: done, failed, blocked });
    const lines = done.filter((j) => j.type !== "drill").map((j) => `${j.state.padEnd(9)} ${j.plan}/${j.rule} ${j.resource}  scheduled ${formatTime(j.scheduled_for)}${j.recovery_point ? `  -> ${j.recovery_point}` : ""}${j.error ? `  (${j.error})` : ""}`);
    lines.push(...drills.lines, ...lifecycleLines);
    return {
      exitCode,
      json: { jobs: done.map(jobJson), decisions: decisions.map(decisionJson), restore_tests: drillDecisions.map(restoreTestDecisionJson), lifecycle, vault_created: ctx.createdVaults.length > 0, vaults_created: ctx.createdVaults },
      text: lines.length ? lines.join("\n") : "Nothing due",
    };
  },
});

function decisionJson(d: Decision): Record<string, unknown> {
  return { action: d.action, plan: d.plan, rule: d.rule, resource: d.resource, vault: d.vault, scheduled_for: d.scheduledFor?.toISOString() ?? null, reason: d.reason };
}

async function dryRunOutcome(ctx: Context, plans: Plans, vaults: Map<string, Vault | null>, decisions: Decision[], drillDecisions: PlannedDrill[] = []) {
  const lifecycle: Record<string, LifecycleDecision[]> = {};
  const lines = decisions.map((d) => `${d.action.toUpperCase().padEnd(6)} ${d.plan}/${d.rule} ${d.resource} -> ${d.vault}: ${d.reason}`);
  lines.push(...drillDecisions.map(describeRestoreTestDecision));
  for (const [name, vault] of vaults) {
    if (!vault) {
      lines.push(`CREATE vault ${name}: it does not exist yet`);
      continue;
    }
    const r = await applyLifecycle(vault, { vaultName: name, now: () => ctx.now(), lock: plans.vaults.get(name)?.lock, dryRun: true, minPackAgeMs: gcMinAge(ctx) });
    lifecycle[name] = r.decisions;
    lines.push(...describeLifecycle(name, r, true));
  }
  return { exitCode: 0, json: { dry_run: true, decisions: decisions.map(decisionJson), restore_tests: drillDecisions.map(restoreTestDecisionJson), lifecycle }, text: lines.length ? lines.join("\n") : "Nothing due" };
}
