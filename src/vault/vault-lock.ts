/**
 * The vault lock stored in the vault (vault-lock/<id>), so that every prune, from any host or
 * plans checkout, enforces it: `min_retention` (no recovery point younger may be deleted, by
 * anyone) and `max_retention` (older ones are deleted, whatever their own dates say).
 *
 * A lock is only ever tightened: min_retention goes up, max_retention comes down. Each
 * tightening is a new object (written once, sealed like every small object of an encrypted
 * vault); the lock in force is the strictest of all of them, so an object written by an old
 * or hostile writer can never loosen it.
 */
import { EfsbakError } from "../errors.ts";
import { randomId } from "./id.ts";
import { objectKey } from "./layout.ts";
import { loadJsonObjects } from "./load-json.ts";
import type { Vault } from "./vault.ts";

/** A vault lock: either bound may be absent. */
export interface RetentionLock {
  minRetentionMs?: number;
  maxRetentionMs?: number;
}

/** One stored tightening. */
export interface StoredLock {
  min_retention_ms: number | null;
  max_retention_ms: number | null;
  set_at: string;
}

/** The lock stored in the vault (the strictest of its objects), or null when it has none. */
export async function readVaultLock(vault: Pick<Vault, "storage" | "loadJson">): Promise<(RetentionLock & { setAt: string }) | null> {
  const keys: string[] = [];
  for await (const o of vault.storage.list("vault-lock/")) keys.push(o.key);
  // A damaged lock object cannot be read, so it cannot be honoured: refuse rather than delete
  // what it may have protected.
  const stored = await loadJsonObjects<StoredLock>(vault, keys);
  if (stored.length === 0) return null;
  let lock: RetentionLock = {};
  let setAt = "";
  for (const s of stored) {
    lock = strongerLock(lock, { minRetentionMs: s.min_retention_ms ?? undefined, maxRetentionMs: s.max_retention_ms ?? undefined })!;
    if (s.set_at > setAt) setAt = s.set_at;
  }
  return { ...lock, setAt };
}

/**
 * The stronger of two locks, bound by bound: the longer min_retention, the shorter
 * max_retention. Where they cross, max_retention gives way to min_retention: keeping data
 * is the safe side.
 */
export function strongerLock(a: RetentionLock | null | undefined, b: RetentionLock | null | undefined): RetentionLock | undefined {
  if (!a && !b) return undefined;
  const mins = [a?.minRetentionMs, b?.minRetentionMs].filter((v): v is number => v !== undefined);
  const maxes = [a?.maxRetentionMs, b?.maxRetentionMs].filter((v): v is number => v !== undefined);
  const out: RetentionLock = {};
  if (mins.length) out.minRetentionMs = Math.max(...mins);
  if (maxes.length) out.maxRetentionMs = Math.min(...maxes);
  if (out.minRetentionMs !== undefined && out.maxRetentionMs !== undefined && out.maxRetentionMs < out.minRetentionMs) out.maxRetentionMs = out.minRetentionMs;
  return out;
}

/** How `wanted` would loosen `current` (empty: it does not). Durations are shown by `format`. */
export function loosening(current: RetentionLock | null, wanted: RetentionLock, format: (ms: number) => string): string[] {
  const out: string[] = [];
  if (current?.minRetentionMs !== undefined && wanted.minRetentionMs !== undefined && wanted.minRetentionMs < current.minRetentionMs) {
    out.push(`min_retention is ${format(current.minRetentionMs)}, and ${format(wanted.minRetentionMs)} would let younger recovery points be deleted`);
  }
  if (current?.maxRetentionMs !== undefined && wanted.maxRetentionMs !== undefined && wanted.maxRetentionMs > current.maxRetentionMs) {
    out.push(`max_retention is ${format(current.maxRetentionMs)}, and ${format(wanted.maxRetentionMs)} would keep recovery points longer than it allows`);
  }
  return out;
}

/** True when `wanted` adds a bound `current` lacks or makes one stricter. */
export function tightens(current: RetentionLock | null, wanted: RetentionLock): boolean {
  const merged = strongerLock(current, wanted)!;
  return merged.minRetentionMs !== current?.minRetentionMs || merged.maxRetentionMs !== current?.maxRetentionMs;
}

/**
 * Stores a tighter lock: the current one with `wanted`'s bounds. Throws (exit 1) when wanted
 * would loosen it, or when min_retention would exceed max_retention. Returns the lock now in
 * force, and whether anything was written.
 */
export async function tightenVaultLock(vault: Pick<Vault, "storage" | "loadJson" | "saveJson">, wanted: RetentionLock, options: { now: Date; name: string; format: (ms: number) => string }): Promise<{ lock: RetentionLock; changed: boolean }> {
  const current = await readVaultLock(vault);
  const why = loosening(current, wanted, options.format);
  if (why.length) {
    throw new EfsbakError(`Cannot loosen the lock of vault "${options.name}": ${why.join("; ")}`, { exitCode: 1, hint: "a vault lock can only be tightened (a longer min_retention, a shorter max_retention)" });
  }
  const merged = { ...(current ?? {}), ...wanted };
  delete (merged as { setAt?: string }).setAt;
  if (merged.minRetentionMs !== undefined && merged.maxRetentionMs !== undefined && merged.minRetentionMs > merged.maxRetentionMs) {
    throw new EfsbakError(`Cannot lock vault "${options.name}": min_retention ${options.format(merged.minRetentionMs)} is longer than max_retention ${options.format(merged.maxRetentionMs)}`, { exitCode: 1, hint: "give a min_retention no longer than max_retention" });
  }
  if (!tightens(current, merged)) return { lock: strongerLock(current, null) ?? {}, changed: false };
  const doc: StoredLock = { min_retention_ms: merged.minRetentionMs ?? null, max_retention_ms: merged.maxRetentionMs ?? null, set_at: options.now.toISOString() };
  await vault.saveJson(objectKey("vault-lock", randomId()), doc);
  return { lock: merged, changed: true };
}

/**
 * Writes into the vault whatever the plans' lock adds to the stored one (tightening only;
 * a bound of the plans that is looser than the vault's is ignored). Returns the lock in force
 * and whether the plans were looser somewhere (for a warning).
 */
export async function adoptPlanLock(vault: Pick<Vault, "storage" | "loadJson" | "saveJson">, planLock: RetentionLock, options: { now: Date }): Promise<{ lock: RetentionLock; changed: boolean; looser: boolean }> {
  const current = await readVaultLock(vault);
  const looser = loosening(current, planLock, String).length > 0;
  const merged = strongerLock(current, planLock)!;
  if (!tightens(current, planLock)) return { lock: merged, changed: false, looser };
  const doc: StoredLock = { min_retention_ms: merged.minRetentionMs ?? null, max_retention_ms: merged.maxRetentionMs ?? null, set_at: options.now.toISOString() };
  await vault.saveJson(objectKey("vault-lock", randomId()), doc);
  return { lock: merged, changed: true, looser };
}
