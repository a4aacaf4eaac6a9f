/**
 * Space accounting of a vault (`efsbak stats`): per recovery point and for the vault,
 *
 *   logical_bytes      sum of file sizes, as a restore writes them (a hard link counts once per name)
 *   unique_bytes       raw bytes of the distinct data chunks those files use
 *   stored_bytes       what those chunks take in packs (compressed, sealed)
 *   dedup_ratio        logical / unique (>= 1; 1 when empty)
 *   compression_ratio  unique / stored (1 when empty; below 1 for incompressible sealed data)
 *   metadata_bytes     stored bytes of the tree blobs (directories) used
 *   freed_bytes        (per RP) stored bytes of chunks and trees no other recovery point uses:
 *                      what the next prune's GC reclaims after deleting it (GC repacks, so
 *                      a pack shared with live blobs gives its space back when repacked)
 *   unreferenced_bytes (vault) stored bytes of indexed blobs no recovery point uses (garbage)
 *
 * Bounded memory, whatever the number of recovery points: two arrays over the index's entry
 * numbers (a use count saturating at 2 and the first user: 5 bytes per blob) and one bitset
 * (1 bit per blob, cleared per recovery point); the trees of each recovery point are walked
 * once (tree/walk-rp.ts, iterative), so time is one tree walk per recovery point. Data is
 * never read: sizes come from the trees and the index.
 */
import type { VaultDamageError } from "../errors.ts";
import type { TreeLoader } from "../tree/list.ts";
import { walkRp } from "../tree/walk-rp.ts";
import type { BlobIndex } from "./blob-index.ts";
import { fromHex } from "./id.ts";
import { BLOB_TREE } from "./pack.ts";
import type { RecoveryPoint } from "./recovery-point.ts";

/** Sizes and ratios of a set of files. */
export interface SpaceStats {
  logical_bytes: number;
  unique_bytes: number;
  stored_bytes: number;
  dedup_ratio: number;
  compression_ratio: number;
  metadata_bytes: number;
  files: number;
  /** Chunks or trees the index does not know (damage; see "efsbak check"). */
  missing_blobs: number;
}

/** One recovery point's space. */
export interface RpStats extends SpaceStats {
  recovery_point: string;
  resource: string;
  created_at: string;
  freed_bytes: number;
}

/** The whole vault's space. */
export interface VaultStats extends SpaceStats {
  recovery_points: number;
  blobs: number;
  pack_bytes: number;
  unreferenced_bytes: number;
}

/** Options of a stats pass. */
export interface StatsOptions {
  /** Loads trees (the vault's, decoded). */
  load: TreeLoader;
  signal?: AbortSignal;
  onDamage?: (err: VaultDamageError) => void;
  /** Called after each recovery point. */
  onProgress?: (done: number, total: number) => void;
}

function ratios(s: Omit<SpaceStats, "dedup_ratio" | "compression_ratio">): SpaceStats {
  return {
    ...s,
    dedup_ratio: s.unique_bytes > 0 ? s.logical_bytes / s.unique_bytes : 1,
    compression_ratio: s.stored_bytes > 0 ? s.unique_bytes / s.stored_bytes : 1,
  };
}

/** Computes the space of every recovery point and of the vault (see the module comment). */
export async function vaultStats(index: BlobIndex, rps: RecoveryPoint[], options: StatsOptions): Promise<{ vault: VaultStats; rps: RpStats[] }> {
  const n = index.size;
  const uses = new Uint8Array(n); // 0, 1, or 2 = "two or more"
  const owner = new Uint32Array(n);
  const seen = new Uint8Array(Math.ceil(n / 8));
  const perRp: Omit<RpStats, "dedup_ratio" | "compression_ratio">[] = [];
  let logicalAll = 0;
  let filesAll = 0;
  let missingAll = 0;
  for (let k = 0; k < rps.length; k++) {
    const rp = rps[k]!;
    seen.fill(0);
    const s = { recovery_point: rp.id, resource: rp.resource, created_at: rp.created_at, logical_bytes: 0, unique_bytes: 0, stored_bytes: 0, metadata_bytes: 0, files: 0, missing_blobs: 0, freed_bytes: 0 };
    /** Marks a blob as used by this recovery point; its location the first time in this one, else null. */
    const mark = (hex: string) => {
      const id = fromHex(hex, 32);
      const e = id ? index.find(id) : -1;
      if (e < 0) {
        s.missing_blobs++;
        return null;
      }
      if (seen[e >> 3]! & (1 << (e & 7))) return null;
      seen[e >> 3]! |= 1 << (e & 7);
      if (uses[e] === 0) owner[e] = k;
      if (uses[e]! < 2) uses[e]!++;
      return index.entry(e);
    };
    const treeSeen = (hex: string) => {
      const loc = mark(hex);
      if (loc) s.metadata_bytes += loc.storedLength;
    };
    treeSeen(rp.tree);
    try {
      for await (const e of walkRp(options.load, rp.tree)) {
        options.signal?.throwIfAborted();
        const node = e.node;
        if (node.type === "dir") treeSeen(node.subtree);
        else if (node.type === "file") {
          s.files++;
          s.logical_bytes += node.size;
          for (const c of node.content) {
            const loc = mark(c);
            if (loc) {
              s.unique_bytes += loc.rawLength;
              s.stored_bytes += loc.storedLength;
            }
          }
        }
      }
    } catch (err) {
      if ((err as { name?: string }).name === "AbortError" || !("exitCode" in (err as object))) throw err;
      options.onDamage?.(err as VaultDamageError);
      s.missing_blobs++;
    }
    logicalAll += s.logical_bytes;
    filesAll += s.files;
    missingAll += s.missing_blobs;
    perRp.push(s);
    options.onProgress?.(k + 1, rps.length);
  }
  let unique = 0;
  let stored = 0;
  let metadata = 0;
  let unreferenced = 0;
  for (let e = 0; e < n; e++) {
    const loc = index.entry(e);
    if (uses[e] === 0) unreferenced += loc.storedLength;
    else if (loc.type === BLOB_TREE) metadata += loc.storedLength;
    else {
      unique += loc.rawLength;
      stored += loc.storedLength;
    }
    if (uses[e] === 1) perRp[owner[e]!]!.freed_bytes += loc.storedLength;
  }
  const vault: VaultStats = {
    ...ratios({ logical_bytes: logicalAll, unique_bytes: unique, stored_bytes: stored, metadata_bytes: metadata, files: filesAll, missing_blobs: missingAll }),
    recovery_points: rps.length,
    blobs: n,
    pack_bytes: index.packList().reduce((t, p) => t + p.size, 0),
    unreferenced_bytes: unreferenced,
  };
  return { vault, rps: perRp.map((s) => ({ ...ratios(s), freed_bytes: s.freed_bytes }) as RpStats) };
}
