/**
 * Leases: who may do what in a vault right now, on any storage with only put/get/list/delete.
 *
 * A lease is a small object under a folder (leases/<resource>/ for "one backup per resource",
 * locks/ for the vault-wide shared/exclusive lock that prune takes). To acquire:
 *
 *   write my lease  ->  list the folder  ->  drop stale leases  ->  order the live ones by
 *   (storage time, id)  ->  am I allowed (first, or only shared ones before me)?
 *     yes: wait `settleMs` and look again (a claim written a moment before mine may only now
 *          be visible), then hold it, refreshing every refreshMs
 *     no:  remove mine and throw LockedError naming the holder
 *
 * Storage time (the object's mtime, set by the server or file system) orders claims, so
 * clocks of different hosts do not matter. The claim object <id> is written once and never
 * rewritten (its mtime is the claim's place in line); refreshes write <id>.alive beside it. A lease not refreshed for ttlMs is stale and
 * ignored, and a lease of a dead process on this host is stale at once: no manual unlock,
 * ever. Leases always use the real clock, never the simulated plan clock (--now).
 */
import { hostname } from "node:os";
import { LockedError, VaultDamageError } from "../errors.ts";
import { NotFoundError, type Storage } from "../storage/storage.ts";
import type { VaultKeys } from "./crypto.ts";
import { randomId } from "./id.ts";
import { decodeJson, encodeJson } from "./object.ts";

/** What a lease object says. */
export interface LeaseInfo {
  id: string;
  purpose: string;
  exclusive: boolean;
  host: string;
  pid: number;
  job_id: string | null;
  /** Real-clock times, for humans; ordering uses storage times. */
  started_at: string;
  refreshed_at: string;
}

/** A held lease. */
export interface Lease {
  readonly info: LeaseInfo;
  /** Stops refreshing and removes the lease. Safe to call twice. */
  release(): Promise<void>;
  /**
   * Stops refreshing but leaves the claim in place, as a crash would: the next taker finds it
   * dead (or stale after the TTL) and so knows work was left behind (see `recovered`).
   */
  abandon(): void;
  /** Set when a refresh failed: the holder should stop, since it may have lost the lease. */
  readonly lost: Error | null;
  /**
   * True when taking it found a claim its holder never released (a dead process, or one not
   * refreshed for the TTL): a sign that a crash may have left work behind (backup adopts packs).
   */
  readonly recovered: boolean;
}

/** How a lease is taken. */
export interface LeaseOptions {
  purpose: string;
  exclusive: boolean;
  jobId?: string | null;
  /** Wall clock in ms (real time, never --now). */
  clock?: () => number;
  ttlMs?: number;
  refreshMs?: number;
  settleMs?: number;
  host?: string;
  pid?: number;
  /** True when a process of this host is alive (default: signal 0). */
  isAlive?: (pid: number) => boolean;
  /** Describes the folder in messages, e.g. 'a backup of "fs-home"'. */
  what?: string;
  /** The vault's keys: claims are sealed like every other object of an encrypted vault. */
  keys?: VaultKeys | null;
}

/** A lease not refreshed for this long is stale. */
export const LEASE_TTL_MS = 10 * 60 * 1000;
const REFRESH_MS = 60 * 1000;
const ALIVE = ".alive";

interface Seen {
  key: string;
  mtimeMs: number;
  info: LeaseInfo;
}

/** Takes a lease in `folder` (ending with "/"), or throws LockedError naming the holder. */
export async function acquireLease(storage: Storage, folder: string, options: LeaseOptions): Promise<Lease> {
  const clock = options.clock ?? Date.now;
  const host = options.host ?? hostname();
  const pid = options.pid ?? process.pid;
  const isAlive = options.isAlive ?? processAlive;
  const ttlMs = options.ttlMs ?? LEASE_TTL_MS;
  const id = randomId();
  const key = `${folder}${id}`;
  const started = new Date(clock()).toISOString();
  const info: LeaseInfo = { id, purpose: options.purpose, exclusive: options.exclusive, host, pid, job_id: options.jobId ?? null, started_at: started, refreshed_at: started };
  const encode = () => encodeLease(options.keys ?? null, key, info);
  await storage.save(key, encode());

  let recovered = false;
  async function blocker(): Promise<Seen | null> {
    const live = await liveLeases(storage, folder, { clock, ttlMs, host, isAlive, keys: options.keys, onGone: () => void (recovered = true) });
    const mine = live.find((l) => l.key === key);
    if (!mine) {
      throw new LockedError(
        `Cannot start ${options.what ?? options.purpose}: its claim "${key}" vanished from "${storage.location}" right after it was written`,
        "another host may have taken it for stale (are the clocks far apart?); try again",
      );
    }
    for (const l of live) {
      if (l.key === key) break;
      if (options.exclusive || l.info.exclusive) return l;
    }
    return null;
  }

  let holder = await blocker();
  if (!holder && (options.settleMs ?? 0) > 0) {
    await new Promise((r) => setTimeout(r, options.settleMs));
    holder = await blocker();
  }
  if (holder) {
    await storage.remove(key).catch(() => {});
    const h = holder.info;
    throw new LockedError(
      `Cannot start ${options.what ?? options.purpose}: ${h.purpose} holds the lease (host "${h.host}", pid ${h.pid}${h.job_id ? `, job ${h.job_id}` : ""}, since ${h.started_at})`,
      `wait for it to finish; a lease of a dead process expires by itself within ${Math.round(ttlMs / 60000)} minutes`,
    );
  }

  let released = false;
  let lost: Error | null = null;
  const timer = setInterval(async () => {
    info.refreshed_at = new Date(clock()).toISOString();
    try {
      await storage.save(key + ALIVE, encode());
    } catch (err) {
      lost = err instanceof Error ? err : new Error(String(err));
    }
  }, options.refreshMs ?? REFRESH_MS);
  (timer as { unref?: () => void }).unref?.();

  return {
    info,
    recovered,
    get lost() {
      return lost;
    },
    abandon() {
      released = true;
      clearInterval(timer);
    },
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      for (const k of [key + ALIVE, key]) {
        await storage.remove(k).catch((err) => {
          if (!(err instanceof NotFoundError)) throw err;
        });
      }
    },
  };
}

/** The live (not stale) leases of a folder, oldest claim first. Stale ones of dead local processes are removed. */
export async function liveLeases(storage: Storage, folder: string, options: { clock?: () => number; ttlMs?: number; host?: string; isAlive?: (pid: number) => boolean; keys?: VaultKeys | null; onGone?: () => void } = {}): Promise<Seen[]> {
  const clock = options.clock ?? Date.now;
  const ttlMs = options.ttlMs ?? LEASE_TTL_MS;
  const host = options.host ?? hostname();
  const isAlive = options.isAlive ?? processAlive;
  const alive = new Map<string, number>();
  const claims: { key: string; mtimeMs: number }[] = [];
  for await (const o of storage.list(folder)) {
    if (o.key.endsWith(ALIVE)) alive.set(o.key.slice(0, -ALIVE.length), o.mtimeMs);
    else claims.push({ key: o.key, mtimeMs: o.mtimeMs });
  }
  const seen: Seen[] = [];
  for (const o of claims) {
    let info: LeaseInfo;
    try {
      info = decodeLease(options.keys ?? null, o.key, await storage.load(o.key));
    } catch (err) {
      if (err instanceof NotFoundError) continue;
      if (err instanceof SyntaxError || err instanceof VaultDamageError) continue; // not a lease we can read: ignore, it will expire
      throw err;
    }
    const age = clock() - Math.max(o.mtimeMs, alive.get(o.key) ?? 0);
    const deadHere = info.host === host && typeof info.pid === "number" && !isAlive(info.pid);
    if (deadHere || age > ttlMs) options.onGone?.();
    if (deadHere || age > 2 * ttlMs) {
      // Certainly gone: tidy up so the folder does not grow.
      await storage.remove(o.key + ALIVE).catch(() => {});
      await storage.remove(o.key).catch(() => {});
      continue;
    }
    if (age > ttlMs) continue;
    seen.push({ key: o.key, mtimeMs: o.mtimeMs, info });
  }
  // Claim objects are never rewritten, so their storage time is their place in line.
  return seen.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.info.id < b.info.id ? -1 : 1));
}

/** Plaintext JSON, or an EFSO object sealed with the vault's keys. */
function encodeLease(keys: VaultKeys | null, key: string, info: LeaseInfo): Uint8Array {
  return keys ? encodeJson(keys, key, info) : new TextEncoder().encode(JSON.stringify(info));
}

function decodeLease(keys: VaultKeys | null, key: string, data: Uint8Array): LeaseInfo {
  return keys ? decodeJson<LeaseInfo>(keys, key, data) : JSON.parse(new TextDecoder().decode(data));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
