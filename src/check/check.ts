/**
 * check: verify a vault's structure and, with readData, the bytes of its packs.
 *
 *   config        readable, a version this build knows
 *   list packs/   in warm and cold storage, once each (never a stat per pack)
 *   index         every index file decodes (else a problem); the superseded ones are skipped;
 *                 every pack they name exists in its tier with exactly the recorded size and
 *                 no entry reaches past its end; packs no index names -> unindexedPacks
 *   read-data     a share of the packs, whole: trailer, header vs index, every blob's CRC,
 *                 authentication, decompression and id (read-data.ts)
 *   rps           every recovery point decodes and names a root tree
 *   trees         from each root, every tree blob indexed, readable and decodable, every
 *                 file chunk indexed (walk.ts); each problem learns the recovery points that
 *                 reach it, in the same walk, since read-data runs before it
 *
 * check reads only: it never writes, repairs or deletes. It builds its own blob index from the
 * index files it reads (not vault.index), so it sees what storage holds now and survives a
 * damaged index file. Memory: one blob index, one entry per pack and per distinct tree, and
 * at most 4 packs in flight.
 * Leftovers of interrupted backups (unindexed packs) are not damage: the next backup adopts
 * them and prune collects the rest.
 */
import { createBlobHasher } from "../chunk/hash.ts";
import { VaultDamageError } from "../errors.ts";
import { NotFoundError, type ObjectInfo, type Storage, UnsafeObjectError } from "../storage/storage.ts";
import { BlobIndex, type Tier } from "../vault/blob-index.ts";
import { decodeConfig } from "../vault/config.ts";
import { type IndexFile, decodeIndexFile } from "../vault/index-file.ts";
import { CONFIG_KEY, idOfKey, packKey } from "../vault/layout.ts";
import { decodeObject } from "../vault/object.ts";
import type { RecoveryPoint } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import { listLeftovers, type Leftover } from "../vault/leftovers.ts";
import { type CheckProblem, ProblemLog } from "./problems.ts";
import { type PackToRead, readData, selectShare } from "./read-data.ts";
import { type RpRoot, TreeWalker } from "./walk.ts";

export type { CheckProblem } from "./problems.ts";
export { selectShare } from "./read-data.ts";

/** What check found. */
export interface CheckReport {
  /** Recovery point objects found (damaged ones included). */
  recoveryPoints: number;
  /** Distinct tree blobs visited. */
  trees: number;
  /** Distinct blobs (data and tree) in the index files. */
  blobs: number;
  /** Packs named by the index files. */
  packs: number;
  /** Packs read whole by read-data. */
  packsRead: number;
  /** Bytes read from packs: whole packs (read-data) plus tree blobs (the walk). */
  bytesRead: number;
  /** Every problem found; empty when the vault is sound. */
  problems: CheckProblem[];
  /** Keys of packs in storage that no index names: garbage or adoptable leftovers of interrupted backups, not damage. */
  unindexedPacks: string[];
  /** Temp files of interrupted saves (local vaults): not damage; prune removes them once older than the pack safety age. */
  leftovers: Leftover[];
}

/** Progress of a check: `total` is 0 while unknown. */
export interface CheckProgress {
  phase: "config" | "index" | "packs" | "read-data" | "recovery-points" | "trees";
  done: number;
  total: number;
}

/** Options of check. */
export interface CheckOptions {
  /** Read a share of the packs whole (1 = all, 0.1 = a random tenth, at least one pack). */
  readData?: false | { share: number };
  /** Random source for choosing packs, values in [0, 1); Math.random by default. */
  random?: () => number;
  onProgress?: (p: CheckProgress) => void;
  signal?: AbortSignal;
  /** The real clock, ms (ages of leftovers); Date.now by default. */
  realNow?: () => number;
}

/** A pack named by an index file. */
interface IndexedPackInfo {
  tier: Tier;
  size: number;
  indexKey: string;
  /** Entries whose bytes lie past the pack's end in storage. */
  pastEnd: number;
}

/** Verifies a vault; damage is reported, never thrown. Storage failures (not damage) throw. */
export async function check(vault: Vault, options: CheckOptions = {}): Promise<CheckReport> {
  const { signal } = options;
  const progress = (phase: CheckProgress["phase"], done: number, total: number) => options.onProgress?.({ phase, done, total });
  const log = new ProblemLog();

  progress("config", 0, 1);
  await checkConfig(vault.storage, log);
  progress("config", 1, 1);

  signal?.throwIfAborted();
  const warm = await listPacks(vault.storage, log);
  const cold = vault.cold === vault.storage ? new Map<string, number>() : await listPacks(vault.cold, log);
  const stored = (tier: Tier) => (tier === "cold" ? cold : warm);

  const index = new BlobIndex();
  const packs = await loadIndex(vault, log, index, stored, { signal, progress });

  progress("packs", 0, packs.size);
  const present: PackToRead[] = [];
  let done = 0;
  for (const [packId, p] of packs) {
    const key = packKey(packId);
    const size = stored(p.tier).get(key);
    const otherTier: Tier = p.tier === "warm" ? "cold" : "warm";
    if (size === undefined) {
      const elsewhere = stored(otherTier).has(key) ? `; it is in the ${otherTier} tier, the index says ${p.tier}` : "";
      log.addPackDamage(packId, key, `pack is missing from the ${p.tier} tier${elsewhere}`);
    } else {
      present.push({ packId, tier: p.tier, indexKey: p.indexKey });
      if (size !== p.size) {
        const past = p.pastEnd > 0 ? `; ${p.pastEnd} of its blobs lie past its end` : "";
        log.addPackDamage(packId, key, `pack has ${size} bytes, the index says ${p.size}${past}`);
      }
    }
    progress("packs", ++done, packs.size);
  }
  const unindexedPacks = [...warm.keys(), ...cold.keys()].filter((key) => !packs.has(idOfKey(key))).sort();

  const hasher = await createBlobHasher(vault.keys?.idKey);
  let read = { packsRead: 0, bytesRead: 0 };
  if (options.readData) {
    const chosen = selectShare(present, options.readData.share, options.random ?? Math.random);
    read = await readData(vault, chosen, { log, hasher, signal, onProgress: (d, t) => progress("read-data", d, t), indexedIn: (id) => index.get(id)?.packId });
  }

  const rps = await loadRecoveryPoints(vault, log, { signal, progress });

  const walker = new TreeWalker(vault, {
    index,
    log,
    hasher,
    signal,
    packSize: (packId) => {
      const p = packs.get(packId);
      return p ? stored(p.tier).get(packKey(packId)) : undefined;
    },
  });
  progress("trees", 0, rps.roots.length);
  done = 0;
  for (const rp of rps.roots) {
    await walker.walk(rp);
    progress("trees", ++done, rps.roots.length);
  }

  return {
    recoveryPoints: rps.count,
    trees: walker.trees,
    blobs: index.size,
    packs: packs.size,
    packsRead: read.packsRead,
    bytesRead: read.bytesRead + walker.bytesRead,
    problems: log.list(),
    unindexedPacks,
    leftovers: await listLeftovers(vault, (options.realNow ?? Date.now)()),
  };
}

async function checkConfig(storage: Storage, log: ProblemLog): Promise<void> {
  try {
    decodeConfig(CONFIG_KEY, await storage.load(CONFIG_KEY));
  } catch (err) {
    if (err instanceof NotFoundError) log.add(CONFIG_KEY, "config is missing");
    else if (err instanceof VaultDamageError) log.addError(err);
    else throw err;
  }
}

/** Pack key -> size of every object under packs/ in one storage. */
async function listPacks(storage: Storage, log: ProblemLog): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const o of await listAll(storage, "packs/", log)) out.set(o.key, o.size);
  return out;
}

/**
 * Every object under prefix. Objects storage refuses (symbolic links in a local vault, which
 * it names after listing everything else) are problems, not a reason to stop checking.
 */
async function listAll(storage: Pick<Storage, "list" | "location">, prefix: string, log: ProblemLog): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  try {
    for await (const o of storage.list(prefix)) out.push(o);
  } catch (err) {
    if (!(err instanceof UnsafeObjectError)) throw err;
    for (const key of err.keys) log.add(key, `is a symbolic link in "${storage.location}"; nothing inside a vault may be one, and efsbak does not follow it`);
  }
  return out;
}

/** Runs task over items, `width` at a time. */
async function eachConcurrently<T>(items: T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  async function worker() {
    while (next < items.length) await task(items[next++]);
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/**
 * Reads every index file into `index`; damaged ones are problems. Returns the packs the
 * (non-superseded) index files name, counting entries past each pack's end in storage.
 */
async function loadIndex(
  vault: Vault,
  log: ProblemLog,
  index: BlobIndex,
  stored: (tier: Tier) => Map<string, number>,
  ctx: { signal?: AbortSignal; progress: (phase: "index", done: number, total: number) => void },
): Promise<Map<string, IndexedPackInfo>> {
  const keys = (await listAll(vault.storage, "index/", log)).map((o) => o.key).sort();
  const docs = new Map<string, IndexFile>();
  let done = 0;
  ctx.progress("index", 0, keys.length);
  await eachConcurrently(keys, 8, async (key) => {
    ctx.signal?.throwIfAborted();
    try {
      docs.set(key, decodeIndexFile(key, decodeObject(vault.keys, key, await vault.storage.load(key))));
    } catch (err) {
      if (err instanceof VaultDamageError) log.addError(err);
      else if (!(err instanceof NotFoundError)) throw err; // NotFound: removed by a concurrent prune
    }
    ctx.progress("index", ++done, keys.length);
  });
  const superseded = new Set<string>();
  for (const doc of docs.values()) for (const id of doc.supersedes) superseded.add(id);
  const packs = new Map<string, IndexedPackInfo>();
  for (const key of keys) {
    const doc = docs.get(key);
    if (!doc || superseded.has(idOfKey(key))) continue;
    for (const p of doc.packs) {
      const actual = stored(p.tier).get(packKey(p.packId));
      let info = packs.get(p.packId);
      if (!info) {
        info = { tier: p.tier, size: p.size, indexKey: key, pastEnd: 0 };
        packs.set(p.packId, info);
      }
      const no = index.addPack(p.packId, p.tier, p.size);
      for (const e of p.entries) {
        index.add(no, e);
        if (actual !== undefined && e.offset + e.storedLength > actual) info.pastEnd++;
      }
    }
    docs.delete(key);
  }
  return packs;
}

/** Decodes every recovery point; returns the roots to walk. */
async function loadRecoveryPoints(
  vault: Vault,
  log: ProblemLog,
  ctx: { signal?: AbortSignal; progress: (phase: "recovery-points", done: number, total: number) => void },
): Promise<{ count: number; roots: RpRoot[] }> {
  const keys = (await listAll(vault.storage, "rps/", log)).map((o) => o.key).sort();
  const roots: RpRoot[] = [];
  let count = 0;
  let done = 0;
  ctx.progress("recovery-points", 0, keys.length);
  await eachConcurrently(keys, 8, async (key) => {
    ctx.signal?.throwIfAborted();
    await loadOne(key);
    ctx.progress("recovery-points", ++done, keys.length);
  });
  async function loadOne(key: string): Promise<void> {
    const id = idOfKey(key);
    let rp: Partial<RecoveryPoint> | null;
    try {
      rp = await vault.loadJson<Partial<RecoveryPoint> | null>(key);
    } catch (err) {
      if (err instanceof NotFoundError) return; // deleted by a concurrent prune
      if (!(err instanceof VaultDamageError)) throw err;
      count++;
      log.addError(err, [id]);
      return;
    }
    count++;
    if (!rp || typeof rp !== "object" || typeof rp.tree !== "string") {
      log.add(key, "recovery point has no root tree", [id]);
    } else {
      if (rp.id !== id) log.add(key, `recovery point says its id is ${JSON.stringify(rp.id)}`, [id]);
      roots.push({ id, key, tree: rp.tree, totals: { id, files: rp.files ?? 0, dirs: rp.dirs ?? 0, symlinks: rp.symlinks, tree_bytes: rp.tree_bytes } });
    }
  }
  roots.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { count, roots };
}
