/**
 * Directory listings for the restore walker (walk.ts): loaded when the walk reaches a
 * directory, or a little ahead of it. A vault on S3 answers each load in tens of
 * milliseconds, so the walker asks for the next few subdirectories' listings while it walks
 * the current one (prefetch), within bounds on how many and how many bytes are held ahead.
 *
 *   prefetch(tree)  starts loading unless it is loaded or on its way already, MAX_PREFETCHED
 *                   are held, or its raw size (the index says it before the load) would pass
 *                   MAX_PREFETCHED_BYTES: a listing refused here is loaded when its turn comes
 *   load(tree)      the prefetched listing (released from the bounds), else a load now;
 *                   null when the listing is lost (not a blob id, or damage); throws on
 *                   anything else (the vault is unreachable), and when the walk budget is
 *                   passed (tree/budget.ts)
 */
import type { WalkBudget } from "../tree/budget.ts";
import type { Node } from "../tree/node.ts";
import { decodeTree } from "../tree/tree.ts";
import { fromHex } from "../vault/id.ts";
import type { Vault } from "../vault/vault.ts";

/** Listings held ahead at most, in all (bounds memory whatever the depth). */
const MAX_PREFETCHED = 256;
/**
 * Raw bytes of listings held ahead at most, in all (the index says each one's size before it
 * is loaded; decoded, a listing takes about 8 times its raw bytes): eight listings of 470k
 * entries each once took 3 GiB. A larger listing is loaded when its turn comes.
 */
const MAX_PREFETCHED_BYTES = 8 * 1024 * 1024;

/** Loads the walk's listings, some ahead of it. One per restore. */
export interface Listings {
  /** Starts loading a listing the walk will soon need, within the bounds; never rejects. */
  prefetch(tree: string): void;
  /** A directory's entries, or null when its listing is lost. */
  load(tree: string): Promise<Node[] | null>;
}

/** Options of the listings loader. */
export interface ListingsOptions {
  /** True when a failed load is damage of the listing (restore goes on), false when fatal. */
  isDamage(err: unknown, id: Uint8Array): Promise<boolean>;
  /** Counts listing bytes loaded against what the recovery point records. */
  budget?: WalkBudget;
}

type Ahead = Promise<{ nodes: Node[] | null } | { error: unknown }>;

/** Creates the listings loader of one restore. */
export function createListings(vault: Pick<Vault, "index" | "loadBlob">, options: ListingsOptions): Listings {
  const prefetched = new Map<string, Ahead>();
  const sizes = new Map<string, number>();
  let heldBytes = 0;

  async function loadNow(tree: string): Promise<Node[] | null> {
    const id = fromHex(tree, 32);
    if (!id) return null;
    let nodes: Node[];
    let size = 0;
    try {
      const raw = await vault.loadBlob(id);
      size = raw.length;
      nodes = decodeTree(`tree ${tree}`, raw);
    } catch (err) {
      if (await options.isDamage(err, id)) return null;
      throw err;
    }
    options.budget?.bytes(size); // outside the try: past the budget is no damage of one listing
    return nodes;
  }

  return {
    prefetch(tree) {
      if (prefetched.has(tree) || prefetched.size >= MAX_PREFETCHED) return;
      const id = fromHex(tree, 32);
      const size = (id && vault.index.get(id)?.rawLength) || 0;
      if (heldBytes + size > MAX_PREFETCHED_BYTES) return; // loaded when its turn comes
      heldBytes += size;
      sizes.set(tree, size);
      prefetched.set(tree, loadNow(tree).then((nodes) => ({ nodes }), (error: unknown) => ({ error })));
    },
    async load(tree) {
      const ahead = prefetched.get(tree);
      if (!ahead) return loadNow(tree);
      prefetched.delete(tree);
      heldBytes -= sizes.get(tree) ?? 0;
      sizes.delete(tree);
      const r = await ahead;
      if ("error" in r) throw r.error;
      return r.nodes;
    },
  };
}
