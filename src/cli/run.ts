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
 */
import { EfsbakError, LockedError } from "../errors.ts";
import { runBackupJob } from "../jobs/backup-job.ts";
import { runCopyActions } from "./copy-actions.ts";
import { destinationEnv } from "./copy.ts";
import { decideDue, dueOccurrences, jobsSince, type Decision } from "../jobs/due.ts";
import { createJob, jobsForOccurrences, listJobEntries, listJobs, type JobRecord } from "../jobs/job.ts";
import { abortDeadJobs } from "../jobs/stale.ts";
import type { Plans } from "../plan/plans.ts";
import { applyLifecycle } from "../prune/lifecycle.ts";
import type { LifecycleDecision } from "../prune/policy.ts";
import { openVault, readConfig, type Vault } from "../vault/vault.ts";
import { adoptPlanLock } from "../vault/vault-lock.ts";
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
    const dir = (args.dir as string | undefined) ?? ctx.flags.plans ?? "plans";
    const plans = ctx.plans({ required: true })!;
    const dryRun = !!args["dry-run"];
    const concurrency = concurrencyArg(args.concurrency as string | undefined);
    const vaultNames = [...new Set(plans.plans.flatMap((p) => p.rules.map((r) => r.vault)))];
    const vaults = new Map<string, Vault | null>();
    const jobs: JobRecord[] = [];
    // Only the records that can change a decision, found through their due marks: a run costs
    // what its window needs, not the vault's history. A vault written before due marks (or an
    // occurrence without one) falls back to listing the window.
    const occurrences = dueOccurrences(plans, { now: ctx.now(), plan: args.plan as string | undefined, rule: args.rule as string | undefined });
    for (const name of vaultNames) {
      const target = ctx.vaultTarget(name);
      if (dryRun) {
        const { storage, cold } = ctx.storageOf(target);
        const config = await readConfig(storage);
        vaults.set(name, config ? await ctx.openVault(target) : null);
      } else {
        vaults.set(name, await ctx.openVault(target, { create: true }));
      }
      const v = vaults.get(name);
      if (!v) continue;
      const found = await jobsForOccurrences(v, occurrences.filter((o) => (o.vault ?? restoreTestVault(plans, { vault: null, resource: o.resource })) === name));
      let entries = found.jobs;
      if (!found.complete) entries = [...entries, ...(await listJobEntries(v, { since: jobsSince(plans, ctx.now()) }))];
      // A job of this window whose process died (kill -9, power loss) is ABORTED now, not RUNNING forever.
      if (!dryRun) {
        const aborted = new Map((await abortDeadJobs(v, entries, { now: ctx.now(), by: "run" })).map((j) => [j.id, j]));
        for (const j of aborted.values()) ctx.log.warn(`${name}: job ${j.id} (${j.type} of ${j.resource ?? "the vault"}) marked ABORTED: its process ended without finishing it`);
        entries = entries.map((e) => (aborted.has(e.record.id) ? { ...e, record: aborted.get(e.record.id)! } : e));
      }
      jobs.push(...entries.map((e) => e.record));
    }
    const decisions = decideDue(plans, { now: ctx.now(), jobs, plan: args.plan as string | undefined, rule: args.rule as string | undefined });
    const drillDecisions = await planRestoreTests(ctx, { plans, vaults, jobs, plan: args.plan as string | undefined, rule: args.rule as string | undefined });
    if (dryRun) return dryRunOutcome(ctx, plans, vaults, decisions, drillDecisions);

    const done: JobRecord[] = [];
    let failed = false;
    let blocked = false;
    for (const d of decisions) {
      const vault = vaults.get(d.vault)!;
      if (d.action === "skip") {
        ctx.log.verbose(`${d.plan}/${d.rule} ${d.resource}: ${d.reason}`);
        continue;
      }
      if (d.action === "expire") {
        const job = await createJob(vault, { type: "backup", vault: d.vault, plan: d.plan, rule: d.rule, resource: d.resource, scheduledFor: d.scheduledFor, state: "EXPIRED" }, { now: ctx.now() });
        await job.update({ ended_at: ctx.now().toISOString(), error: `Not started: ${d.reason}` });
        ctx.log.warn(`${d.plan}/${d.rule} ${d.resource}: EXPIRED (${d.reason})`);
        done.push(job.record);
        continue;
      }
      const rule = plans.plans.find((p) => p.name === d.plan)!.rules.find((r) => r.name === d.rule)!;
      const res = plans.resources.get(d.resource)!;
      ctx.log.info(`${d.plan}/${d.rule}: backing up ${d.resource} (${d.reason})`);
      const scan = backupScan(ctx, res.path);
      const progress = backupProgress(ctx, await backupEstimate(ctx, { vault, resource: res.id }), scan);
      try {
        const job = await runBackupJob(vault, { id: res.id, path: res.path, exclude: res.exclude, excludeIfPresent: res.excludeIfPresent, oneFileSystem: res.oneFileSystem, concurrency: concurrency ?? res.concurrency }, {
          vaultName: d.vault,
          now: () => ctx.now(),
          plan: d.plan,
          rule: d.rule,
          scheduledFor: d.scheduledFor,
          tags: rule.recoveryPointTags,
          coldAfterMs: rule.coldAfterMs,
          deleteAfterMs: rule.deleteAfterMs,
          recordBlocked: true,
          deadline: d.scheduledFor ? new Date(d.scheduledFor.getTime() + rule.completionWindowMs) : null,
          signal: ctx.io.signal,
          settleMs: ctx.settleMs(ctx.vaultTarget(d.vault)),
          onProgress: progress.update,
          onWarning: (m) => ctx.log.warn(`${d.resource}: ${m}`),
          hooks: [
            ...(rule.hooks ? [{ ...rule.hooks, from: `rule "${d.plan}/${d.rule}"` }] : []),
            ...(res.hooks ? [{ ...res.hooks, from: `resource "${res.id}"` }] : []),
          ],
        }).finally(() => {
          scan?.stop();
          progress.done();
        });
        done.push(job);
        if (rule.copyActions?.length && job.recovery_point && (job.state === "COMPLETED" || job.state === "PARTIAL")) {
          const copies = await runCopyActions(ctx, { rule, plan: d.plan, vaultName: d.vault, rpId: job.recovery_point });
          done.push(...copies.jobs);
          failed ||= copies.failed;
          blocked ||= copies.blocked;
        }
      } catch (err) {
        if (err instanceof LockedError) {
          blocked = true;
          ctx.log.error(`${d.plan}/${d.rule} ${d.resource}: ${err.message}`);
          const latest = (await listJobs(vault, { type: "backup", resource: d.resource }))[0];
          if (latest) done.push(latest);
          continue;
        }
        failed = true;
        ctx.log.error(`${d.plan}/${d.rule} ${d.resource}: backup failed: ${err instanceof EfsbakError ? err.message : (err as Error)?.message}`);
        const latest = (await listJobs(vault, { type: "backup", resource: d.resource }))[0];
        if (latest) done.push(latest);
      }
    }

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
      const spec = plans.vaults.get(name);
      try {
        // Reopen: the backups above added index files this vault object has not read.
        let fresh: Vault;
        if (copyTarget) {
          const toCtx = createContext({ ...ctx.io, env: destinationEnv(ctx.io.env, ctx.vaultTarget(name)) }, ctx.flags);
          const target = toCtx.vaultTarget(name);
          if (!(await readConfig(toCtx.storageOf(target).storage))) continue; // no copy made it yet
          fresh = await toCtx.openVault(target);
        } else fresh = await ctx.openVault(ctx.vaultTarget(name));
        if (spec?.lock) {
          // A lock in the plans that is stricter than the vault's goes into the vault, so every
          // prune from anywhere enforces it; a looser one never loosens the vault's.
          const adopted = await adoptPlanLock(fresh, spec.lock, { now: ctx.now() });
          if (adopted.changed) ctx.log.warn(`${name}: vault lock tightened from the plans (${spec.file}): it is stored in the vault now, and can never be loosened`);
          if (adopted.looser) ctx.log.warn(`${name}: the plans' vault lock is looser than the one stored in the vault; the vault's applies (see "efsbak vault lock --vault ${name}")`);
        }
        const r = await applyLifecycle(fresh, { vaultName: name, now: () => ctx.now(), lock: spec?.lock, minPackAgeMs: gcMinAge(ctx), jobRetentionMs: spec?.jobRetentionMs, settleMs: ctx.settleMs(ctx.vaultTarget(name)), signal: ctx.io.signal });
        lifecycle[name] = { decisions: r.decisions, deleted: r.deleted, moved_cold: r.movedCold };
        lifecycleLines.push(...describeLifecycle(name, r, false));
      } catch (err) {
        if (err instanceof LockedError) {
          ctx.log.warn(`${name}: lifecycle skipped this time: ${err.message}`);
          continue;
        }
        failed = true;
        ctx.log.error(`${name}: lifecycle failed: ${err instanceof EfsbakError ? err.message : (err as Error)?.message}`);
      }
    }

    const partial = done.some((j) => j.state === "PARTIAL" || j.state === "EXPIRED");
    const exitCode = failed ? 1 : blocked ? 4 : partial ? 3 : 0;
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
