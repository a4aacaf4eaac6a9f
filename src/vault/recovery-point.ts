/**
 * Recovery points: one resource at one time, immutable once written (rps/<id>).
 * Lifecycle state that changes later (tier moves, deletion) is recorded by prune in new
 * objects, never by rewriting the recovery point.
 */
import type { VaultDamageError } from "../errors.ts";
import type { RootMeta } from "../tree/node.ts";
import { objectKey } from "./layout.ts";
import { loadJsonObjects } from "./load-json.ts";
import type { Vault } from "./vault.ts";

/** Statuses, as AWS Backup names them. */
export type RpStatus = "CREATING" | "AVAILABLE" | "PARTIAL" | "EXPIRED" | "DELETING";

/** A recovery point as stored. Times are ISO-8601 UTC. */
export interface RecoveryPoint {
  id: string;
  resource: string;
  source_path: string;
  host: string;
  plan: string | null;
  rule: string | null;
  job_id: string;
  created_at: string;
  completed_at: string;
  status: RpStatus;
  tree: string;
  parent: string | null;
  tags: Record<string, string>;
  cold_at: string | null;
  delete_at: string | null;
  size_bytes: number;
  files: number;
  dirs: number;
  /**
   * Symbolic links, and the raw bytes of the tree blobs as walked (each directory's listing
   * once per place it appears). With files and dirs they bound any walk of the trees
   * (tree/budget.ts). Absent in recovery points written before efsbak 0.2.
   */
  symlinks?: number;
  /** Character and block devices (absent when there are none). */
  devices?: number;
  tree_bytes?: number;
  bytes_new: number;
  bytes_stored: number;
  /** Paths (relative to the source) recorded as inconsistent. */
  inconsistent: string[];
  warnings: string[];
  /** Entries the backup could not read and left out (their paths are in the job record); absent when none. */
  skipped?: number;
  /** Sockets and named pipes left out by design; absent when none. */
  omitted?: number;
  /** The root directory's own mode, owner, mtime and xattrs (absent in recovery points written before it was recorded). */
  root?: RootMeta;
  efsbak_version: string;
}

/** Saves a recovery point (after its packs and index). */
export async function saveRecoveryPoint(vault: Vault, rp: RecoveryPoint): Promise<void> {
  await vault.saveJson(objectKey("rps", rp.id), rp);
}

/** Loads every recovery point of the vault, oldest first. Damaged ones are reported via onDamage. */
export async function listRecoveryPoints(vault: Pick<Vault, "storage" | "loadJson">, options: { onDamage?: (err: VaultDamageError) => void } = {}): Promise<RecoveryPoint[]> {
  const keys: string[] = [];
  for await (const o of vault.storage.list("rps/")) keys.push(o.key);
  const out = await loadJsonObjects<RecoveryPoint>(vault, keys, options);
  return out.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : 1));
}

/** Lifecycle state recorded beside an immutable recovery point (lifecycle/<rp id>). */
export interface LifecycleMark {
  rp: string;
  tier: "cold";
  moved_at: string;
}

/** Records that a recovery point moved to the cold tier. */
export async function markCold(vault: Pick<Vault, "saveJson">, rpId: string, at: Date): Promise<void> {
  const mark: LifecycleMark = { rp: rpId, tier: "cold", moved_at: at.toISOString() };
  await vault.saveJson(objectKey("lifecycle", rpId), mark);
}

/** Every lifecycle mark, by recovery point id. */
export async function listLifecycleMarks(vault: Pick<Vault, "storage" | "loadJson">): Promise<Map<string, LifecycleMark>> {
  const keys: string[] = [];
  for await (const o of vault.storage.list("lifecycle/")) keys.push(o.key);
  return new Map((await loadJsonObjects<LifecycleMark>(vault, keys)).map((m) => [m.rp, m]));
}
