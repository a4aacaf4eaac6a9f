/**
 * Vault locks and resource leases: the only ways to take a claim in a vault. Both take the
 * Vault, so the storage, the keys (claims are sealed in an encrypted vault) and the folder
 * come from one place and cannot be forgotten or mismatched. The protocol is in _lease.ts.
 *
 * Who takes what:
 *   backup            the resource's lease (exclusive) + the vault lock, shared
 *   restore, check,   the vault lock, shared: a prune waits (or is refused) while they read, so
 *   drill             it cannot repack data out from under them
 *   prune, lifecycle  the vault lock, exclusive
 *   copy              the source's vault lock, shared; in the destination, the resource's
 *                     lease + the vault lock, shared (jobs/copy-job.ts)
 * Dump and console MUST take the shared vault lock too.
 *
 * Read-only use (DESIGN.md): restore and check work on a vault the process cannot write. With
 * `onReadOnly`, a claim the storage refuses for lack of permission (EACCES, EPERM, EROFS; S3
 * AccessDenied) is no error: the caller gets a lease with `held: false`, one warning through
 * `onReadOnly`, and records no job. Any other failure to save the claim is thrown.
 */
import { invocationPid } from "../process-id.ts";
import { hostname } from "node:os";
import { StorageError } from "../storage/storage.ts";
import { type Claimant, type Lease, type LeaseInfo, acquireLease, liveLeases } from "./_lease.ts";
import { leasePrefix } from "./layout.ts";
import type { Vault } from "./vault.ts";

export { LEASE_TTL_MS } from "./_lease.ts";
export type { Claimant, Lease, LeaseInfo } from "./_lease.ts";

/** The folder of the vault-wide lock. */
const LOCKS = "locks/";

/** How a claim is taken. */
export interface ClaimOptions extends Claimant {
  /** Names the job in messages, e.g. 'a backup of "fs-home"' or "a prune". */
  purpose: string;
  jobId?: string | null;
  /** How long a claim waits before it is sure (a claim written just before may only now be visible). */
  settleMs?: number;
  signal?: AbortSignal;
}

/** How the vault lock is taken. */
export interface VaultLockOptions extends ClaimOptions {
  /** Prune: alone in the vault. Everything else: shared. */
  exclusive: boolean;
  /**
   * Read-only use: when the storage refuses the claim for lack of permission, go on without a
   * lock (`held: false`) and say so once through this, instead of failing.
   */
  onReadOnly?: (message: string) => void;
}

/** Takes the vault's lock (shared or exclusive), or throws LockedError naming the holder. */
export async function acquireVaultLock(vault: Vault, options: VaultLockOptions): Promise<Lease> {
  const { onReadOnly, ...rest } = options;
  try {
    return await acquireLease(vault.storage, LOCKS, { ...rest, keys: vault.keys });
  } catch (err) {
    if (!onReadOnly || !(err instanceof StorageError) || !err.denied) throw err;
    onReadOnly(`Cannot lock vault "${vault.location}": writing to "${LOCKS}" was refused (${err.denied}); going on without a lock (read-only use)`);
    return unheld(options);
  }
}

/** Takes the lease of one resource (one backup per resource at a time), or throws LockedError. */
export function acquireResourceLease(vault: Vault, resourceId: string, options: ClaimOptions): Promise<Lease> {
  return acquireLease(vault.storage, leasePrefix(resourceId, vault.keys?.idKey), { ...options, exclusive: true, keys: vault.keys });
}

/** What read-only use gets: a lease that holds nothing, so the caller knows to record no job. */
function unheld(options: VaultLockOptions): Lease {
  const now = new Date((options.clock ?? Date.now)()).toISOString();
  const info: LeaseInfo = { id: "", purpose: options.purpose, exclusive: options.exclusive, host: options.host ?? hostname(), pid: options.pid ?? invocationPid(), job_id: options.jobId ?? null, started_at: now, refreshed_at: now };
  return { info, held: false, recovered: false, lost: null, abandon() {}, async release() {} };
}

/**
 * Who holds a live claim on the vault lock or on one of these resources' leases: "host\0pid"
 * of each (vault/stale-jobs.ts tells a dead job from a running one by it).
 */
export async function liveHolders(vault: Pick<Vault, "storage" | "keys">, resources: Iterable<string>, options: Claimant = {}): Promise<Set<string>> {
  const folders = new Set(["locks/"]);
  for (const r of resources) folders.add(leasePrefix(r, vault.keys?.idKey));
  const holders = new Set<string>();
  for (const folder of folders) {
    for (const l of await liveLeases(vault.storage, folder, { ...options, keys: vault.keys })) if (l.info) holders.add(`${l.info.host}\0${l.info.pid}`);
  }
  return holders;
}
