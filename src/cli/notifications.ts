/**
 * The plans' `[[notifications]]` for one invocation: every job this process ends is offered to
 * them (jobs/notify.ts), and the command waits for deliveries at its end. Plans that do not
 * load (none, or invalid) send nothing; the command reports that itself where it matters.
 */
import { observeFinalJobs } from "../vault/job-record.ts";
import { createNotifier, type Notifier } from "../jobs/notify.ts";
import type { NotificationSpec } from "../plan/plans.ts";
import type { Context } from "./context.ts";
import { jobJson } from "./jobs.ts";

/** Starts offering final jobs to the plans' notifications; settle() waits and stops. */
export function startNotifications(ctx: Context): { settle(): Promise<void> } {
  let notifier: Notifier | null | undefined;
  const stop = observeFinalJobs((job) => {
    if (notifier === undefined) {
      let specs: NotificationSpec[];
      try {
        specs = ctx.plans()?.notifications ?? [];
      } catch {
        specs = [];
      }
      notifier = specs.length > 0 ? createNotifier(specs, { jobJson, onWarning: (m) => ctx.log.warn(m) }) : null;
    }
    notifier?.notify(job);
  });
  return {
    async settle() {
      stop();
      await notifier?.settle();
    },
  };
}
