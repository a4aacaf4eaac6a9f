/**
 * check --read-data: load whole packs, decode their own header, compare it with the index, and
 * for every blob verify CRC, decrypt, decompress and recompute the id.
 *
 *   select share of packs (options.random)      at least one when share > 0
 *   sort them by the index file that names them, so each index file is decoded once
 *   for each index file: decode, then for each selected pack (4 at a time):
 *     load pack -> trailer -> header -> header vs index entries -> each blob: decodeBlob, hash == id
 *
 * Memory: at most 4 packs (~16 MiB each) and one decoded index file at a time.
 */
import type { BlobHasher } from "../chunk/hash.ts";
import { VaultDamageError } from "../errors.ts";
import { NotFoundError } from "../storage/storage.ts";
import type { Tier } from "../vault/blob-index.ts";
import { toHex } from "../vault/id.ts";
import { type IndexFile, decodeIndexFile } from "../vault/index-file.ts";
import { packKey } from "../vault/layout.ts";
import { decodeObject } from "../vault/object.ts";
import { PACK_TRAILER_BYTES, type PackEntry, decodeBlob, decodePackHeader, decodePackTrailer, maxRawLength } from "../vault/pack.ts";
import type { Vault } from "../vault/vault.ts";
import { type ProblemLog, detailOf } from "./problems.ts";

/** Packs verified at the same time. */
const CONCURRENT_PACKS = 4;

/** A pack that exists in storage, with the index file that names it. */
export interface PackToRead {
  packId: string;
  tier: Tier;
  indexKey: string;
}

/** What read-data did. */
export interface ReadDataStats {
  packsRead: number;
  bytesRead: number;
}

/**
 * Picks round(share × n) items (at least one when share > 0, all when share >= 1) with a
 * partial Fisher–Yates shuffle driven by `random` (values in [0, 1)).
 */
export function selectShare<T>(items: readonly T[], share: number, random: () => number): T[] {
  if (!(share > 0) || items.length === 0) return [];
  if (share >= 1) return items.slice();
  const n = Math.min(items.length, Math.max(1, Math.round(share * items.length)));
  const pool = items.slice();
  for (let i = 0; i < n; i++) {
    const j = i + Math.min(pool.length - i - 1, Math.floor(random() * (pool.length - i)));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, n);
}

/** Reads and verifies the given packs; problems go to log. */
export async function readData(
  vault: Vault,
  packs: PackToRead[],
  ctx: {
    log: ProblemLog;
    hasher: BlobHasher;
    signal?: AbortSignal;
    onProgress?: (done: number, total: number) => void;
    /** The pack the index maps a blob to (to tell a dead duplicate from a lost index entry). */
    indexedIn?: (id: Uint8Array) => string | undefined;
  },
): Promise<ReadDataStats> {
  const stats: ReadDataStats = { packsRead: 0, bytesRead: 0 };
  const sorted = packs.slice().sort((a, b) => (a.indexKey < b.indexKey ? -1 : a.indexKey > b.indexKey ? 1 : 0));
  const running = new Set<Promise<void>>();
  let failure: unknown = null;
  let done = 0;
  let docKey = "";
  let doc: IndexFile | null = null;
  ctx.onProgress?.(0, sorted.length);
  for (const p of sorted) {
    ctx.signal?.throwIfAborted();
    if (p.indexKey !== docKey) {
      docKey = p.indexKey;
      doc = await loadIndexFile(vault, docKey);
    }
    // Null when the index file went away since the index phase (a concurrent prune).
    const entries = doc?.packs.find((ip) => ip.packId === p.packId)?.entries ?? null;
    while (running.size >= CONCURRENT_PACKS) await Promise.race(running);
    if (failure) throw failure;
    const task: Promise<void> = verifyPack(vault, p, entries, ctx, stats)
      .catch((err) => {
        failure ??= err;
      })
      .finally(() => {
        running.delete(task);
        ctx.onProgress?.(++done, sorted.length);
      });
    running.add(task);
  }
  await Promise.all(running);
  if (failure) throw failure;
  return stats;
}

async function loadIndexFile(vault: Vault, key: string): Promise<IndexFile | null> {
  try {
    return decodeIndexFile(key, decodeObject(vault.keys, key, await vault.storage.load(key)));
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof VaultDamageError) return null;
    throw err;
  }
}

async function verifyPack(
  vault: Vault,
  p: PackToRead,
  indexEntries: PackEntry[] | null,
  ctx: { log: ProblemLog; hasher: BlobHasher; indexedIn?: (id: Uint8Array) => string | undefined },
  stats: ReadDataStats,
): Promise<void> {
  const { log, hasher } = ctx;
  const key = packKey(p.packId);
  let data: Uint8Array;
  try {
    data = await vault.tierStorage(p.tier).load(key);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    log.addPackDamage(p.packId, key, "pack is missing (removed while check ran?)");
    return;
  }
  stats.packsRead++;
  stats.bytesRead += data.length;

  // The pack's own header: damage here does not hurt restore (it reads via the index), but it
  // breaks rebuilding the index from packs, so it is a problem of the pack alone.
  let header: PackEntry[] | null = null;
  try {
    const size = data.length;
    const headerLength = decodePackTrailer(key, data.subarray(Math.max(0, size - PACK_TRAILER_BYTES)), size);
    const sealed = data.subarray(size - PACK_TRAILER_BYTES - headerLength, size - PACK_TRAILER_BYTES);
    header = decodePackHeader(vault.keys, key, sealed, size).entries;
  } catch (err) {
    if (!(err instanceof VaultDamageError)) throw err;
    log.add(key, detailOf(err));
  }

  if (indexEntries && header) compareWithHeader(log, key, indexEntries, header, (id) => ctx.indexedIn?.(id) !== undefined && ctx.indexedIn(id) !== p.packId);
  for (const e of indexEntries ?? header ?? []) {
    const hex = toHex(e.id);
    if (e.offset + e.storedLength > data.length) {
      log.addBlobDamage(p.packId, hex, key, `blob ${hex}: bytes ${e.offset}-${e.offset + e.storedLength} lie past the end of the ${data.length}-byte pack`);
      continue;
    }
    let raw: Uint8Array;
    try {
      raw = decodeBlob(vault.keys, key, e, data.subarray(e.offset, e.offset + e.storedLength), maxRawLength(e.type, vault.config.chunker.max_size));
    } catch (err) {
      if (!(err instanceof VaultDamageError)) throw err;
      log.addBlobDamage(p.packId, hex, key, `blob ${hex}: ${detailOf(err)}`);
      continue;
    }
    if (!sameBytes(hasher.hash(raw), e.id)) log.addBlobDamage(p.packId, hex, key, `blob ${hex}: content does not match its id`);
  }
}

function compareWithHeader(log: ProblemLog, key: string, indexEntries: PackEntry[], header: PackEntry[], indexedElsewhere: (id: Uint8Array) => boolean): void {
  const byOffset = new Map(header.map((h) => [h.offset, h]));
  for (const e of indexEntries) {
    const h = byOffset.get(e.offset);
    if (!h || !sameEntry(h, e)) {
      log.add(key, `blob ${toHex(e.id)}: the index entry at offset ${e.offset} does not match the pack header`);
    }
    byOffset.delete(e.offset);
  }
  for (const h of byOffset.values()) {
    // A copy of a blob the index maps to another pack (two backups stored it at once, and
    // prune's new index keeps one location) is dead bytes, not damage.
    if (indexedElsewhere(h.id)) continue;
    log.add(key, `blob ${toHex(h.id)}: in the pack header at offset ${h.offset} but not in the index`);
  }
}

function sameEntry(a: PackEntry, b: PackEntry): boolean {
  return a.type === b.type && a.compressed === b.compressed && a.rawLength === b.rawLength &&
    a.storedLength === b.storedLength && a.crc >>> 0 === b.crc >>> 0 && sameBytes(a.id, b.id);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
