/**
 * A vault: storage (warm and cold) plus config, keys and the blob index, with the operations
 * everything above it uses: read a blob, read and write small objects, list recovery points.
 *
 * Invariants:
 * - Every object is written once under a content-derived or random name, never modified.
 * - Write order is packs -> index -> recovery point, so a crash leaves garbage (unindexed
 *   packs, which the next backup adopts) but never a recovery point that points at nothing.
 * - Metadata (config, index, trees, recovery points, jobs) stays warm; only data packs go cold.
 */
import { EfsbakError, VaultDamageError } from "../errors.ts";
import { NotFoundError, type Storage, UnsafeObjectError } from "../storage/storage.ts";
import { BlobIndex, type BlobLocation, type Tier } from "./blob-index.ts";
import { CONFIG_KEY, idOfKey, objectKey, packKey } from "./layout.ts";
import { type VaultConfig, FORMAT_VERSION, PLAIN_FORMAT_VERSION, decodeConfig, encodeConfig } from "./config.ts";
import { sealConfig, verifyConfig } from "./config-seal.ts";
import type { VaultKeys } from "./crypto.ts";
import { type IndexFile, decodeIndexFile, encodeIndexFile } from "./index-file.ts";
import { randomId, toHex } from "./id.ts";
import { decodeJson, decodeObject, encodeJson, encodeObject, objectVersion } from "./object.ts";
import { PACK_TARGET_BYTES, PACK_TRAILER_BYTES, type PackEntry, checkDeclaredLengths, decodeBlob, decodePackHeader, decodePackTrailer, maxRawLength } from "./pack.ts";

/** An open vault. */
export interface Vault {
  readonly location: string;
  readonly storage: Storage;
  readonly cold: Storage;
  readonly config: VaultConfig;
  readonly keys: VaultKeys | null;
  readonly index: BlobIndex;
  /** Index file ids that were loaded (and are not superseded). */
  readonly indexFiles: string[];
  /**
   * Index file ids that were loaded but are superseded by another loaded one (left by a prune
   * that stopped before removing them). A prune supersedes these too: were it to remove only
   * the file that supersedes them, they would name its deleted packs again.
   */
  readonly supersededIndexFiles: string[];
  /** Reads, checks and decodes one blob. Throws VaultDamageError or NotFoundError-derived damage. */
  loadBlob(id: Uint8Array): Promise<Uint8Array>;
  /** Reads a blob with a known location. */
  loadBlobAt(loc: BlobLocation): Promise<Uint8Array>;
  /** Storage of a tier. */
  tierStorage(tier: Tier): Storage;
  saveJson(key: string, doc: unknown): Promise<void>;
  loadJson<T>(key: string): Promise<T>;
  /** Writes an index file for packs; returns its id. */
  saveIndex(doc: IndexFile): Promise<string>;
  /** Reads the header of a pack (self-describing), from the given tier. */
  readPackHeader(packId: string, tier: Tier, size?: number): Promise<{ packType: number; entries: PackEntry[]; size: number }>;
}

/** Options for creating a vault. */
export interface InitOptions {
  cold: Storage;
  now: Date;
  chunker?: VaultConfig["chunker"];
  keys?: VaultKeys | null;
  encryption?: VaultConfig["encryption"];
  /** The vault id (random when not given); an encrypted vault's key file names it first. */
  id?: string;
}

/** Tree blobs kept after loading (raw bytes): at most this many, and this many bytes; a larger one is not kept. */
const TREE_CACHE_COUNT = 2048;
const TREE_CACHE_BYTES = 32 * 1024 * 1024;

/** Default chunker parameters of new vaults (FastCDC, ~1 MiB average). */
export const DEFAULT_CHUNKER_CONFIG: VaultConfig["chunker"] = { min_size: 256 * 1024, avg_size: 1024 * 1024, max_size: 4 * 1024 * 1024, seed: 0 };

/**
 * Creates a vault in empty storage; refuses to overwrite an existing one. With keys it is an
 * encrypted vault of format 2: config.sealed is written first, config last.
 */
export async function initVault(storage: Storage, options: InitOptions): Promise<VaultConfig> {
  if (await storage.stat(CONFIG_KEY)) {
    throw new EfsbakError(`Cannot create a vault at "${storage.location}": a vault already exists there`, { exitCode: 1 });
  }
  const encryption = options.encryption !== undefined ? options.encryption : options.keys ? { cipher: "aes-256-gcm" as const, kdf: "argon2id" as const } : null;
  const config: VaultConfig = {
    format: "efsbak-vault",
    version: encryption ? FORMAT_VERSION : PLAIN_FORMAT_VERSION,
    id: options.id ?? randomId(),
    created_at: options.now.toISOString(),
    chunker: options.chunker ?? DEFAULT_CHUNKER_CONFIG,
    hash: options.keys ? "blake3-keyed" : "blake3",
    compression: "zstd",
    pack_size: PACK_TARGET_BYTES,
    encryption,
  };
  if (options.keys && encryption) await sealConfig(storage, options.keys, config);
  await storage.save(CONFIG_KEY, encodeConfig(config));
  return config;
}

/** Reads the config of a vault, or null when there is none. */
export async function readConfig(storage: Storage): Promise<VaultConfig | null> {
  let data: Uint8Array;
  try {
    data = await storage.load(CONFIG_KEY);
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
  return decodeConfig(CONFIG_KEY, data);
}

/**
 * Opens a vault: reads config (and, when encrypted, checks it against config.sealed) and
 * every index file. An encrypted vault of format 1 opens as it is (see upgradeConfig).
 */
export async function openVault(storage: Storage, options: {
  cold: Storage;
  keys?: VaultKeys | null;
  config?: VaultConfig;
  /** Skip a damaged index file and report it here (check uses this) instead of failing. */
  onIndexDamage?: (err: VaultDamageError) => void;
}): Promise<Vault> {
  const config = options.config ?? (await readConfig(storage));
  if (!config) {
    throw new EfsbakError(`Cannot open vault "${storage.location}": no vault there`, { exitCode: 1, hint: 'create one with "efsbak vault init", or check the path' });
  }
  if (config.encryption && !options.keys) throw new EfsbakError(`Cannot open vault "${storage.location}": it is encrypted and no key was given`, { exitCode: 1 });
  // Format-1 objects are accepted only where there may be some (decided by the config, which
  // is authenticated from format 2 on, never by the object).
  const keys: VaultKeys | null = options.keys ? { ...options.keys, legacy: config.version === 1 || config.upgraded_from === 1 } : null;
  if (keys && config.encryption) await verifyConfig(storage, keys, config);
  const cold = options.cold;
  const maxDataBytes = config.chunker.max_size;
  const index = new BlobIndex();
  const treeCache = new Map<string, Uint8Array>();
  let treeCacheBytes = 0;

  function tierStorage(tier: Tier): Storage {
    return tier === "cold" ? cold : storage;
  }

  async function loadJson<T>(key: string): Promise<T> {
    return decodeJson<T>(keys, key, await storage.load(key));
  }

  async function loadBlobAt(loc: BlobLocation): Promise<Uint8Array> {
    const key = packKey(loc.packId);
    const maxRaw = maxRawLength(loc.type, maxDataBytes);
    checkDeclaredLengths(key, loc, maxRaw); // before loading: the lengths are the vault's word
    let stored: Uint8Array;
    try {
      stored = await tierStorage(loc.tier).load(key, { offset: loc.offset, length: loc.storedLength });
    } catch (err) {
      if (err instanceof NotFoundError) throw missingPackError(loc);
      throw err;
    }
    return decodeBlob(keys, key, loc, stored, maxRaw);
  }

  const vault: Vault = {
    location: storage.location,
    storage,
    cold,
    config,
    keys,
    index,
    indexFiles: [],
    supersededIndexFiles: [],
    tierStorage,
    async loadBlob(id) {
      const hex = toHex(id);
      const cached = treeCache.get(hex);
      if (cached) return cached;
      const loc = index.get(id);
      if (!loc) throw new VaultDamageError(`blob ${hex}`, "not in any index", 'run "efsbak check" to see which recovery points are affected');
      const raw = await loadBlobAt(loc);
      if (loc.type === 1 && raw.length <= TREE_CACHE_BYTES / 4) {
        // Bounded by count and by bytes: a hostile vault's listings may be hundreds of MB each.
        while (treeCache.size > 0 && (treeCache.size >= TREE_CACHE_COUNT || treeCacheBytes + raw.length > TREE_CACHE_BYTES)) {
          const [oldest, bytes] = treeCache.entries().next().value!;
          treeCache.delete(oldest);
          treeCacheBytes -= bytes.length;
        }
        treeCache.set(hex, raw);
        treeCacheBytes += raw.length;
      }
      return raw;
    },
    loadBlobAt,
    async saveJson(key, doc) {
      await storage.save(key, encodeJson(keys, key, doc));
    },
    loadJson,
    async saveIndex(doc) {
      const id = randomId();
      const key = objectKey("index", id);
      await storage.save(key, encodeObject(keys, key, encodeIndexFile(doc)));
      vault.indexFiles.push(id);
      return id;
    },
    async readPackHeader(packId, tier, size) {
      const key = packKey(packId);
      const s = tierStorage(tier);
      const packSize = size ?? (await s.stat(key))?.size;
      if (packSize === undefined) throw new VaultDamageError(key, "pack is missing");
      if (packSize < PACK_TRAILER_BYTES + 8) throw new VaultDamageError(key, `pack is truncated (${packSize} bytes)`);
      const trailer = await s.load(key, { offset: packSize - PACK_TRAILER_BYTES, length: PACK_TRAILER_BYTES });
      const headerLength = decodePackTrailer(key, trailer, packSize);
      const sealed = await s.load(key, { offset: packSize - PACK_TRAILER_BYTES - headerLength, length: headerLength });
      return { ...decodePackHeader(keys, key, sealed, packSize), size: packSize };
    },
  };

  await loadIndexes(vault, options.onIndexDamage);
  return vault;
}

/** What decoding a blob needs of its vault: the keys, and the chunker's max_size (a data blob's most raw bytes). */
export interface BlobDecodeContext {
  keys: VaultKeys | null;
  config: { chunker: { max_size: number } };
}

/**
 * The vault as it is now, for a job that opened it (and read its index) before taking its
 * claim: a prune that ended in between may have deleted packs that index names. A prune
 * removes every index file it read, so when one of ours is gone the index is read again.
 */
export async function withCurrentIndex(vault: Vault, options: { onIndexDamage?: (err: VaultDamageError) => void } = {}): Promise<Vault> {
  const present = new Set<string>();
  for await (const o of vault.storage.list("index/")) present.add(idOfKey(o.key));
  if (vault.indexFiles.every((id) => present.has(id))) return vault;
  return openVault(vault.storage, { cold: vault.cold, config: vault.config, keys: vault.keys, onIndexDamage: options.onIndexDamage });
}

/**
 * Decodes one blob out of bytes already loaded from its pack, with exactly the checks of
 * loadBlobAt (declared lengths within the limits of its type, length, CRC-32, authentication,
 * zstd capped at the raw length). For readers that load a run of neighbouring blobs with one
 * ranged load (restore) and slice them out.
 */
export function decodeStoredBlob(vault: BlobDecodeContext, loc: BlobLocation, stored: Uint8Array): Uint8Array {
  return decodeBlob(vault.keys, packKey(loc.packId), loc, stored, maxRawLength(loc.type, vault.config.chunker.max_size));
}

/** What loadBlobAt throws for a blob whose pack is missing (the load threw NotFoundError). */
export function missingPackError(loc: BlobLocation): VaultDamageError {
  return new VaultDamageError(packKey(loc.packId), `pack is missing (needed for blob ${toHex(loc.id).slice(0, 16)}…)`);
}

async function loadIndexes(vault: Vault, onDamage?: (err: VaultDamageError) => void): Promise<void> {
  const files: { id: string; doc: IndexFile }[] = [];
  const keys: string[] = [];
  try {
    for await (const o of vault.storage.list("index/")) keys.push(o.key);
  } catch (err) {
    // A link in a local vault's index/ (named after everything else was listed): damage to
    // report when the caller takes it (check), else the refusal stands.
    if (!(err instanceof UnsafeObjectError) || !onDamage) throw err;
    for (const key of err.keys) onDamage(new VaultDamageError(key, "is a symbolic link, which efsbak does not follow"));
  }
  const queue = keys.slice();
  let downgrade: VaultDamageError | null = null;
  async function worker() {
    for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
      let data: Uint8Array;
      try {
        data = await vault.storage.load(key);
      } catch (err) {
        if (err instanceof NotFoundError) continue; // removed by a concurrent prune
        throw err;
      }
      let doc: IndexFile;
      if (vault.keys && vault.config.version === 1 && objectVersion(data) === 2 && !downgrade) {
        // Only a format-2 writer makes these, after upgrading config: config was taken back.
        downgrade = new VaultDamageError(CONFIG_KEY, `config says format version 1, but "${key}" was written in format 2, after an upgrade`, 'someone may have put back an old config; restore "config" from a copy of the vault');
        if (!onDamage) throw downgrade;
        onDamage(downgrade);
      }
      try {
        doc = decodeIndexFile(key, decodeObject(vault.keys, key, data));
      } catch (err) {
        if (!(err instanceof VaultDamageError) || !onDamage) throw err;
        onDamage(err);
        continue;
      }
      files.push({ id: key.slice("index/".length), doc });
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker));
  const superseded = new Set(files.flatMap((f) => f.doc.supersedes));
  for (const f of files) {
    if (superseded.has(f.id)) {
      vault.supersededIndexFiles.push(f.id);
      continue;
    }
    vault.indexFiles.push(f.id);
    for (const p of f.doc.packs) {
      const no = vault.index.addPack(p.packId, p.tier, p.size);
      for (const e of p.entries) vault.index.add(no, e);
    }
  }
}
