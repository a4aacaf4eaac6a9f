/**
 * Walk budgets: how much a walk of a recovery point's trees may see, from what the recovery
 * point itself records. Trees are content-addressed, so a legitimate vault names the same
 * subtree many times (identical directories dedupe) and "visited once" is no bound: a hostile
 * vault of 48 KB that names one subtree twice per level expands to 2^depth entries. What does
 * bound a walk is what the backup counted while it walked the source:
 *
 *   entries  <= files + dirs + symlinks + devices   (the root is counted in dirs: one spare)
 *   bytes    <= tree_bytes                   (raw listing bytes, once per place a listing appears)
 *
 * Recovery points written before symlinks and tree_bytes were recorded get a generous bound
 * from what they do have: twice files + dirs, plus LEGACY_EXTRA_ENTRIES (symlinks were not
 * counted), and LEGACY_BYTES_PER_ENTRY per entry plus one largest listing.
 *
 * Walkers (restore, ls, diff, check) call entry() once per entry they walk and bytes(n) per
 * listing they load; past the bound it throws a VaultDamageError naming the recovery point.
 */
import { VaultDamageError } from "../errors.ts";

/** What a recovery point records that bounds its walk (a RecoveryPoint fits). */
export interface RpTotals {
  id: string;
  files: number;
  dirs: number;
  symlinks?: number;
  devices?: number;
  tree_bytes?: number;
}

/** The bounds of one walk. */
export interface WalkLimits {
  entries: number;
  bytes: number;
  /** False for an older recovery point: the bounds are derived, not recorded. */
  recorded: boolean;
}

/** Counts a walk against the bounds; throws VaultDamageError once they are exceeded. */
export interface WalkBudget {
  readonly limits: WalkLimits;
  /** Counts one entry walked. */
  entry(): void;
  /** Counts n raw bytes of listings loaded. */
  bytes(n: number): void;
}

/** Entries allowed beyond twice files + dirs when a recovery point did not count symlinks. */
export const LEGACY_EXTRA_ENTRIES = 10_000_000;
/** Listing bytes allowed per entry when a recovery point did not record tree_bytes. */
export const LEGACY_BYTES_PER_ENTRY = 1024 * 1024;
/** The largest listing (MAX_TREE_BYTES in vault/pack.ts), allowed once on top of the per-entry bytes. */
const ONE_LISTING = 512 * 1024 * 1024;

function count(n: unknown): number | undefined {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** The bounds of walking a recovery point's trees. */
export function walkLimits(rp: RpTotals): WalkLimits {
  const files = count(rp.files) ?? 0;
  const dirs = count(rp.dirs) ?? 0;
  const symlinks = count(rp.symlinks);
  const treeBytes = count(rp.tree_bytes);
  if (symlinks !== undefined && treeBytes !== undefined) return { entries: files + dirs + symlinks + (count(rp.devices) ?? 0), bytes: treeBytes, recorded: true };
  const entries = 2 * (files + dirs) + LEGACY_EXTRA_ENTRIES;
  return { entries, bytes: entries * LEGACY_BYTES_PER_ENTRY + ONE_LISTING, recorded: false };
}

/** The error of a walk that went past a bound. */
export function budgetError(rp: RpTotals, limits: WalkLimits, what: "entries" | "bytes"): VaultDamageError {
  const bound = what === "entries" ? `${limits.entries} entries` : `${limits.bytes} bytes of listings`;
  const source = limits.recorded ? "it records" : "its file and directory counts allow";
  const err = new VaultDamageError(`rps/${rp.id}`, "", 'run "efsbak check" to see what else is affected; restore another recovery point');
  err.message = `Recovery point "${rp.id}" is damaged: its trees hold more than the ${bound} ${source}`;
  return err;
}

/** A budget for one walk of a recovery point's trees. */
export function createWalkBudget(rp: RpTotals): WalkBudget {
  const limits = walkLimits(rp);
  let entries = 0;
  let bytes = 0;
  return {
    limits,
    entry() {
      if (++entries > limits.entries) throw budgetError(rp, limits, "entries");
    },
    bytes(n) {
      bytes += n;
      if (bytes > limits.bytes) throw budgetError(rp, limits, "bytes");
    },
  };
}
