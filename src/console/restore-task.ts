/**
 * Restores started from the page: each runs in the background as a restore job recorded in
 * the vault (as `efsbak restore` records it), while the page polls its progress.
 *
 *   start: job PENDING -> RUNNING; restore(vault, rp, target, { include: [path] })
 *          -> COMPLETED | PARTIAL (fragments in lost+found) | FAILED (the message kept)
 *
 * The same restore function as the CLI, so the same guarantees: a new directory
 * TARGET/efsbak-restore_<time>/, never over existing files, damage salvaged to lost+found.
 */
import { EfsbakError } from "../errors.ts";
import { createJob } from "../jobs/job.ts";
import { restore, type RestoreProgress } from "../restore/restore.ts";
import type { RecoveryPoint } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";

/** A restore as the page sees it. */
export interface RestoreTask {
  id: string;
  vault: string;
  rp: string;
  /** The path restored, in display form ("" for everything). */
  path: string;
  target: string;
  state: "RUNNING" | "COMPLETED" | "PARTIAL" | "FAILED";
  progress: RestoreProgress | null;
  started_at: string;
  ended_at: string | null;
  job: string | null;
  restore_dir: string | null;
  files: number;
  bytes: number;
  fragments: number;
  warnings: string[];
  error: string | null;
  hint: string | null;
}

/** What a restore needs. */
export interface RestoreRequest {
  vault: Vault;
  vaultName: string;
  rp: RecoveryPoint;
  /** Every recovery point of the vault: other ones of the resource help salvage lost listings. */
  rps: RecoveryPoint[];
  /** Path in string form ("" = the whole recovery point) and its display form. */
  include: string;
  path: string;
  target: string;
}

/** The restores of one console. */
export interface RestoreTasks {
  start(req: RestoreRequest): RestoreTask;
  get(id: string): RestoreTask | null;
  list(): RestoreTask[];
  /** Resolves when every restore has ended. */
  idle(): Promise<void>;
}

/** A list of restore tasks; `now` is the plan clock. */
export function createRestoreTasks(options: { now: () => Date; chown: boolean; signal?: AbortSignal }): RestoreTasks {
  const tasks = new Map<string, RestoreTask>();
  const running = new Set<Promise<void>>();
  let seq = 0;
  return {
    start(req) {
      const task: RestoreTask = {
        id: `r${++seq}`, vault: req.vaultName, rp: req.rp.id, path: req.path, target: req.target, state: "RUNNING", progress: null,
        started_at: options.now().toISOString(), ended_at: null, job: null, restore_dir: null, files: 0, bytes: 0, fragments: 0, warnings: [], error: null, hint: null,
      };
      tasks.set(task.id, task);
      const p = run(task, req, options).finally(() => running.delete(p));
      running.add(p);
      return task;
    },
    get(id) {
      return tasks.get(id) ?? null;
    },
    list() {
      return [...tasks.values()].reverse();
    },
    async idle() {
      await Promise.all([...running]);
    },
  };
}

async function run(task: RestoreTask, req: RestoreRequest, options: { now: () => Date; chown: boolean; signal?: AbortSignal }): Promise<void> {
  const { vault, rp } = req;
  const at = Date.parse(rp.created_at);
  const others = req.rps.filter((r) => r.resource === rp.resource && r.id !== rp.id).sort((a, b) => Math.abs(Date.parse(a.created_at) - at) - Math.abs(Date.parse(b.created_at) - at));
  let job;
  try {
    // TODO(#15): take the shared vault lock here (acquireVaultLock in src/vault/lock.ts), as cli/restore.ts will.
    job = await createJob(vault, { type: "restore", vault: req.vaultName, resource: rp.resource, plan: rp.plan, rule: rp.rule, state: "PENDING" }, { now: options.now() });
    task.job = job.record.id;
    await job.update({ state: "RUNNING", started_at: options.now().toISOString(), recovery_point: rp.id });
    const result = await restore(vault, rp, req.target, {
      now: options.now(),
      include: req.include ? [req.include] : [],
      chown: options.chown,
      onProgress: (p) => void (task.progress = { ...p }),
      onWarning: (m) => void task.warnings.push(m),
      signal: options.signal,
      others,
    });
    const partial = result.fragments.length > 0;
    await job.update({ state: partial ? "PARTIAL" : "COMPLETED", ended_at: options.now().toISOString(), files: result.files, bytes_read: result.bytes, warnings: result.warnings, restore_dir: result.restoreDir, fragments: result.fragments.length });
    Object.assign(task, { state: partial ? "PARTIAL" : "COMPLETED", restore_dir: result.restoreDir, files: result.files, bytes: result.bytes, fragments: result.fragments.length });
  } catch (err) {
    const message = err instanceof EfsbakError ? err.message : `internal error: ${(err as Error)?.message ?? String(err)}`;
    Object.assign(task, { state: "FAILED", error: message, hint: err instanceof EfsbakError ? (err.hint ?? null) : null });
    await job?.update({ state: "FAILED", ended_at: options.now().toISOString(), error: message }).catch(() => {});
  } finally {
    task.ended_at = options.now().toISOString();
  }
}
