/**
 * What `efsbak run` should do now, decided from the plans, the clock and the job records
 * already in the vaults. Pure: no I/O, no clock of its own, so two runners with the same
 * plans and vault agree, and `--dry-run` prints exactly what a real run would do.
 *
 *   for each plan × rule × selected resource (and each restore test × selected resource):
 *     occurrence = most recent scheduled time <= now          none → skip
 *     a job for (type, plan, rule, resource, occurrence) exists  → skip (any state)
 *     now < occurrence + start window                           → start
 *     otherwise                                                 → expire (one EXPIRED record)
 *
 * Only the most recent occurrence counts: older missed ones are not recorded.
 */
import { resourcesMatching, selectedResources, type Plans } from "../plan/plans.ts";
import { previousOccurrence, type Schedule } from "../plan/schedule.ts";

/** The fields of a job record that the decision needs. */
export interface JobSummary {
  id: string;
  type: string;
  plan: string | null;
  rule: string | null;
  resource: string | null;
  scheduled_for: string | null;
  state: string;
  started_at: string | null;
}

/** What to do for one rule and resource, and why. */
export interface Decision {
  action: "start" | "expire" | "skip";
  plan: string;
  rule: string;
  resource: string;
  vault: string;
  scheduledFor: Date | null;
  reason: string;
}

/** What to do for one restore test and resource, and why; jobs of type "drill", plan null. */
export interface RestoreTestDecision {
  action: "start" | "expire" | "skip";
  test: string;
  resource: string;
  vault: string | null;
  scheduledFor: Date | null;
  reason: string;
}

/** Options of decideDue. */
export interface DueOptions {
  now: Date;
  jobs: JobSummary[];
  /** Only this plan. */
  plan?: string;
  /** Only rules of this name. */
  rule?: string;
}

interface Verdict {
  action: "start" | "expire" | "skip";
  scheduledFor: Date | null;
  reason: string;
}

interface Timing {
  schedule: Schedule;
  timezone: string;
  startWindowMs: number;
}

/** Decides, for every rule × selected resource, whether to start, expire or skip; in plan, rule, resource order. */
export function decideDue(plans: Plans, options: DueOptions): Decision[] {
  const decisions: Decision[] = [];
  for (const plan of plans.plans) {
    if (options.plan !== undefined && plan.name !== options.plan) continue;
    const resources = selectedResources(plans, plan);
    for (const rule of plan.rules) {
      if (options.rule !== undefined && rule.name !== options.rule) continue;
      for (const resource of resources) {
        const key = { type: "backup", plan: plan.name, rule: rule.name, resource: resource.id };
        const verdict = decide(rule, key, options.now, options.jobs);
        decisions.push({ ...verdict, plan: plan.name, rule: rule.name, resource: resource.id, vault: rule.vault });
      }
    }
  }
  return decisions;
}

/** Decides, for every restore test × selected resource, whether a drill starts, expires or is skipped. */
export function decideRestoreTests(plans: Plans, options: { now: Date; jobs: JobSummary[] }): RestoreTestDecision[] {
  const decisions: RestoreTestDecision[] = [];
  for (const test of plans.restoreTests) {
    for (const resource of resourcesMatching(plans, [test])) {
      const key = { type: "drill", plan: null, rule: test.name, resource: resource.id };
      const verdict = decide(test, key, options.now, options.jobs);
      decisions.push({ ...verdict, test: test.name, resource: resource.id, vault: test.vault ?? null });
    }
  }
  return decisions;
}

function decide(
  timing: Timing,
  key: { type: string; plan: string | null; rule: string; resource: string },
  now: Date,
  jobs: JobSummary[],
): Verdict {
  const occurrence = previousOccurrence(timing.schedule, timing.timezone, now);
  if (!occurrence) return { action: "skip", scheduledFor: null, reason: "no occurrence yet" };
  const job = jobs.find(
    (j) =>
      j.type === key.type &&
      j.plan === key.plan &&
      j.rule === key.rule &&
      j.resource === key.resource &&
      j.scheduled_for !== null &&
      Date.parse(j.scheduled_for) === occurrence.getTime(),
  );
  const due = occurrence.toISOString();
  if (job) return { action: "skip", scheduledFor: occurrence, reason: `already handled: job ${job.id} ${job.state}` };
  const closes = new Date(occurrence.getTime() + timing.startWindowMs).toISOString();
  if (now.getTime() < occurrence.getTime() + timing.startWindowMs) {
    return { action: "start", scheduledFor: occurrence, reason: `due since ${due}, start window open until ${closes}` };
  }
  return { action: "expire", scheduledFor: occurrence, reason: `missed: start window closed at ${closes}` };
}

/** Slack before the oldest occurrence in jobsSince. A job for an occurrence is created by a run whose own clock had reached it (its id carries that clock), so none is older; the slack is only a margin. */
export const JOBS_SINCE_SLACK_MS = 60 * 1000;

/**
 * The creation time from which the job records matter to decideDue and decideRestoreTests:
 * a job for an occurrence is created at or after it, so records older than the oldest most
 * recent occurrence of any rule or restore test (less JOBS_SINCE_SLACK_MS) cannot change a
 * decision. `run` lists only those, so it costs what the window needs, not the history.
 */
export function jobsSince(plans: Plans, now: Date): Date {
  let oldest = now.getTime();
  const timings: Timing[] = [...plans.plans.flatMap((p) => p.rules), ...plans.restoreTests];
  for (const t of timings) {
    const o = previousOccurrence(t.schedule, t.timezone, now);
    if (o && o.getTime() < oldest) oldest = o.getTime();
  }
  return new Date(oldest - JOBS_SINCE_SLACK_MS);
}

/** A scheduled occurrence whose job decideDue / decideRestoreTests look for. */
export interface DueOccurrence {
  type: string;
  plan: string | null;
  rule: string;
  resource: string;
  vault: string | null;
  scheduledFor: Date;
}

/**
 * The occurrences decideDue and decideRestoreTests will look up a job for, per rule (or
 * restore test) × selected resource: `run` loads exactly those jobs (jobsForOccurrences).
 * A restore test's vault is null here when it has none of its own.
 */
export function dueOccurrences(plans: Plans, options: { now: Date; plan?: string; rule?: string }): DueOccurrence[] {
  const out: DueOccurrence[] = [];
  for (const plan of plans.plans) {
    if (options.plan !== undefined && plan.name !== options.plan) continue;
    const resources = selectedResources(plans, plan);
    for (const rule of plan.rules) {
      if (options.rule !== undefined && rule.name !== options.rule) continue;
      const o = previousOccurrence(rule.schedule, rule.timezone, options.now);
      if (o) for (const r of resources) out.push({ type: "backup", plan: plan.name, rule: rule.name, resource: r.id, vault: rule.vault, scheduledFor: o });
    }
  }
  for (const test of plans.restoreTests) {
    const o = previousOccurrence(test.schedule, test.timezone, options.now);
    if (o) for (const r of resourcesMatching(plans, [test])) out.push({ type: "drill", plan: null, rule: test.name, resource: r.id, vault: test.vault ?? null, scheduledFor: o });
  }
  return out;
}
