/**
 * The plans page: each rule with its schedule in words, its next occurrences in its own time
 * zone, and the last outcome per selected resource (from the jobs of the rule's vault). Pure:
 * plans, jobs and the plan clock in, a document out.
 */
import type { JobRecord } from "../vault/job-record.ts";
import { formatDuration } from "../plan/duration.ts";
import { selectedResources, type Plans } from "../plan/plans.ts";
import { nextOccurrence } from "../plan/schedule.ts";
import { describeSchedule } from "../plan/schedule-words.ts";

/** One occurrence: the instant, and the wall clock in the rule's time zone. */
export interface Occurrence {
  at: string;
  local: string;
}

/** A rule as the page shows it. */
export interface RuleView {
  plan: string;
  rule: string;
  file: string;
  vault: string;
  schedule: string;
  words: string;
  timezone: string;
  startWindow: string;
  completionWindow: string;
  coldAfter: string | null;
  deleteAfter: string | null;
  next: Occurrence[];
  resources: { resource: string; state: string | null; at: string | null; job: string | null; error: string | null }[];
}

/** Rules of every plan with their next `count` occurrences and last outcomes. */
export function planRules(plans: Plans, jobsByVault: ReadonlyMap<string, JobRecord[]>, options: { now: Date; count?: number }): RuleView[] {
  const out: RuleView[] = [];
  for (const plan of plans.plans) {
    const resources = selectedResources(plans, plan);
    for (const rule of plan.rules) {
      const jobs = jobsByVault.get(rule.vault) ?? [];
      out.push({
        plan: plan.name,
        rule: rule.name,
        file: plan.file,
        vault: rule.vault,
        schedule: rule.scheduleText,
        words: describeSchedule(rule.schedule),
        timezone: rule.timezone,
        startWindow: formatDuration(rule.startWindowMs),
        completionWindow: formatDuration(rule.completionWindowMs),
        coldAfter: rule.coldAfterMs === undefined ? null : formatDuration(rule.coldAfterMs),
        deleteAfter: rule.deleteAfterMs === undefined ? null : formatDuration(rule.deleteAfterMs),
        next: occurrences(rule.schedule, rule.timezone, options.now, options.count ?? 5),
        resources: resources.map((r) => {
          // jobs are newest first
          const last = jobs.find((j) => j.type === "backup" && j.resource === r.id && j.plan === plan.name && j.rule === rule.name);
          return { resource: r.id, state: last?.state ?? null, at: last ? (last.ended_at ?? last.started_at ?? last.created_at) : null, job: last?.id ?? null, error: last?.error ?? null };
        }),
      });
    }
  }
  return out;
}

function occurrences(schedule: Parameters<typeof nextOccurrence>[0], timeZone: string, now: Date, count: number): Occurrence[] {
  const fmt = new Intl.DateTimeFormat("en-GB", { timeZone, weekday: "short", year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" });
  const out: Occurrence[] = [];
  let after = now;
  for (let i = 0; i < count; i++) {
    const next = nextOccurrence(schedule, timeZone, after);
    if (!next) break;
    out.push({ at: next.toISOString(), local: fmt.format(next) });
    after = next;
  }
  return out;
}
