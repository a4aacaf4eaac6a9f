/**
 * Restore drills (AWS Backup's restore testing): prove that a recovery point can be restored,
 * by restoring it and checking every byte against the recovery point's own hashes.
 *
 *   pick the recovery point: newest AVAILABLE one of the resource, or a random one
 *   take the shared vault lock, sealed like every claim (prune waits; backups go on); read the
 *     index again if a prune replaced it meanwhile
 *   job PENDING -> RUNNING (type "drill", plan null, rule = the restore test's name)
 *   mkdtemp SCRATCH/efsbak-drill-XXXX; restore() into it          time_to_restore_ms
 *   verify (drill-verify.ts): walk the recovery point's trees; for every entry the restored
 *     path exists with the same type; files have the same size and, re-chunked with the
 *     vault's chunker and re-hashed with its hash (keyed in encrypted vaults), the same chunk
 *     ids; symlinks the same target; directories no entry more or less
 *   job COMPLETED (everything verified) | PARTIAL (only entries recorded as inconsistent at
 *     backup were not in place) | FAILED (a mismatch, or the restore failed as a whole)
 *   remove the scratch directory, always
 *
 * Invariants: nothing is written outside the scratch directory, and it is gone afterwards
 * (even read-only directories a recovery point restores); the job record says which files
 * did not verify and why.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { EfsbakError, LockedError } from "../errors.ts";
import { restore, type RestoreProgress } from "../restore/restore.ts";
import { StorageError } from "../storage/storage.ts";
import { listRecoveryPoints, type RecoveryPoint } from "../vault/recovery-point.ts";
import { type Vault, withCurrentIndex } from "../vault/vault.ts";
import { verifyRestore, type Mismatch } from "./drill-verify.ts";
import { createJob, type JobRecord, type JobWriter } from "../vault/job-record.ts";
import { acquireVaultLock } from "../vault/lock.ts";

export type { Mismatch } from "./drill-verify.ts";

/** How a drill picks the recovery point. */
export type DrillAlgorithm = "latest" | "random";

/** Progress of a drill: restoring, then verifying. */
export interface DrillProgress extends RestoreProgress {
  phase: "restoring" | "verifying";
}

/** Options of a drill. */
export interface DrillOptions {
  /** Vault name as the user knows it, recorded on the job. */
  vaultName: string;
  /** The plan clock (job times, restore directory name). */
  now: () => Date;
  /** Directory under which the scratch directory is made (it is created if missing). */
  scratch: string;
  algorithm?: DrillAlgorithm;
  /** Values in [0, 1) for the random algorithm. */
  random: () => number;
  /** Elapsed-time clock in ms, for time-to-restore (performance.now in the CLI). */
  clock: () => number;
  /** The restore test that scheduled the drill (the job's rule), null on demand. */
  test?: string | null;
  scheduledFor?: Date | null;
  /** Record a FAILED job when a prune holds the vault (scheduled runs), instead of nothing. */
  recordBlocked?: boolean;
  settleMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: DrillProgress) => void;
  onWarning?: (message: string) => void;
}

/** What a drill found, as stored in the job's details. */
export interface DrillDetails {
  algorithm: DrillAlgorithm;
  recovery_point: string | null;
  recovery_point_created_at: string | null;
  time_to_restore_ms: number | null;
  verify_ms: number | null;
  files_verified: number;
  dirs_verified: number;
  symlinks_verified: number;
  bytes_verified: number;
  fragments: number;
  /** Entries recorded as inconsistent at backup time (restored into lost+found, not verified). */
  inconsistent: string[];
  mismatch_count: number;
  /** The first 100 mismatches. */
  mismatches: Mismatch[];
}

const MAX_LISTED = 100;

/** Recovery points a drill may restore: AVAILABLE ones of the resource, oldest first. */
export function drillCandidates(rps: RecoveryPoint[], resource: string): RecoveryPoint[] {
  return rps.filter((r) => r.resource === resource && r.status === "AVAILABLE").sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : 1));
}

/** Picks the recovery point to drill: the newest, or a uniformly random one; null when there is none. */
export function pickRecoveryPoint(candidates: RecoveryPoint[], algorithm: DrillAlgorithm, random: () => number): RecoveryPoint | null {
  if (candidates.length === 0) return null;
  if (algorithm === "latest") return candidates[candidates.length - 1];
  return candidates[Math.min(candidates.length - 1, Math.floor(random() * candidates.length))];
}

/** Runs one drill of a resource and returns its final job record. Throws LockedError when a prune holds the vault. */
export async function runDrill(vault: Vault, resource: string, options: DrillOptions): Promise<JobRecord> {
  const algorithm = options.algorithm ?? "latest";
  const fields = { type: "drill" as const, vault: options.vaultName, plan: null, rule: options.test ?? null, resource, scheduledFor: options.scheduledFor ?? null };
  const purpose = `a drill of "${resource}"`;
  let shared;
  try {
    shared = await acquireVaultLock(vault, { purpose, exclusive: false, settleMs: options.settleMs });
  } catch (err) {
    if (err instanceof LockedError && options.recordBlocked) {
      const job = await createJob(vault, { ...fields, state: "FAILED" }, { now: options.now() });
      await job.update({ ended_at: options.now().toISOString(), error: err.message });
    }
    throw err;
  }
  const details: DrillDetails = {
    algorithm, recovery_point: null, recovery_point_created_at: null, time_to_restore_ms: null, verify_ms: null,
    files_verified: 0, dirs_verified: 0, symlinks_verified: 0, bytes_verified: 0, fragments: 0, inconsistent: [], mismatch_count: 0, mismatches: [],
  };
  let scratchDir: string | null = null;
  let job: JobWriter | null = null;
  try {
    job = await createJob(vault, { ...fields, state: "PENDING" }, { now: options.now() });
    vault = await withCurrentIndex(vault); // a prune may have ended while the claim was taken
    const rp = pickRecoveryPoint(drillCandidates(await listRecoveryPoints(vault), resource), algorithm, options.random);
    if (!rp) {
      await job.update({ state: "FAILED", started_at: options.now().toISOString(), ended_at: options.now().toISOString(), error: `No AVAILABLE recovery point of "${resource}" to restore`, details: { ...details } });
      return job.record;
    }
    details.recovery_point = rp.id;
    details.recovery_point_created_at = rp.created_at;
    await job.update({ state: "RUNNING", started_at: options.now().toISOString(), recovery_point: rp.id, details: { ...details } });

    mkdirSync(options.scratch, { recursive: true });
    scratchDir = mkdtempSync(join(options.scratch, "efsbak-drill-"));
    const t0 = options.clock();
    const progress = (phase: DrillProgress["phase"]) => (p: RestoreProgress) => options.onProgress?.({ ...p, phase });
    const restored = await restore(vault, rp, scratchDir, { now: options.now(), chown: false, signal: options.signal, onProgress: progress("restoring"), onWarning: options.onWarning });
    const t1 = options.clock();
    details.time_to_restore_ms = Math.round(t1 - t0);
    details.fragments = restored.fragments.length;
    const verified = await verifyRestore(vault, rp, {
      restoreDir: restored.restoreDir,
      lostFound: restored.lostFound,
      fragments: restored.fragments,
      signal: options.signal,
      onProgress: progress("verifying"),
    });
    details.verify_ms = Math.round(options.clock() - t1);
    details.files_verified = verified.files;
    details.dirs_verified = verified.dirs;
    details.symlinks_verified = verified.symlinks;
    details.bytes_verified = verified.bytes;
    details.inconsistent = verified.inconsistent.slice(0, MAX_LISTED);
    details.mismatch_count = verified.mismatches.length;
    details.mismatches = verified.mismatches.slice(0, MAX_LISTED);
    const failed = verified.mismatches.length > 0;
    const partial = !failed && verified.inconsistent.length > 0;
    const first = verified.mismatches.slice(0, 3).map((m) => `"${m.path}" (${m.reason})`).join(", ");
    await job.update({
      state: failed ? "FAILED" : partial ? "PARTIAL" : "COMPLETED",
      ended_at: options.now().toISOString(),
      files: verified.files,
      bytes_read: restored.bytes,
      warnings: [...restored.warnings, ...verified.warnings],
      error: failed
        ? `${verified.mismatches.length} ${verified.mismatches.length === 1 ? "entry" : "entries"} of recovery point ${rp.id} did not verify: ${first}${verified.mismatches.length > 3 ? ", …" : ""}`
        : partial ? `${verified.inconsistent.length} ${verified.inconsistent.length === 1 ? "entry was" : "entries were"} recorded as inconsistent at backup time and could not be verified` : null,
      details: { ...details },
    });
    return job.record;
  } catch (err) {
    // The restore failed as a whole (vault unreachable, scratch unwritable, interrupted): the
    // drill failed, and says why. Only an internal error is thrown on, after it is recorded.
    if (!job) throw err;
    const aborted = options.signal?.aborted === true;
    const known = err instanceof EfsbakError || err instanceof StorageError;
    const message = aborted ? "Drill interrupted" : known ? (err as Error).message : `internal error: ${(err as Error)?.message ?? String(err)}`;
    await job.update({ state: aborted ? "ABORTED" : "FAILED", ended_at: options.now().toISOString(), error: message, details: { ...details } }).catch(() => {});
    if (!aborted && !known) throw err;
    return job.record;
  } finally {
    if (scratchDir) removeScratch(scratchDir, options.onWarning);
    await shared.release().catch(() => {});
  }
}

/** Removes a scratch directory, making read-only directories (as restored) writable first. */
export function removeScratch(dir: string, onWarning?: (message: string) => void): void {
  try {
    rmSync(dir, { recursive: true, force: true });
    return;
  } catch {
    // a restored directory without write or search permission: open them up, then again
  }
  try {
    openUp(dir);
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    onWarning?.(`Cannot remove the drill's scratch directory "${dir}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; remove it by hand`);
  }
}

function openUp(dir: string): void {
  chmodSync(dir, 0o700);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && !lstatSync(p).isSymbolicLink()) openUp(p);
  }
}
