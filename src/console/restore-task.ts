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
import { runRestoreJob } from "../jobs/restore-job.ts";
import type { RestoreProgress } from "../restore/restore.ts";
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
  try {
    const { result } = await runRestoreJob(req.vault, {
      vaultName: req.vaultName,
      // The recovery point the page chose; the list as the page saw it, for salvaging lost listings.
      pick: async () => ({ rp: req.rp, rps: req.rps }),
      target: () => req.target,
      include: req.include ? [req.include] : [],
      chown: options.chown,
      now: options.now,
      signal: options.signal,
      onProgress: (p) => void (task.progress = { ...p }),
      onWarning: (m) => void task.warnings.push(m),
      onJob: (id) => void (task.job = id),
    });
    const partial = result.fragments.length > 0;
    Object.assign(task, { state: partial ? "PARTIAL" : "COMPLETED", restore_dir: result.restoreDir, files: result.files, bytes: result.bytes, fragments: result.fragments.length });
  } catch (err) {
    const message = err instanceof EfsbakError ? err.message : `internal error: ${(err as Error)?.message ?? String(err)}`;
    Object.assign(task, { state: "FAILED", error: message, hint: err instanceof EfsbakError ? (err.hint ?? null) : null });
  } finally {
    task.ended_at = options.now().toISOString();
  }
}
