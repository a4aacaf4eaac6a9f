/**
 * Temp files that interrupted saves left in a vault (a local save writes `.tmp-*` beside its
 * key, then renames it; kill -9 or ENOSPC in between leaves it). They are never objects:
 * list() does not show them; check reports them and prune removes them once older than the
 * pack safety age.
 */
import type { ObjectInfo, Storage } from "../storage/storage.ts";
import type { ObjectKind } from "./layout.ts";
import type { Vault } from "./vault.ts";

// Folder by folder (a local cold tier may live inside the vault directory, VAULT/cold): the
// temp file of config sits at the top.
const KINDS: readonly ObjectKind[] = ["packs", "index", "rps", "lifecycle", "jobs", "locks", "leases", "keys", "due", "vault-lock"];
const PREFIXES = [...KINDS.map((k) => `${k}/`), ".tmp-"];

/** A temp file left by an interrupted save. */
export interface Leftover {
  tier: "warm" | "cold";
  key: string;
  size: number;
  age_ms: number;
}

/** Temp files of interrupted saves in both tiers (none on storages without leftovers()). */
export async function listLeftovers(vault: Pick<Vault, "storage" | "cold">, realNow: number): Promise<Leftover[]> {
  const out: Leftover[] = [];
  for (const [tier, s] of [["warm", vault.storage], ["cold", vault.cold]] as [Leftover["tier"], Storage][]) {
    if (!s.leftovers) continue;
    for (const prefix of PREFIXES) {
      for await (const o of s.leftovers(prefix) as AsyncIterable<ObjectInfo>) out.push({ tier, key: o.key, size: o.size, age_ms: Math.max(0, realNow - o.mtimeMs) });
    }
  }
  return out;
}
