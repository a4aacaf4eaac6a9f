/**
 * Notifications: `[[notifications]]` in the plans send job events, named as AWS Backup's SNS
 * events are (`<TYPE>_JOB_<STATE>`, e.g. BACKUP_JOB_FAILED), to a webhook or a command.
 *
 *   a job record is written in a final state (vault/job-record.ts tells observeFinalJobs once per job)
 *     → event name → every notification whose events, resources and plans match
 *     → webhook: HTTP POST of {event, job, …}; a 5xx, 408, 429 or no answer is retried with
 *       backoff (250 ms, 500 ms, 1 s, …) up to `retries` times, all within `timeout`
 *     → command: the same body on stdin, EFSBAK_EVENT set; not retried
 *   the job's outcome is never changed: a delivery that fails is a warning, and the command
 *   waits for pending deliveries at its end at most `timeout` (settle)
 *
 * Delivery starts when the record is written, so a run's later jobs do not wait for it.
 */
import { hostname } from "node:os";
import type { NotificationSpec } from "../plan/plans.ts";
import { VERSION } from "../version.ts";
import { hookEnv, runProcess } from "./hooks.ts";
import type { JobRecord } from "../vault/job-record.ts";

/** The event a final job record stands for: BACKUP_JOB_COMPLETED, DRILL_JOB_EXPIRED, … */
export function eventName(job: Pick<JobRecord, "type" | "state">): string {
  return `${job.type.toUpperCase()}_JOB_${job.state}`;
}

/** The notifications that want this job's event (pure). */
export function matchingNotifications(specs: NotificationSpec[], job: Pick<JobRecord, "type" | "state" | "resource" | "plan">): NotificationSpec[] {
  const event = eventName(job);
  return specs.filter((n) =>
    n.events.includes(event) &&
    (n.resources.length === 0 || (job.resource !== null && n.resources.includes(job.resource))) &&
    (n.plans.length === 0 || (job.plan !== null && n.plans.includes(job.plan))));
}

/** What a webhook receives and a command reads on stdin. */
export interface NotificationBody {
  event: string;
  notification: string;
  sent_at: string;
  host: string;
  efsbak_version: string;
  job: unknown;
}

/** The wait before retry `attempt` (1-based): 250 ms, doubling. */
export function backoffMs(attempt: number): number {
  return 250 * 2 ** (attempt - 1);
}

/** Options of createNotifier. */
export interface NotifierOptions {
  /** The job as sent (default: the record as stored). */
  jobJson?: (job: JobRecord) => unknown;
  onWarning: (message: string) => void;
  now?: () => Date;
  env?: Record<string, string | undefined>;
}

/** Sends job events; settle() waits for what is under way. */
export interface Notifier {
  notify(job: JobRecord): void;
  settle(): Promise<void>;
}

/** A notifier for the plans' notifications. */
export function createNotifier(specs: NotificationSpec[], options: NotifierOptions): Notifier {
  const pending = new Set<Promise<void>>();
  return {
    notify(job) {
      for (const spec of matchingNotifications(specs, job)) {
        const body: NotificationBody = {
          event: eventName(job),
          notification: spec.name,
          sent_at: (options.now?.() ?? new Date()).toISOString(),
          host: hostname(),
          efsbak_version: VERSION,
          job: options.jobJson ? options.jobJson(job) : job,
        };
        const what = `Notification "${spec.name}" (${body.event} of job ${job.id})`;
        const p = deliver(spec, body, options.env ?? process.env)
          .then((problem) => {
            if (problem) options.onWarning(`${what} not delivered: ${problem}`);
          })
          .catch((err) => options.onWarning(`${what} not delivered: ${(err as Error)?.message ?? String(err)}`))
          .finally(() => pending.delete(p));
        pending.add(p);
      }
    },
    async settle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}

/** Delivers one body; returns why it failed, or null. Never throws for the receiver's faults. */
function deliver(spec: NotificationSpec, body: NotificationBody, env: Record<string, string | undefined>): Promise<string | null> {
  const text = JSON.stringify(body);
  if (spec.webhook !== undefined) return postWebhook(spec.webhook, text, spec);
  return runCommandNotification(spec, text, body, env);
}

async function postWebhook(url: string, text: string, spec: Pick<NotificationSpec, "timeoutMs" | "retries">): Promise<string | null> {
  const deadline = performance.now() + spec.timeoutMs;
  let problem = "";
  let attempts = 0;
  for (let attempt = 0; attempt <= spec.retries; attempt++) {
    if (attempt > 0) {
      const wait = backoffMs(attempt);
      if (performance.now() + wait >= deadline) break;
      await Bun.sleep(wait);
    }
    const left = deadline - performance.now();
    if (left <= 0) break;
    attempts++;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": `efsbak/${VERSION}` },
        body: text,
        redirect: "manual",
        signal: AbortSignal.timeout(left),
      });
      await res.arrayBuffer().catch(() => {});
      if (res.ok) return null;
      problem = `"${url}" answered HTTP ${res.status}`;
      // A client error will not go away by asking again.
      if (res.status < 500 && res.status !== 408 && res.status !== 429) break;
    } catch (err) {
      const name = (err as Error)?.name;
      problem = name === "TimeoutError" || name === "AbortError"
        ? `"${url}" did not answer within the ${Math.round(spec.timeoutMs / 1000)}s timeout`
        : `cannot reach "${url}": ${(err as Error)?.message ?? String(err)}`;
    }
  }
  return `${problem || `no attempt fitted in the ${Math.round(spec.timeoutMs / 1000)}s timeout`} (${attempts} ${attempts === 1 ? "attempt" : "attempts"})`;
}

async function runCommandNotification(spec: NotificationSpec, text: string, body: NotificationBody, base: Record<string, string | undefined>): Promise<string | null> {
  const job = body.job as Partial<JobRecord>;
  const env = {
    ...hookEnv(base, {
      phase: "after",
      jobId: String(job.id ?? ""), resource: job.resource ?? "", path: "", plan: job.plan, rule: job.rule, vault: String(job.vault ?? ""),
      state: job.state, recoveryPoint: job.recovery_point, error: job.error,
    }),
    EFSBAK_EVENT: body.event,
  };
  delete (env as Record<string, string>).EFSBAK_HOOK;
  delete (env as Record<string, string>).EFSBAK_PATH;
  const r = await runProcess(spec.command!, { env, timeoutMs: spec.timeoutMs, stdin: text, outputBytes: 2048 });
  if (r.timedOut) return `command timed out after ${Math.round(spec.timeoutMs / 1000)}s and was killed`;
  if (r.exitCode !== 0) return `command ${r.signal ? `was killed by ${r.signal}` : `exited with code ${r.exitCode}`}${r.output.trim() ? `: ${r.output.trim().split("\n").at(-1)}` : ""}`;
  return null;
}
