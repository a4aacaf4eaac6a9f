/**
 * `efsbak report --since 24h`: for audit, what happened per resource in a period, read from
 * the vaults (job records and recovery points): jobs by type and outcome, the newest
 * recovery point and its age, the newest drill, and the problems an auditor should see.
 *
 *   vaults: --vault, else every vault the plans name
 *   resources: those the plans back up into the vault, plus any with jobs or recovery points
 *   per resource: counts of backup / drill / restore jobs created in [since, now] by outcome,
 *     recovery points, newest AVAILABLE one and its age, newest drill
 *   problems: failed or expired jobs, no recovery point, none newer than --since
 */
import { UsageError } from "../errors.ts";
import { listJobs, type JobRecord } from "../vault/job-record.ts";
import { formatDuration, parseDuration } from "../plan/duration.ts";
import { selectedResources, type Plans } from "../plan/plans.ts";
import { listRecoveryPoints, type RecoveryPoint } from "../vault/recovery-point.ts";
import { VAULT_ARG, command } from "./command.ts";
import type { Context } from "./context.ts";
import { formatBytes, formatCount, formatTime, table } from "./output.ts";

/** Job counts by outcome. */
export interface OutcomeCounts {
  succeeded: number;
  failed: number;
  expired: number;
  partial: number;
  aborted: number;
  running: number;
}

/** One resource's line of the report. */
export interface ResourceReport {
  vault: string;
  resource: string;
  backups: OutcomeCounts;
  drills: OutcomeCounts;
  restores: OutcomeCounts;
  recovery_points: number;
  newest_recovery_point: { id: string; created_at: string; age_seconds: number } | null;
  last_backup: { state: string; ended_at: string | null; error: string | null } | null;
  last_drill: { state: string; ended_at: string | null; recovery_point: string | null; time_to_restore_ms: number | null; files_verified: number | null } | null;
  problems: string[];
}

/** One vault's totals. */
export interface VaultReport {
  vault: string;
  recovery_points: number;
  bytes: { warm: number; cold: number };
  /** Vault-wide jobs (prune, check) in the period, by outcome. */
  prunes: OutcomeCounts;
  checks: OutcomeCounts;
}

function emptyCounts(): OutcomeCounts {
  return { succeeded: 0, failed: 0, expired: 0, partial: 0, aborted: 0, running: 0 };
}

function count(c: OutcomeCounts, state: string): void {
  if (state === "COMPLETED") c.succeeded++;
  else if (state === "FAILED") c.failed++;
  else if (state === "EXPIRED") c.expired++;
  else if (state === "PARTIAL") c.partial++;
  else if (state === "ABORTED") c.aborted++;
  else c.running++;
}

/** Builds the report of one vault from its records. Pure. */
export function reportVault(name: string, input: { jobs: JobRecord[]; rps: RecoveryPoint[]; packs: { tier: "warm" | "cold"; size: number }[]; resources: string[]; since: Date; now: Date }): { vault: VaultReport; resources: ResourceReport[] } {
  const sinceIso = input.since.toISOString();
  const inPeriod = input.jobs.filter((j) => j.created_at >= sinceIso && j.created_at <= input.now.toISOString());
  const ids = new Set(input.resources);
  for (const j of inPeriod) if (j.resource && (j.type === "backup" || j.type === "drill")) ids.add(j.resource);
  for (const rp of input.rps) ids.add(rp.resource);
  const vault: VaultReport = { vault: name, recovery_points: input.rps.length, bytes: { warm: 0, cold: 0 }, prunes: emptyCounts(), checks: emptyCounts() };
  for (const p of input.packs) vault.bytes[p.tier] += p.size;
  for (const j of inPeriod) {
    if (j.type === "prune") count(vault.prunes, j.state);
    if (j.type === "check") count(vault.checks, j.state);
  }
  const resources: ResourceReport[] = [];
  for (const id of [...ids].sort()) {
    const r: ResourceReport = {
      vault: name, resource: id, backups: emptyCounts(), drills: emptyCounts(), restores: emptyCounts(),
      recovery_points: 0, newest_recovery_point: null, last_backup: null, last_drill: null, problems: [],
    };
    for (const j of inPeriod) {
      if (j.resource !== id) continue;
      if (j.type === "backup") count(r.backups, j.state);
      else if (j.type === "drill") count(r.drills, j.state);
      else if (j.type === "restore") count(r.restores, j.state);
    }
    const rps = input.rps.filter((rp) => rp.resource === id);
    r.recovery_points = rps.length;
    const newest = rps.filter((rp) => rp.status === "AVAILABLE").sort((a, b) => (a.created_at < b.created_at ? 1 : -1))[0];
    if (newest) r.newest_recovery_point = { id: newest.id, created_at: newest.created_at, age_seconds: Math.max(0, Math.round((input.now.getTime() - Date.parse(newest.created_at)) / 1000)) };
    // Newest first (listJobs order): the last backup and drill of any time, not only the period.
    const lastBackup = input.jobs.find((j) => j.type === "backup" && j.resource === id);
    if (lastBackup) r.last_backup = { state: lastBackup.state, ended_at: lastBackup.ended_at, error: lastBackup.error };
    const lastDrill = input.jobs.find((j) => j.type === "drill" && j.resource === id);
    if (lastDrill) {
      const d = (lastDrill.details ?? {}) as { time_to_restore_ms?: number | null; files_verified?: number };
      r.last_drill = { state: lastDrill.state, ended_at: lastDrill.ended_at, recovery_point: lastDrill.recovery_point, time_to_restore_ms: d.time_to_restore_ms ?? null, files_verified: d.files_verified ?? null };
    }
    if (r.backups.failed) r.problems.push(`${r.backups.failed} backup${r.backups.failed === 1 ? "" : "s"} failed`);
    if (r.backups.expired) r.problems.push(`${r.backups.expired} scheduled backup${r.backups.expired === 1 ? "" : "s"} expired (not started in the start window)`);
    if (r.backups.partial) r.problems.push(`${r.backups.partial} backup${r.backups.partial === 1 ? "" : "s"} ended PARTIAL`);
    if (r.drills.failed) r.problems.push(`${r.drills.failed} drill${r.drills.failed === 1 ? "" : "s"} failed`);
    if (r.drills.expired) r.problems.push(`${r.drills.expired} scheduled drill${r.drills.expired === 1 ? "" : "s"} expired`);
    if (!newest) r.problems.push("no AVAILABLE recovery point");
    else if (newest.created_at < sinceIso) r.problems.push(`no recovery point since ${formatTime(sinceIso)} (newest is ${formatDuration(r.newest_recovery_point!.age_seconds * 1000) || "0s"} old)`);
    resources.push(r);
  }
  return { vault, resources };
}

/** "24h" (before now) or an ISO time -> the start of the period. */
export function parseSince(text: string, now: Date): Date {
  const ms = parseDuration(text);
  if (ms !== null && ms > 0) return new Date(now.getTime() - ms);
  const t = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isNaN(t)) return new Date(t);
  throw new UsageError(`Cannot read --since "${text}": expected a duration like 24h or 7d, or an ISO-8601 time`);
}

/** The vaults to report on: --vault, else every vault the plans name. */
function reportVaults(ctx: Context, ref: string | undefined, plans: Plans | null): string[] {
  if (ref !== undefined) return [ref];
  if (plans && plans.vaults.size > 0) return [...plans.vaults.keys()];
  ctx.vaultTarget(undefined); // throws the usual "which vault" error
  return [];
}

/** Resource ids the plans back up into a vault. */
function plannedResources(plans: Plans | null, vault: string): string[] {
  if (!plans) return [];
  const ids = new Set<string>();
  for (const p of plans.plans) {
    if (!p.rules.some((r) => r.vault === vault)) continue;
    for (const r of selectedResources(plans, p)) ids.add(r.id);
  }
  return [...ids];
}

function countsText(c: OutcomeCounts): string {
  return `${c.succeeded}/${c.failed}/${c.expired}/${c.partial}`;
}

function age(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  return formatDuration(Math.floor(seconds / 60) * 60_000);
}

/** The report command. */
export const reportCommand = command({
  name: "report",
  description: "summarize jobs and recovery points per resource over a period (for audit): succeeded, failed, expired, newest recovery point age",
  args: {
    ...VAULT_ARG,
    since: { type: "string", description: "the period: a duration before now (default 24h) or an ISO-8601 time", valueHint: "DURATION|TIME" },
    resource: { type: "string", description: "only this resource", valueHint: "ID" },
  },
  exitStatus: ["0  the report was made (problems it lists do not change the exit status)", "1  failure (a vault could not be read)", "2  usage or plan error"],
  async run({ ctx, args }) {
    const now = ctx.now();
    const since = parseSince((args.since as string | undefined) ?? "24h", now);
    const plans = ctx.plans();
    const vaults: VaultReport[] = [];
    const resources: ResourceReport[] = [];
    for (const name of reportVaults(ctx, args.vault as string | undefined, plans)) {
      const target = ctx.vaultTarget(name);
      const vault = await ctx.openVault(target);
      const [jobs, rps] = await Promise.all([listJobs(vault, {}, { onDamage: (e) => ctx.log.warn(e.message) }), listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) })]);
      const r = reportVault(target.name, { jobs, rps, packs: vault.index.packList(), resources: plannedResources(plans, name), since, now });
      vaults.push(r.vault);
      resources.push(...r.resources.filter((x) => !args.resource || x.resource === args.resource));
    }
    const rows = resources.map((r) => [
      r.vault, r.resource, countsText(r.backups), countsText(r.drills), String(r.recovery_points),
      r.newest_recovery_point ? formatTime(r.newest_recovery_point.created_at) : "-", r.newest_recovery_point ? age(r.newest_recovery_point.age_seconds) : "-",
      r.last_drill ? r.last_drill.state : "-",
    ]);
    const lines = [
      `Report from ${formatTime(since.toISOString())} to ${formatTime(now.toISOString())}`,
      "",
      resources.length ? table(["VAULT", "RESOURCE", "BACKUPS ok/failed/expired/partial", "DRILLS ok/failed/expired/partial", "RPS", "NEWEST RP", "AGE", "LAST DRILL"], rows) : "No resources",
      "",
      ...vaults.map((v) => `vault ${v.vault}: ${formatCount(v.recovery_points)} recovery points, ${formatBytes(v.bytes.warm)} warm, ${formatBytes(v.bytes.cold)} cold; prunes ${countsText(v.prunes)}, checks ${countsText(v.checks)}`),
    ];
    const problems = resources.flatMap((r) => r.problems.map((p) => `${r.vault}/${r.resource}: ${p}`));
    lines.push("", problems.length ? `Problems:\n${problems.map((p) => `  ${p}`).join("\n")}` : "No problems");
    return {
      exitCode: 0,
      json: { since: since.toISOString(), until: now.toISOString(), vaults, resources },
      text: lines.join("\n"),
    };
  },
});
