/**
 * Adopting packs that no index names yet: what a killed backup (kill -9, power loss) leaves.
 * Packs are self-describing (their header lists every blob), so the next backup reads just
 * the headers, indexes them, and so reuses every pack that reached the vault: only the packs
 * in flight at the kill are lost.
 */
import { VaultDamageError } from "../errors.ts";
import type { Vault } from "../vault/vault.ts";
import { idOfKey } from "../vault/layout.ts";
import type { IndexedPack } from "../vault/index-file.ts";

/** What adoption found. */
export interface AdoptResult {
  packs: number;
  blobs: number;
  /** Packs that could not be read (named, for the job's warnings). */
  damaged: string[];
}

/** Indexes every warm pack the index does not know yet and writes one index file for them. */
export async function adoptPacks(vault: Vault): Promise<AdoptResult> {
  const known = new Set(vault.index.packList().map((p) => p.packId));
  const orphans: { packId: string; size: number }[] = [];
  for await (const o of vault.storage.list("packs/")) {
    const packId = idOfKey(o.key);
    if (!known.has(packId)) orphans.push({ packId, size: o.size });
  }
  const result: AdoptResult = { packs: 0, blobs: 0, damaged: [] };
  if (orphans.length === 0) return result;
  const adopted: IndexedPack[] = [];
  const queue = orphans.slice();
  async function worker() {
    for (let o = queue.pop(); o; o = queue.pop()) {
      try {
        const h = await vault.readPackHeader(o.packId, "warm", o.size);
        adopted.push({ packId: o.packId, tier: "warm", packType: h.packType, size: h.size, entries: h.entries });
      } catch (err) {
        if (err instanceof VaultDamageError) result.damaged.push(err.key);
        else throw err;
      }
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker));
  if (adopted.length === 0) return result;
  for (const p of adopted) {
    const no = vault.index.addPack(p.packId, p.tier, p.size);
    for (const e of p.entries) vault.index.add(no, e);
    result.blobs += p.entries.length;
  }
  await vault.saveIndex({ packs: adopted, supersedes: [] });
  result.packs = adopted.length;
  return result;
}
