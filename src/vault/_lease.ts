/**
 * The lease protocol under vault/lock.ts (private to vault/: take claims through lock.ts, which
 * cannot forget the vault's keys or pick the wrong folder). Works on any storage with only
 * put/get/list/delete.
 *
 * A lease is a small object under a folder (leases/<resource>/ for "one backup per resource",
 * locks/ for the vault-wide shared/exclusive lock). To acquire:
 *
 *   write my lease  ->  list the folder  ->  drop stale leases  ->  order the live ones by
 *   (storage time, id)  ->  am I allowed (first, or only shared ones before me)?
 *     yes: wait `settleMs` and look again (a claim written a moment before mine may only now
 *          be visible), then hold it, refreshing every refreshMs
 *     no:  remove mine and throw LockedError naming the holder
 *
 * Storage time (the object's mtime, set by the server or file system) orders claims, so
 * clocks of different hosts do not matter. The claim object <id> is written once and never
 * rewritten (its mtime is the claim's place in line); refreshes write <id>.alive beside it. A
 * lease not refreshed for ttlMs is stale and ignored, and a lease of a dead process on this
 * host is stale at once: no manual unlock, ever. A claim that cannot be read (sealed with other
 * keys, written plaintext into an encrypted vault, damaged) counts as held by an unknown holder
 * that conflicts with everyone, until it is stale by storage time: skipping it would let two
 * exclusive holders in at once. Leases always use the real clock, never the plan clock (--now).
 */
import { invocationPid, processAlive } from "../process-id.ts";
import { hostname } from "node:os";
import { EfsbakError, LockedError, VaultDamageError } from "../errors.ts";
import { NotFoundError, type Storage } from "../storage/storage.ts";
import type { VaultKeys } from "./crypto.ts";
import { randomId } from "./id.ts";
import { idOfKey } from "./layout.ts";
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
  /**
   * False only for read-only use of a vault the process cannot write (vault/lock.ts
   * `onReadOnly`): no claim was stored, and the caller records no job.
   */
  readonly held: boolean;
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

/** Who claims, and on which clock: defaults are this process and the real clock (tests set them). */
export interface Claimant {
  /** Wall clock in ms (real time, never --now). */
  clock?: () => number;
  ttlMs?: number;
  refreshMs?: number;
  host?: string;
  pid?: number;
  /** True when a process of this host is alive (default: signal 0). */
  isAlive?: (pid: number) => boolean;
}

/** How a lease is taken. */
export interface LeaseOptions extends Claimant {
  purpose: string;
  exclusive: boolean;
  /**
   * The vault's keys (null for a plaintext vault): claims are sealed like every other object of
   * an encrypted vault. Required, so that no caller can forget them.
   */
  keys: VaultKeys | null;
  jobId?: string | null;
  settleMs?: number;
  /** Aborts the wait while the claim settles: the claim is removed. */
  signal?: AbortSignal;
}

/** A lease not refreshed for this long is stale. */
export const LEASE_TTL_MS = 10 * 60 * 1000;
const REFRESH_MS = 60 * 1000;
const ALIVE = ".alive";

/** A live claim; `info` is null when it cannot be read (an unknown holder). */
export interface Seen {
  key: string;
  mtimeMs: number;
  /** Storage time of the newest refresh (the claim's own when never refreshed). */
  refreshedMs: number;
  info: LeaseInfo | null;
}

/** Takes a lease in `folder` (ending with "/"), or throws LockedError naming the holder. */
export async function acquireLease(storage: Storage, folder: string, options: LeaseOptions): Promise<Lease> {
  const clock = options.clock ?? Date.now;
  const host = options.host ?? hostname();
  const pid = options.pid ?? invocationPid();
  const isAlive = options.isAlive ?? processAlive;
  const ttlMs = options.ttlMs ?? LEASE_TTL_MS;
  const keys = options.keys;
  const what = options.purpose;
  const id = randomId();
  const key = `${folder}${id}`;
  const started = new Date(clock()).toISOString();
  const info: LeaseInfo = { id, purpose: options.purpose, exclusive: options.exclusive, host, pid, job_id: options.jobId ?? null, started_at: started, refreshed_at: started };
  const encode = () => encodeLease(keys, key, info);
  if (options.signal?.aborted) throw interrupted(what);
  await storage.save(key, encode());

  let recovered = false;
  async function blocker(): Promise<Seen | null> {
    const live = await liveLeases(storage, folder, { clock, ttlMs, host, isAlive, keys, onGone: () => void (recovered = true) });
    const mine = live.find((l) => l.key === key);
    if (!mine) {
      throw new LockedError(
        `Cannot start ${what}: its claim "${key}" vanished from "${storage.location}" right after it was written`,
        "another host may have taken it for stale (are the clocks far apart?); try again",
      );
    }
    for (const l of live) {
      if (l.key === key) break;
      if (options.exclusive || !l.info || l.info.exclusive) return l;
    }
    return null;
  }

  let holder = await blocker();
  if (!holder && (options.settleMs ?? 0) > 0) {
    await sleep(options.settleMs!, options.signal);
    if (options.signal?.aborted) {
      await storage.remove(key).catch(() => {});
      throw interrupted(what);
    }
    holder = await blocker();
  }
  if (holder) {
    await storage.remove(key).catch(() => {});
    throw lockedBy(what, holder, ttlMs, clock());
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
    held: true,
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
export async function liveLeases(storage: Storage, folder: string, options: Claimant & { keys: VaultKeys | null; onGone?: () => void }): Promise<Seen[]> {
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
    let info: LeaseInfo | null;
    try {
      info = decodeLease(options.keys, o.key, await storage.load(o.key));
    } catch (err) {
      if (err instanceof NotFoundError) continue;
      if (!(err instanceof SyntaxError || err instanceof VaultDamageError)) throw err;
      info = null; // an unknown holder: it conflicts with everyone until it is stale
    }
    const refreshedMs = Math.max(o.mtimeMs, alive.get(o.key) ?? 0);
    const age = clock() - refreshedMs;
    const deadHere = info !== null && info.host === host && typeof info.pid === "number" && !isAlive(info.pid);
    if (deadHere || age > ttlMs) options.onGone?.();
    if (deadHere || age > 2 * ttlMs) {
      // Certainly gone: tidy up so the folder does not grow.
      await storage.remove(o.key + ALIVE).catch(() => {});
      await storage.remove(o.key).catch(() => {});
      continue;
    }
    if (age > ttlMs) continue;
    seen.push({ key: o.key, mtimeMs: o.mtimeMs, refreshedMs, info });
  }
  // Claim objects are never rewritten, so their storage time is their place in line.
  return seen.sort((a, b) => a.mtimeMs - b.mtimeMs || (idOfKey(a.key) < idOfKey(b.key) ? -1 : 1));
}

function lockedBy(what: string, holder: Seen, ttlMs: number, now: number): LockedError {
  const minutes = Math.round(ttlMs / 60000);
  const h = holder.info;
  if (!h) {
    const left = Math.max(1, Math.ceil((holder.refreshedMs + ttlMs - now) / 60000));
    return new LockedError(
      `Cannot start ${what}: an unknown holder holds the lease (its claim "${holder.key}", stored ${new Date(holder.mtimeMs).toISOString()}, cannot be read: sealed with other keys, written unsealed, or damaged)`,
      `a claim that cannot be read counts as held until it is ${minutes} minutes old without a refresh (about ${left} more); if no other efsbak uses this vault, wait that long and try again`,
    );
  }
  return new LockedError(
    `Cannot start ${what}: ${h.purpose} holds the lease (host "${h.host}", pid ${h.pid}${h.job_id ? `, job ${h.job_id}` : ""}, since ${h.started_at})`,
    `wait for it to finish; a lease of a dead process expires by itself within ${minutes} minutes`,
  );
}

function interrupted(what: string): EfsbakError {
  return new EfsbakError(`Cannot start ${what}: interrupted while taking the lease`, { exitCode: 1 });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Plaintext JSON, or an EFSO object sealed with the vault's keys. */
function encodeLease(keys: VaultKeys | null, key: string, info: LeaseInfo): Uint8Array {
  return keys ? encodeJson(keys, key, info) : new TextEncoder().encode(JSON.stringify(info));
}

function decodeLease(keys: VaultKeys | null, key: string, data: Uint8Array): LeaseInfo {
  const info = keys ? decodeJson<LeaseInfo>(keys, key, data) : JSON.parse(new TextDecoder().decode(data));
  if (typeof info !== "object" || info === null || typeof info.purpose !== "string" || typeof info.exclusive !== "boolean") {
    throw new VaultDamageError(key, "not a lease claim");
  }
  return info as LeaseInfo;
}

