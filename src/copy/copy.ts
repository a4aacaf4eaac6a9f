/**
 * Copying a recovery point into another vault (restic copy, AWS Backup copy actions).
 *
 * Two ways, chosen by whether blob ids mean the same thing in both vaults:
 *
 *   same id space (same chunker parameters, and both unencrypted or both with the same id key)
 *     walk the source trees; every chunk and tree blob the destination lacks (by id) is
 *     loaded, checked and decoded from the source, then compressed and sealed again with the
 *     destination's keys; trees travel byte for byte, so the root keeps its id
 *   different id spaces (another chunker, or keyed ids under another key: any two encrypted
 *     vaults made apart, or plain <-> encrypted)
 *     ids cannot be compared, so every file's content is read from the source and chunked
 *     and hashed again as a backup into the destination would (its chunker, its id key);
 *     only chunks the destination lacks are stored. Trees are re-encoded with the new chunk
 *     and subtree ids. This reads all the content of the recovery point from the source.
 *
 * Write order is the backup's: packs, then the index, then the recovery point (which keeps
 * its id), so a copy killed mid-way leaves packs the next copy adopts (backup/adopt.ts) and
 * sends no more. Locks and job records are the caller's (jobs/copy-job.ts).
 */
import { EfsbakError, VaultDamageError } from "../errors.ts";
import { adoptPacks } from "../backup/adopt.ts";
import { createChunkerTables, Chunker } from "../chunk/fastcdc.ts";
import { type BlobHasher, createBlobHasher } from "../chunk/hash.ts";
import { isoAfter } from "../plan/duration.ts";
import type { Node } from "../tree/node.ts";
import { decodeTree, encodeTree } from "../tree/tree.ts";
import { fromHex, toHex } from "../vault/id.ts";
import { objectKey } from "../vault/layout.ts";
import { BLOB_DATA, BLOB_TREE } from "../vault/pack.ts";
import { type RecoveryPoint, saveRecoveryPoint } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import { BlobSink, type SinkStats } from "./blob-sink.ts";

/** Source blobs loaded ahead of the one being stored. */
const LOAD_AHEAD = 8;
/** Re-chunked contents remembered (so identical files are chunked once), at most. */
const MAX_REMEMBERED_CONTENTS = 100_000;

/** How a copy runs. */
export interface CopyOptions {
  /** The destination's copy job (the copied recovery point names it). */
  jobId: string;
  /** The copy's own lifecycle, counted from the recovery point's creation; without, the source's is kept. */
  deleteAfterMs?: number;
  coldAfterMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: CopyProgress) => void;
}

/** Progress of a copy. */
export interface CopyProgress {
  files: number;
  /** Bytes of blobs read from the source. */
  bytesRead: number;
  blobsCopied: number;
  bytesSent: number;
}

/** What a copy did. */
export interface CopyResult {
  rp: RecoveryPoint;
  /** True when content was chunked and hashed again (different id spaces). */
  rehashed: boolean;
  /** The recovery point was in the destination already: nothing was sent. */
  already: boolean;
  stats: SinkStats;
  bytesRead: number;
  files: number;
  /** Packs a copy killed before left, adopted at the start. */
  adoptedPacks: number;
}

/** True when a blob id means the same content in both vaults. */
export function sameIdSpace(a: Pick<Vault, "config" | "keys">, b: Pick<Vault, "config" | "keys">): boolean {
  const ca = a.config.chunker;
  const cb = b.config.chunker;
  if (ca.min_size !== cb.min_size || ca.avg_size !== cb.avg_size || ca.max_size !== cb.max_size || ca.seed !== cb.seed) return false;
  if (!a.keys || !b.keys) return !a.keys && !b.keys;
  return toHex(a.keys.idKey) === toHex(b.keys.idKey);
}

/** Copies `rp` of `src` into `dst`; the caller holds the locks. */
export async function copyRecoveryPoint(src: Vault, dst: Vault, rp: RecoveryPoint, options: CopyOptions): Promise<CopyResult> {
  const rehashed = !sameIdSpace(src, dst);
  const sink = new BlobSink(dst);
  const result: CopyResult = { rp, rehashed, already: false, stats: sink.stats, bytesRead: 0, files: 0, adoptedPacks: 0 };
  if (await dst.storage.stat(objectKey("rps", rp.id))) return { ...result, already: true };
  const base = new Date(rp.created_at);
  const deleteAt = options.deleteAfterMs !== undefined ? isoAfter(base, options.deleteAfterMs, "delete_at") : rp.delete_at;
  const coldAt = options.coldAfterMs !== undefined ? isoAfter(base, options.coldAfterMs, "cold_at") : options.deleteAfterMs !== undefined ? null : rp.cold_at;
  result.adoptedPacks = (await adoptPacks(dst)).packs;
  const walker = rehashed ? await rehashWalker(src, dst, sink, result, options) : sameWalker(src, sink, result, options);
  let root: { id: string; treeBytes: number };
  try {
    root = await walker(rp.tree);
    await sink.flush();
  } catch (err) {
    await sink.salvage();
    throw err;
  }
  const copy: RecoveryPoint = {
    ...rp,
    tree: root.id,
    job_id: options.jobId,
    cold_at: coldAt,
    delete_at: deleteAt,
    bytes_new: sink.stats.bytesNew,
    bytes_stored: sink.stats.bytesSent,
    ...(rehashed && rp.tree_bytes !== undefined ? { tree_bytes: root.treeBytes } : {}),
  };
  await saveRecoveryPoint(dst, copy);
  return { ...result, rp: copy };
}

/** Walks a tree (by hex id), stores what it names, and returns the destination's id for it and its listings' bytes. */
type TreeWalker = (hex: string) => Promise<{ id: string; treeBytes: number }>;

/** Same id space: blobs by id, trees byte for byte. */
function sameWalker(src: Vault, sink: BlobSink, result: CopyResult, options: CopyOptions): TreeWalker {
  const done = new Map<string, number>();
  const walking = new Set<string>();
  async function walk(hex: string): Promise<{ id: string; treeBytes: number }> {
    const known = done.get(hex);
    if (known !== undefined) return { id: hex, treeBytes: known };
    enter(walking, hex);
    const id = blobId(hex);
    const raw = await src.loadBlob(id);
    let bytes = raw.length;
    // The chunks this directory's files lack in the destination, loaded as one stream (so
    // small files' loads overlap too).
    const missing: Uint8Array[] = [];
    for (const node of decodeTree(`tree ${hex}`, raw)) {
      if (node.type === "dir") bytes += (await walk(node.subtree)).treeBytes;
      else if (node.type === "file") {
        for (const c of node.content.map(blobId)) {
          if (!sink.has(c)) missing.push(c);
          else sink.stats.blobsPresent++;
        }
        fileDone(result, options);
      }
    }
    await loadInOrder(src, missing, result, options, (c, data) => sink.put(BLOB_DATA, c, data));
    await sink.put(BLOB_TREE, id, raw);
    walking.delete(hex);
    done.set(hex, bytes);
    return { id: hex, treeBytes: bytes };
  }
  return walk;
}

/** Different id spaces: content chunked and hashed again, trees re-encoded. */
async function rehashWalker(src: Vault, dst: Vault, sink: BlobSink, result: CopyResult, options: CopyOptions): Promise<TreeWalker> {
  const c = dst.config.chunker;
  const tables = createChunkerTables({ minSize: c.min_size, avgSize: c.avg_size, maxSize: c.max_size, seed: c.seed });
  const hasher: BlobHasher = await createBlobHasher(dst.keys?.idKey);
  const trees = new Map<string, { id: string; treeBytes: number }>();
  const walking = new Set<string>();
  const contents = new Map<string, string[]>(); // source content (ids joined) -> destination chunk ids

  /**
   * Chunks and hashes again the content of a directory's files (each distinct content once),
   * their source chunks loaded as one stream; fills `contents`.
   */
  async function rechunk(files: string[][]): Promise<void> {
    if (contents.size > MAX_REMEMBERED_CONTENTS) contents.clear(); // only this directory's are needed next
    const todo = new Map<string, string[]>();
    for (const ids of files) {
      const key = ids.join(",");
      if (ids.length > 0 && !contents.has(key)) todo.set(key, ids);
    }
    const keys = [...todo.keys()];
    const owner: number[] = [];
    const flat: Uint8Array[] = [];
    keys.forEach((key, k) => {
      for (const c of todo.get(key)!) {
        flat.push(blobId(c));
        owner.push(k);
      }
    });
    let current = -1;
    let chunker: Chunker | null = null;
    let out: string[] = [];
    const store = async (chunk: Uint8Array) => {
      const id = hasher.hash(chunk);
      out.push(toHex(id));
      await sink.put(BLOB_DATA, id, chunk);
    };
    const finish = async () => {
      if (!chunker) return;
      for (const chunk of chunker.finish()) await store(chunk);
      contents.set(keys[current], out);
    };
    await loadInOrder(src, flat, result, options, async (_, data, i) => {
      if (owner[i] !== current) {
        await finish();
        current = owner[i];
        chunker = new Chunker(tables);
        out = [];
      }
      for (const chunk of chunker!.push(data)) await store(chunk);
    });
    await finish();
  }

  async function walk(hex: string): Promise<{ id: string; treeBytes: number }> {
    const known = trees.get(hex);
    if (known) return known;
    enter(walking, hex);
    const entries = decodeTree(`tree ${hex}`, await src.loadBlob(blobId(hex)));
    await rechunk(entries.flatMap((n) => (n.type === "file" ? [n.content] : [])));
    const nodes: Node[] = [];
    let bytes = 0;
    for (const node of entries) {
      if (node.type === "dir") {
        const sub = await walk(node.subtree);
        bytes += sub.treeBytes;
        nodes.push({ ...node, subtree: sub.id });
      } else if (node.type === "file") {
        nodes.push({ ...node, content: node.content.length === 0 ? [] : contents.get(node.content.join(","))! });
        fileDone(result, options);
      } else nodes.push(node);
    }
    const raw = encodeTree(nodes);
    const id = hasher.hash(raw);
    await sink.put(BLOB_TREE, id, raw);
    const out = { id: toHex(id), treeBytes: bytes + raw.length };
    walking.delete(hex);
    trees.set(hex, out);
    return out;
  }
  return walk;
}

/** Loads blobs from the source, LOAD_AHEAD at a time, and hands them to `each` in order. */
async function loadInOrder(src: Vault, ids: Uint8Array[], result: CopyResult, options: CopyOptions, each: (id: Uint8Array, data: Uint8Array, i: number) => Promise<unknown>): Promise<void> {
  const loads: Promise<Uint8Array>[] = [];
  let next = 0;
  const ahead = () => {
    while (next < ids.length && loads.length < LOAD_AHEAD) {
      const load = src.loadBlob(ids[next++]);
      load.catch(() => {}); // seen when its turn comes
      loads.push(load);
    }
  };
  ahead();
  for (let i = 0; i < ids.length; i++) {
    if (options.signal?.aborted) {
      await Promise.allSettled(loads);
      throw new EfsbakError("Cannot finish the copy: interrupted", { exitCode: 1, hint: "run the copy again: what reached the destination is not sent again" });
    }
    const data = await loads.shift()!;
    ahead();
    result.bytesRead += data.length;
    await each(ids[i], data, i);
  }
}

/**
 * Marks a tree as being walked; a tree that contains itself (only a hostile or damaged vault
 * can say so: ids are hashes of content) would otherwise be walked forever.
 */
function enter(walking: Set<string>, hex: string): void {
  if (walking.has(hex)) throw new VaultDamageError(`tree ${hex}`, "contains itself (a cycle of trees)", 'run "efsbak check" on the source vault');
  walking.add(hex);
}

function fileDone(result: CopyResult, options: CopyOptions): void {
  result.files++;
  options.onProgress?.({ files: result.files, bytesRead: result.bytesRead, blobsCopied: result.stats.blobsCopied, bytesSent: result.stats.bytesSent });
}

function blobId(hex: string): Uint8Array {
  const id = fromHex(hex, 32);
  if (!id) throw new EfsbakError(`Cannot copy: the recovery point names a malformed blob id "${hex.slice(0, 80)}"`, { exitCode: 1, hint: 'run "efsbak check" on the source vault' });
  return id;
}
