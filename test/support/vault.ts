/**
 * Test vaults: in-memory by default, with small chunks (1/4/16 KiB) so that tests exercise
 * many chunks per file; plus helpers to write hand-made blobs and trees (a hostile vault) and
 * to damage blobs and packs.
 */
import { createBlobHasher } from "../../src/chunk/hash.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import type { Storage } from "../../src/storage/storage.ts";
import type { Node } from "../../src/tree/node.ts";
import { decodeTree, encodeTree } from "../../src/tree/tree.ts";
import { fromHex, toHex } from "../../src/vault/id.ts";
import { packKey } from "../../src/vault/layout.ts";
import { BLOB_DATA, BLOB_TREE, PackWriter } from "../../src/vault/pack.ts";
import type { RecoveryPoint } from "../../src/vault/recovery-point.ts";
import { type Vault, initVault, openVault } from "../../src/vault/vault.ts";

/** Chunker parameters of test vaults. */
export const TEST_CHUNKER = { min_size: 1024, avg_size: 4096, max_size: 16384, seed: 0 };

/** Creates and opens a vault (memoryStorage unless given). */
export async function testVault(options: { storage?: Storage; cold?: Storage; now?: Date } = {}): Promise<Vault> {
  const storage = options.storage ?? memoryStorage();
  const cold = options.cold ?? memoryStorage({ location: "memory:cold" });
  await initVault(storage, { cold, now: options.now ?? new Date("2026-01-01T00:00:00Z"), chunker: TEST_CHUNKER });
  return openVault(storage, { cold });
}

/** Opens the same vault again (fresh index, no caches): what a later command would see. */
export function reopenVault(vault: Vault): Promise<Vault> {
  return openVault(vault.storage, { cold: vault.cold, keys: vault.keys });
}

/**
 * Stores raw blobs of one type in a new pack and indexes it; returns their ids (hex).
 * `ids` forces ids (a hostile vault: a blob under an id that is not its hash).
 */
export async function storeBlobs(vault: Vault, type: number, raws: Uint8Array[], forcedIds?: string[]): Promise<string[]> {
  const hasher = await createBlobHasher(vault.keys?.idKey);
  const writer = new PackWriter(new Uint8Array(1 << 20), { keys: vault.keys, packType: type });
  const ids: string[] = [];
  for (const [i, raw] of raws.entries()) {
    const id = forcedIds ? fromHex(forcedIds[i], 32)! : hasher.hash(raw);
    ids.push(toHex(id));
    writer.add(type, id, raw);
  }
  const { bytes, entries, packId } = writer.finish();
  await vault.storage.save(packKey(packId), bytes.slice());
  const no = vault.index.addPack(packId, "warm", bytes.length);
  for (const e of entries) vault.index.add(no, e);
  await vault.saveIndex({ packs: [{ packId, tier: "warm", packType: type, size: bytes.length, entries }], supersedes: [] });
  return ids;
}

/** Stores data chunks; returns their ids. */
export function storeChunks(vault: Vault, chunks: Uint8Array[]): Promise<string[]> {
  return storeBlobs(vault, BLOB_DATA, chunks);
}

/** Stores a tree blob made of these entries, as given (any names, any order); returns its id. */
export async function storeTree(vault: Vault, entries: Node[]): Promise<string> {
  return (await storeBlobs(vault, BLOB_TREE, [encodeTree(entries)]))[0];
}

/** Stores a tree blob from raw JSON entries (exactly as given: duplicates and odd names kept); `id` forces its id. */
export async function storeRawTree(vault: Vault, entries: object[], id?: string): Promise<string> {
  const raw = new TextEncoder().encode(JSON.stringify({ v: 1, entries }));
  return (await storeBlobs(vault, BLOB_TREE, [raw], id ? [id] : undefined))[0];
}

/** Node helpers with plausible metadata. */
export const nodes = {
  file(name: string, content: string[], size: number, extra: Record<string, unknown> = {}): Node {
    return { name, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: "1700000000000000000", size, ctime: "1700000000000000000", ino: String(1000 + name.length), content, ...extra } as Node;
  },
  dir(name: string, subtree: string, extra: Record<string, unknown> = {}): Node {
    return { name, type: "dir", mode: 0o755, uid: 0, gid: 0, mtime: "1700000000000000000", subtree, ...extra } as Node;
  },
  symlink(name: string, target: string): Node {
    return { name, type: "symlink", mode: 0o777, uid: 0, gid: 0, mtime: "1700000000000000000", target };
  },
};

/** A recovery point for a hand-made tree (not saved). */
export function fakeRecoveryPoint(tree: string, overrides: Partial<RecoveryPoint> = {}): RecoveryPoint {
  return {
    id: "0000000000000000feedfacefeedfacefeed", resource: "test", source_path: "/nowhere", host: "test", plan: null, rule: null,
    job_id: "job", created_at: "2026-01-01T00:00:00.000Z", completed_at: "2026-01-01T00:00:00.000Z", status: "AVAILABLE",
    tree, parent: null, tags: {}, cold_at: null, delete_at: null, size_bytes: 0, files: 0, dirs: 0, bytes_new: 0,
    bytes_stored: 0, inconsistent: [], warnings: [], efsbak_version: "test", ...overrides,
  };
}

/** Where a blob is stored: pack key and offset. */
export function blobLocation(vault: Vault, hex: string): { key: string; offset: number; storedLength: number; rawLength: number } {
  const loc = vault.index.get(fromHex(hex, 32)!);
  if (!loc) throw new Error(`blob ${hex} is not indexed`);
  return { key: packKey(loc.packId), offset: loc.offset, storedLength: loc.storedLength, rawLength: loc.rawLength };
}

/** Flips one byte of a stored blob (rewrites its pack). */
export async function flipBlobByte(vault: Vault, hex: string, at = 0): Promise<void> {
  const { key, offset } = blobLocation(vault, hex);
  const data = await vault.storage.load(key);
  data[offset + at] ^= 0xff;
  await vault.storage.save(key, data);
}

/** Removes the pack holding a blob; returns its key. */
export async function removePackOf(vault: Vault, hex: string): Promise<string> {
  const { key } = blobLocation(vault, hex);
  await vault.storage.remove(key);
  return key;
}

/** The entries of a tree blob. */
export async function treeEntries(vault: Vault, hex: string): Promise<Node[]> {
  return decodeTree(`tree ${hex}`, await vault.loadBlob(fromHex(hex, 32)!));
}

/** The node at a '/'-separated path below a tree. */
export async function nodeAt(vault: Vault, tree: string, path: string): Promise<Node> {
  const [head, ...rest] = path.split("/");
  const n = (await treeEntries(vault, tree)).find((e) => e.name === head);
  if (!n) throw new Error(`no "${head}" in tree ${tree}`);
  if (rest.length === 0) return n;
  if (n.type !== "dir") throw new Error(`"${head}" is not a directory`);
  return nodeAt(vault, n.subtree, rest.join("/"));
}
