/**
 * Which blobs the recovery points still use, and by which tier: the mark phase of garbage
 * collection. Reads trees only (metadata, always warm), never data, and visits each tree once
 * however many recovery points share it.
 */
import { decodeTree } from "../tree/tree.ts";
import { fromHex } from "../vault/id.ts";
import type { Vault } from "../vault/vault.ts";
import { VaultDamageError } from "../errors.ts";

/** Blob ids (hex) in use. */
export interface References {
  /** Data blobs used by at least one warm recovery point. */
  warm: Set<string>;
  /** Data blobs used only by cold recovery points. */
  cold: Set<string>;
  /** Tree blobs (always kept warm). */
  trees: Set<string>;
}

/** Marks every blob reachable from the given roots. A tree that cannot be read throws: GC must not guess. */
export async function collectReferences(vault: Pick<Vault, "loadBlob">, roots: { tree: string; cold: boolean }[], options: { onTree?: (treesVisited: number) => void } = {}): Promise<References> {
  const refs: References = { warm: new Set(), cold: new Set(), trees: new Set() };
  const coldOnly = new Set<string>();
  // Warm roots first, so a blob seen by a warm recovery point is never taken for cold-only.
  const ordered = [...roots.filter((r) => !r.cold), ...roots.filter((r) => r.cold)];
  const seenWarm = new Set<string>();
  const seenCold = new Set<string>();
  for (const root of ordered) {
    const seen = root.cold ? seenCold : seenWarm;
    const stack = [root.tree];
    while (stack.length > 0) {
      const hex = stack.pop()!;
      if (seen.has(hex) || (root.cold && seenWarm.has(hex))) continue;
      seen.add(hex);
      refs.trees.add(hex);
      options.onTree?.(refs.trees.size);
      const id = fromHex(hex, 32);
      if (!id) throw new VaultDamageError(`tree ${hex}`, "not a valid tree id");
      for (const node of decodeTree(`tree ${hex}`, await vault.loadBlob(id))) {
        if (node.type === "dir") stack.push(node.subtree);
        else if (node.type === "file") {
          for (const c of node.content) {
            if (!root.cold) refs.warm.add(c);
            else if (!refs.warm.has(c)) coldOnly.add(c);
          }
        }
      }
    }
  }
  for (const c of coldOnly) if (!refs.warm.has(c)) refs.cold.add(c);
  return refs;
}
