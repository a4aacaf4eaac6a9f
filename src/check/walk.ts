/**
 * The tree walk of check: from each recovery point's root tree, every tree blob must be
 * indexed, readable, match its id and decode; every file chunk must be indexed. Each tree is
 * visited once across all recovery points; what it reaches is remembered as a (usually empty)
 * list of problem numbers, so that a damaged object shared by many recovery points is
 * attributed to all of them without walking again.
 *
 *   visit(tree):                        memoized by tree id
 *     not indexed            -> problem "blob <id>: not in any index"
 *     damage already known   -> its problems (pack missing, truncated, blob corrupt)
 *     load, hash, decode     -> a failure is a problem of the tree blob
 *     files: each chunk id   -> unindexed or known damage
 *     dirs:  visit(subtree)  (concurrently; loads bounded)
 *     result = union of all of the above, and the tree's expanded totals: its entries and
 *              listing bytes plus those of every subtree, once per place it is named
 *   per recovery point: expanded totals of its root > what it records (tree/budget.ts)
 *     -> problem 'Recovery point "<id>" is damaged: its trees hold more than …'
 *     (a vault that names one subtree twice per level is walked in linear time here, but
 *     would make restore and ls walk 2^depth entries)
 *
 * Memory: one entry per distinct tree (id and its problem list), and no decoded tree is kept
 * while its subtrees are visited.
 */
import type { BlobHasher } from "../chunk/hash.ts";
import { VaultDamageError } from "../errors.ts";
import type { BlobIndex } from "../vault/blob-index.ts";
import { fromHex, toHex } from "../vault/id.ts";
import { packKey } from "../vault/layout.ts";
import type { Vault } from "../vault/vault.ts";
import { type RpTotals, budgetError, walkLimits } from "../tree/budget.ts";
import { decodeTree } from "../tree/tree.ts";
import { type ProblemLog, type ProblemRefs, detailOf, mergeRefs } from "./problems.ts";

/** Tree blobs loaded at the same time. */
const CONCURRENT_LOADS = 8;

/** A recovery point as the walk needs it. */
export interface RpRoot {
  id: string;
  key: string;
  tree: string;
  /** What the recovery point records (files, dirs, symlinks, tree_bytes); without it, no totals are checked. */
  totals?: RpTotals;
}

/** What a tree reaches: its problems, and entries and listing bytes as a walk would see them. */
interface Reach {
  refs: ProblemRefs;
  entries: number;
  bytes: number;
}

/** Sums that saturate instead of losing precision (a hostile DAG doubles per level). */
function add(a: number, b: number): number {
  return Math.min(a + b, Number.MAX_SAFE_INTEGER);
}

/** Walks the trees of recovery points, attributing problems to them. */
export class TreeWalker {
  /** Distinct trees visited. */
  trees = 0;
  /** Bytes of tree blobs read. */
  bytesRead = 0;
  readonly #vault: Vault;
  readonly #index: BlobIndex;
  readonly #log: ProblemLog;
  readonly #hasher: BlobHasher;
  readonly #packSize: (packId: string) => number | undefined;
  readonly #signal?: AbortSignal;
  readonly #memo = new Map<string, Reach | Promise<Reach>>();
  readonly #limit = limiter(CONCURRENT_LOADS);

  constructor(vault: Vault, ctx: {
    index: BlobIndex;
    log: ProblemLog;
    hasher: BlobHasher;
    /** Size of a pack in storage (its indexed tier), undefined when it is not there. */
    packSize: (packId: string) => number | undefined;
    signal?: AbortSignal;
  }) {
    this.#vault = vault;
    this.#index = ctx.index;
    this.#log = ctx.log;
    this.#hasher = ctx.hasher;
    this.#packSize = ctx.packSize;
    this.#signal = ctx.signal;
  }

  /** Walks one recovery point and attributes every problem it reaches to it. */
  async walk(rp: RpRoot): Promise<void> {
    const id = fromHex(rp.tree, 32);
    if (!id) {
      this.#log.add(rp.key, `root tree id ${JSON.stringify(rp.tree)} is not a blob id`, [rp.id]);
      return;
    }
    const reach = await this.#tree(toHex(id), id);
    this.#log.attribute(reach.refs, rp.id);
    if (rp.totals) {
      const limits = walkLimits(rp.totals);
      const over = reach.entries > limits.entries ? "entries" : reach.bytes > limits.bytes ? "bytes" : null;
      if (over) this.#log.add(rp.key, budgetError(rp.totals, limits, over).message, [rp.id]);
    }
  }

  #tree(hex: string, id: Uint8Array): Reach | Promise<Reach> {
    const known = this.#memo.get(hex);
    if (known) return known;
    const p = this.#visit(hex, id).then((reach) => {
      this.#memo.set(hex, reach);
      return reach;
    });
    this.#memo.set(hex, p);
    return p;
  }

  async #visit(hex: string, id: Uint8Array): Promise<Reach> {
    const refs = await this.#problems(hex, id);
    return "refs" in refs ? refs : { refs, entries: 0, bytes: 0 };
  }

  /** A tree's problems, or (once it is read) its Reach. */
  async #problems(hex: string, id: Uint8Array): Promise<ProblemRefs | Reach> {
    this.#signal?.throwIfAborted();
    this.trees++;
    const log = this.#log;
    const loc = this.#index.get(id);
    if (!loc) return [log.unindexed(hex, "tree")];
    const damage = log.damageOf(hex, loc.packId);
    const packSize = this.#packSize(loc.packId);
    if (packSize === undefined || loc.offset + loc.storedLength > packSize || log.blobDamaged(hex, loc.packId)) {
      // Missing, cut off, or already found corrupt by read-data: the problem is recorded.
      return damage.length > 0 ? damage : [log.add(`blob ${hex}`, "tree blob cannot be read")];
    }
    const key = packKey(loc.packId);
    let raw: Uint8Array;
    try {
      raw = await this.#limit(() => this.#vault.loadBlobAt(loc));
    } catch (err) {
      if (!(err instanceof VaultDamageError)) throw err;
      return mergeRefs([damage, [log.addBlobDamage(loc.packId, hex, key, `blob ${hex}: ${detailOf(err)}`)]]);
    }
    this.bytesRead += loc.storedLength;
    if (toHex(this.#hasher.hash(raw)) !== hex) {
      return mergeRefs([damage, [log.addBlobDamage(loc.packId, hex, key, `blob ${hex}: content does not match its id`)]]);
    }
    let listing: { subtrees: { hex: string; id: Uint8Array }[]; entries: number };
    const refs: ProblemRefs[] = [damage];
    try {
      listing = this.#entries(hex, raw, refs);
    } catch (err) {
      if (!(err instanceof VaultDamageError)) throw err;
      return mergeRefs([damage, [log.addError(err)]]);
    }
    const size = raw.length;
    const below = await Promise.all(listing.subtrees.map((s) => this.#tree(s.hex, s.id)));
    let entries = listing.entries;
    let bytes = size;
    for (const b of below) {
      entries = add(entries, b.entries);
      bytes = add(bytes, b.bytes);
    }
    return { refs: mergeRefs([...refs, ...below.map((b) => b.refs)]), entries, bytes };
  }

  /** Checks a tree's files; returns its subtrees (so the decoded tree can be dropped). */
  #entries(hex: string, raw: Uint8Array, refs: ProblemRefs[]): { subtrees: { hex: string; id: Uint8Array }[]; entries: number } {
    const log = this.#log;
    const where = `blob ${hex}`;
    const subtrees: { hex: string; id: Uint8Array }[] = [];
    const nodes = decodeTree(where, raw);
    for (const node of nodes) {
      if (node.type === "dir") {
        const sid = fromHex(node.subtree, 32);
        if (sid) subtrees.push({ hex: toHex(sid), id: sid });
        else refs.push([log.add(where, `directory ${JSON.stringify(node.name)} has an invalid subtree id`)]);
      } else if (node.type === "file") {
        for (const c of node.content) {
          const cid = fromHex(c, 32);
          if (!cid) {
            refs.push([log.add(where, `file ${JSON.stringify(node.name)} has an invalid chunk id`)]);
            continue;
          }
          const chunk = this.#index.get(cid);
          if (!chunk) refs.push([log.unindexed(toHex(cid), "data")]);
          else if (log.count > 0) refs.push(log.damageOf(toHex(cid), chunk.packId));
        }
      }
    }
    return { subtrees, entries: nodes.length };
  }
}

/** Runs at most n tasks at a time, the others in arrival order. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    while (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
