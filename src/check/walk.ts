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
 *     result = union of all of the above
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
import { decodeTree } from "../tree/tree.ts";
import { type ProblemLog, type ProblemRefs, detailOf, mergeRefs } from "./problems.ts";

/** Tree blobs loaded at the same time. */
const CONCURRENT_LOADS = 8;

/** A recovery point as the walk needs it. */
export interface RpRoot {
  id: string;
  key: string;
  tree: string;
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
  readonly #memo = new Map<string, ProblemRefs | Promise<ProblemRefs>>();
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
    this.#log.attribute(await this.#tree(toHex(id), id), rp.id);
  }

  #tree(hex: string, id: Uint8Array): ProblemRefs | Promise<ProblemRefs> {
    const known = this.#memo.get(hex);
    if (known) return known;
    const p = this.#visit(hex, id).then((refs) => {
      this.#memo.set(hex, refs);
      return refs;
    });
    this.#memo.set(hex, p);
    return p;
  }

  async #visit(hex: string, id: Uint8Array): Promise<ProblemRefs> {
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
    let subtrees: { hex: string; id: Uint8Array }[];
    const refs: ProblemRefs[] = [damage];
    try {
      subtrees = this.#entries(hex, raw, refs);
    } catch (err) {
      if (!(err instanceof VaultDamageError)) throw err;
      return mergeRefs([damage, [log.addError(err)]]);
    }
    const below = await Promise.all(subtrees.map((s) => this.#tree(s.hex, s.id)));
    return mergeRefs([...refs, ...below]);
  }

  /** Checks a tree's files; returns its subtrees (so the decoded tree can be dropped). */
  #entries(hex: string, raw: Uint8Array, refs: ProblemRefs[]): { hex: string; id: Uint8Array }[] {
    const log = this.#log;
    const where = `blob ${hex}`;
    const subtrees: { hex: string; id: Uint8Array }[] = [];
    for (const node of decodeTree(where, raw)) {
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
    return subtrees;
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
