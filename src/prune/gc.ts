/**
 * Garbage collection and the cold tier: plan first (pure over the index and the references),
 * then act.
 *
 *   planGc(index, references, packAges):
 *     for each indexed pack: live = blobs the index maps to it that a recovery point uses
 *       no live blob                           -> delete
 *       warm pack holding cold-only data       -> repack (cold data to cold packs)
 *       live share < REPACK_BELOW              -> repack
 *       younger than the safety age            -> keep, whatever it holds
 *   executeGc(plan):
 *     copy live blobs of repacked packs, as stored, into new warm or cold packs
 *     write one index file for everything that stays, superseding every index file read
 *     delete the superseded index files, then the packs no index names any more
 *
 * Crash safety: new packs and the new index are written before anything is deleted; an
 * interruption leaves old packs that no index names (the next backup adopts them, the next
 * prune deletes them) and never an index that points at nothing. Prune holds the vault's
 * exclusive lock, so no backup runs meanwhile; packs the index does not know (a running or
 * killed backup's) are never touched, and no indexed pack younger than the safety age is.
 */
import { toHex } from "../vault/id.ts";
import { objectKey, packKey } from "../vault/layout.ts";
import { BLOB_DATA, BLOB_TREE, PACK_TARGET_BYTES, PackWriter, type PackEntry } from "../vault/pack.ts";
import type { BlobIndex, Tier } from "../vault/blob-index.ts";
import type { IndexedPack } from "../vault/index-file.ts";
import type { Vault } from "../vault/vault.ts";
import type { References } from "./references.ts";

/** Packs whose live share falls below this are repacked. */
export const REPACK_BELOW = 0.9;

/** One pack the plan touches. */
export interface PackAction {
  packId: string;
  tier: Tier;
  size: number;
  liveBytes: number;
  liveBlobs: number;
  reason: string;
}

/** What garbage collection will do. */
export interface GcPlan {
  deletePacks: PackAction[];
  repackPacks: PackAction[];
  keptPacks: number;
  /** Blobs that move to the cold tier. */
  toCold: number;
  /** Bytes freed once done (stored bytes of dead blobs in deleted and repacked packs). */
  bytesReclaimed: number;
  liveBlobs: number;
  deadBlobs: number;
}

/** Plans garbage collection; packAgeMs gives each pack's age (by storage time) when known. */
export function planGc(index: BlobIndex, refs: References, options: { packAgeMs: (packId: string) => number | undefined; minAgeMs: number }): GcPlan {
  const packs = new Map<string, { tier: Tier; size: number; liveBytes: number; liveBlobs: number; deadBlobs: number; coldData: number; wrongTier: number }>();
  for (const p of index.packList()) packs.set(p.packId, { tier: p.tier, size: p.size, liveBytes: 0, liveBlobs: 0, deadBlobs: 0, coldData: 0, wrongTier: 0 });
  let liveBlobs = 0;
  let deadBlobs = 0;
  for (let n = 0; n < index.size; n++) {
    const loc = index.entry(n);
    const p = packs.get(loc.packId)!;
    const hex = toHex(loc.id);
    const target = targetTier(loc.type, hex, refs);
    if (target === null) {
      p.deadBlobs++;
      deadBlobs++;
      continue;
    }
    p.liveBlobs++;
    p.liveBytes += loc.storedLength;
    liveBlobs++;
    if (target === "cold") p.coldData++;
    if (target !== p.tier) p.wrongTier++;
  }
  const plan: GcPlan = { deletePacks: [], repackPacks: [], keptPacks: 0, toCold: 0, bytesReclaimed: 0, liveBlobs, deadBlobs };
  for (const [packId, p] of packs) {
    const age = options.packAgeMs(packId);
    const action = { packId, tier: p.tier, size: p.size, liveBytes: p.liveBytes, liveBlobs: p.liveBlobs };
    if (age !== undefined && age < options.minAgeMs) {
      plan.keptPacks++;
      continue;
    }
    if (p.liveBlobs === 0) {
      plan.deletePacks.push({ ...action, reason: "no recovery point uses it" });
      plan.bytesReclaimed += p.size;
    } else if (p.tier === "warm" && p.wrongTier > 0) {
      plan.repackPacks.push({ ...action, reason: `${p.wrongTier} blobs are used only by cold recovery points` });
      plan.bytesReclaimed += Math.max(0, p.size - p.liveBytes);
      plan.toCold += p.coldData;
    } else if (p.tier === "warm" && p.liveBytes < REPACK_BELOW * p.size) {
      plan.repackPacks.push({ ...action, reason: `only ${Math.round((100 * p.liveBytes) / Math.max(1, p.size))}% of it is in use` });
      plan.bytesReclaimed += Math.max(0, p.size - p.liveBytes);
    } else {
      plan.keptPacks++; // cold packs are never repacked: reading cold data costs; they go when wholly dead
    }
  }
  return plan;
}

/** Where a blob belongs: null when nothing uses it. Trees always stay warm. */
function targetTier(type: number, hex: string, refs: References): Tier | null {
  if (type === BLOB_TREE) return refs.trees.has(hex) ? "warm" : null;
  if (refs.warm.has(hex)) return "warm";
  if (refs.cold.has(hex)) return "cold";
  return null;
}

/** What executing a plan did. */
export interface GcResult {
  packsWritten: number;
  packsDeleted: number;
  indexFilesReplaced: number;
  bytesWritten: number;
  bytesDeleted: number;
}

/** Progress of executing a plan: packs repacked, then packs deleted. */
export interface GcProgress {
  phase: "repacking" | "deleting";
  done: number;
  total: number;
  bytes: number;
}

/** Carries out a plan. The caller holds the vault's exclusive lock. */
export async function executeGc(vault: Vault, plan: GcPlan, refs: References, options: { signal?: AbortSignal; onProgress?: (p: GcProgress) => void } = {}): Promise<GcResult> {
  const result: GcResult = { packsWritten: 0, packsDeleted: 0, indexFilesReplaced: 0, bytesWritten: 0, bytesDeleted: 0 };
  const dropped = new Set([...plan.deletePacks, ...plan.repackPacks].map((p) => p.packId));
  if (dropped.size === 0) return result;
  const index = vault.index;

  // Entries per pack, from the index (only the locations the index maps: duplicates are dead).
  const byPack = new Map<string, PackEntry[]>();
  for (let n = 0; n < index.size; n++) {
    const loc = index.entry(n);
    let list = byPack.get(loc.packId);
    if (!list) byPack.set(loc.packId, (list = []));
    list.push({ type: loc.type, compressed: loc.compressed, rawLength: loc.rawLength, storedLength: loc.storedLength, crc: loc.crc, id: loc.id, offset: loc.offset });
  }

  const written: IndexedPack[] = [];
  const writers = new Map<string, { w: PackWriter; tier: Tier; packType: number }>();
  const writerFor = (tier: Tier, packType: number) => {
    const k = `${tier}:${packType}`;
    let entry = writers.get(k);
    if (!entry) writers.set(k, (entry = { w: new PackWriter(new Uint8Array(1024 * 1024), { keys: vault.keys, packType, growTo: PACK_TARGET_BYTES + 1024 * 1024 }), tier, packType }));
    return entry;
  };
  const flush = async (entry: { w: PackWriter; tier: Tier; packType: number }) => {
    if (entry.w.count === 0) return;
    const { bytes, entries, packId } = entry.w.finish();
    await vault.tierStorage(entry.tier).save(packKey(packId), bytes);
    written.push({ packId, tier: entry.tier, packType: entry.packType, size: bytes.length, entries });
    result.packsWritten++;
    result.bytesWritten += bytes.length;
  };

  let repacked = 0;
  let bytesRead = 0;
  for (const p of plan.repackPacks) {
    if (options.signal?.aborted) throw new Error("prune stopped");
    options.onProgress?.({ phase: "repacking", done: repacked++, total: plan.repackPacks.length, bytes: bytesRead });
    const data = await vault.tierStorage(p.tier).load(packKey(p.packId));
    bytesRead += data.length;
    for (const e of byPack.get(p.packId) ?? []) {
      const target = targetTier(e.type, toHex(e.id), refs);
      if (target === null) continue;
      const stored = data.subarray(e.offset, e.offset + e.storedLength);
      const entry = writerFor(target, e.type === BLOB_TREE ? BLOB_TREE : BLOB_DATA);
      if (!entry.w.addStored(e, stored)) {
        await flush(entry);
        entry.w.addStored(e, stored);
      }
      if (entry.w.size >= PACK_TARGET_BYTES) await flush(entry);
    }
  }
  for (const entry of writers.values()) await flush(entry);

  // One index for everything that stays, replacing every index file read at open.
  const kept: IndexedPack[] = [];
  for (const p of index.packList()) {
    if (dropped.has(p.packId)) continue;
    const entries = byPack.get(p.packId) ?? [];
    if (entries.length === 0) continue;
    kept.push({ packId: p.packId, tier: p.tier, packType: entries[0].type === BLOB_TREE ? BLOB_TREE : BLOB_DATA, size: p.size, entries });
  }
  // Also the files an earlier, interrupted prune superseded but did not remove: once the
  // file superseding them is gone they would be read again, naming packs deleted since.
  const superseded = [...vault.indexFiles, ...vault.supersededIndexFiles];
  await vault.saveIndex({ packs: [...kept, ...written], supersedes: superseded });
  for (const id of superseded) {
    await vault.storage.remove(objectKey("index", id));
    result.indexFilesReplaced++;
  }
  const doomed = [...plan.deletePacks, ...plan.repackPacks];
  for (const p of doomed) {
    options.onProgress?.({ phase: "deleting", done: result.packsDeleted, total: doomed.length, bytes: result.bytesDeleted });
    await vault.tierStorage(p.tier).remove(packKey(p.packId));
    result.packsDeleted++;
    result.bytesDeleted += p.size;
  }
  return result;
}
