/**
 * The problems a check finds, and the damage map the tree walk uses to tell which recovery
 * points reach them. Damage is registered by pack (every blob of the pack is affected) or by
 * blob at one pack (only that copy is bad; a blob also stored whole elsewhere is not at risk
 * unless the index points at the bad copy).
 */
import { VaultDamageError } from "../errors.ts";

/** One problem: the damaged object, what is wrong, and the recovery points it affects. */
export interface CheckProblem {
  /** A vault key ("packs/3f/3fa1…", "rps/…", "index/…", "config") or "blob <hex>". */
  object: string;
  message: string;
  /** Ids of the recovery points that reach the damaged object, when known (sorted). */
  recoveryPoints: string[];
}

/** Problem numbers, shared by the tree walk; an empty list is the common case. */
export type ProblemRefs = readonly number[];

/** The empty problem list (shared, never mutated). */
export const NO_PROBLEMS: ProblemRefs = Object.freeze([]);

/** Collects problems and indexes them by the damaged pack or blob. */
export class ProblemLog {
  readonly #problems: { object: string; message: string; rps: Set<string> }[] = [];
  readonly #byPack = new Map<string, number[]>();
  readonly #byBlob = new Map<string, { packId: string; problem: number }[]>();
  readonly #unindexed = new Map<string, number>();

  /** Records a problem; returns its number. */
  add(object: string, message: string, recoveryPoints: string[] = []): number {
    this.#problems.push({ object, message, rps: new Set(recoveryPoints) });
    return this.#problems.length - 1;
  }

  /** Records a problem from a VaultDamageError (its key is the object). */
  addError(err: VaultDamageError, recoveryPoints: string[] = []): number {
    return this.add(err.key, detailOf(err), recoveryPoints);
  }

  /** Records a problem that affects every blob of a pack. */
  addPackDamage(packId: string, object: string, message: string): number {
    const n = this.add(object, message);
    const list = this.#byPack.get(packId);
    if (list) list.push(n);
    else this.#byPack.set(packId, [n]);
    return n;
  }

  /** Records a problem with one blob (hex id) as stored in one pack. */
  addBlobDamage(packId: string, hex: string, object: string, message: string): number {
    const n = this.add(object, message);
    const list = this.#byBlob.get(hex);
    if (list) list.push({ packId, problem: n });
    else this.#byBlob.set(hex, [{ packId, problem: n }]);
    return n;
  }

  /** The problem "blob <hex> is not in any index", recorded once per blob. */
  unindexed(hex: string, what: "tree" | "data"): number {
    let n = this.#unindexed.get(hex);
    if (n === undefined) {
      n = this.add(`blob ${hex}`, `${what} blob is not in any index`);
      this.#unindexed.set(hex, n);
    }
    return n;
  }

  /** True when the copy of blob `hex` in packId is known to be damaged. */
  blobDamaged(hex: string, packId: string): boolean {
    return this.#byBlob.get(hex)?.some((d) => d.packId === packId) ?? false;
  }

  /** Problems that affect the blob `hex` as the index locates it (in packId). */
  damageOf(hex: string, packId: string): ProblemRefs {
    const byPack = this.#byPack.get(packId);
    const byBlob = this.#byBlob.get(hex);
    if (!byPack && !byBlob) return NO_PROBLEMS;
    const out = byPack ? byPack.slice() : [];
    if (byBlob) for (const d of byBlob) if (d.packId === packId) out.push(d.problem);
    return out.length === 0 ? NO_PROBLEMS : out;
  }

  /** Marks the problems as affecting a recovery point. */
  attribute(refs: ProblemRefs, rpId: string): void {
    for (const n of refs) this.#problems[n].rps.add(rpId);
  }

  /** Number of problems so far. */
  get count(): number {
    return this.#problems.length;
  }

  /** The problems, in the order found, with sorted recovery point ids. */
  list(): CheckProblem[] {
    return this.#problems.map((p) => ({ object: p.object, message: p.message, recoveryPoints: [...p.rps].sort() }));
  }
}

/** Merges problem lists (deduplicated); returns a shared list when there is nothing to merge. */
export function mergeRefs(lists: ProblemRefs[]): ProblemRefs {
  let first: ProblemRefs = NO_PROBLEMS;
  let set: Set<number> | null = null;
  for (const l of lists) {
    if (l.length === 0) continue;
    if (first.length === 0) {
      first = l;
      continue;
    }
    set ??= new Set(first);
    for (const n of l) set.add(n);
  }
  return set ? [...set] : first;
}

/**
 * The detail of a VaultDamageError, without the 'Cannot read "KEY": ' prefix its message
 * carries, and without the "blob 0123…… in KEY: " prefix decodeBlob adds (callers name the
 * blob in full).
 */
export function detailOf(err: VaultDamageError): string {
  const prefix = `Cannot read "${err.key}": `;
  let m = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  const blob = `… in ${err.key}: `;
  const at = m.startsWith("blob ") ? m.indexOf(blob) : -1;
  if (at >= 0) m = m.slice(at + blob.length);
  return m;
}
