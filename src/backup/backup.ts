/**
 * Backup: walk a directory tree, store new chunks and one tree blob per directory, then write
 * the recovery point.
 *
 *   walkDir(dir):                          (main thread, depth first)
 *     lstat every entry
 *       file unchanged since parent RP  -> reuse its chunk ids, read nothing
 *       file (new or changed)           -> readFile: into pipeline slots (awaits only space)
 *       dir                             -> walkDir(child) (its tree completes later)
 *       symlink                         -> readlink
 *       socket, fifo, device            -> warning, omitted
 *     tree blob = encodeTree(entries) once every child's ids are known
 *   flush trees and pipeline -> index file -> recovery point
 *
 * The walker never waits for hashes, only for free slots, so reading, hashing and storing
 * overlap; memory is bounded by the pipeline plus one node per pending entry.
 */
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { createChunkerTables, type ChunkerTables } from "../chunk/fastcdc.ts";
import { createBlobHasher, type BlobHasher } from "../chunk/hash.ts";
import { EfsbakError } from "../errors.ts";
import { isoAfter } from "../plan/duration.ts";
import type { Vault } from "../vault/vault.ts";
import { BLOB_TREE, MAX_TREE_BYTES, PACK_TARGET_BYTES, PackWriter } from "../vault/pack.ts";
import { fromHex, randomId, toHex } from "../vault/id.ts";
import { type RecoveryPoint, saveRecoveryPoint } from "../vault/recovery-point.ts";
import { type DirNode, type Node, baseFromStat, unchanged } from "../tree/node.ts";
import { MAX_TREE_ENTRIES, decodeTree, encodeTree } from "../tree/tree.ts";
import { compileExcludes } from "../tree/exclude.ts";
import { Pipeline } from "./pipeline.ts";
import { adoptPacks } from "./adopt.ts";
import { readFile, type ReadOutcome, type StartedRead } from "./file-reader.ts";
import { VERSION } from "../version.ts";

/**
 * Files read into the current slot before it goes to the workers even if not full. A
 * directory's tree waits for the ids of all its files, and with only small files a slot may
 * not fill for a long time: without this, every directory of a tree of mostly tiny or empty
 * files stays pending (its nodes in memory) until the end of the walk.
 */
const DISPATCH_EVERY_FILES = 1000;

/** Progress counters, updated as the backup goes. */
export interface BackupProgress {
  files: number;
  dirs: number;
  bytesRead: number;
  bytesSkipped: number;
  currentPath: string;
}

/** What a backup needs besides the vault and the source path. */
export interface BackupOptions {
  resource: string;
  now: Date;
  jobId: string;
  parent?: RecoveryPoint | null;
  plan?: string | null;
  rule?: string | null;
  tags?: Record<string, string>;
  coldAfterMs?: number;
  deleteAfterMs?: number;
  exclude?: string[];
  host?: string;
  /**
   * Stops the backup cleanly when aborted (completion window, SIGTERM): what was stored is
   * kept and indexed, and the recovery point is written PARTIAL with the entries walked so far.
   */
  signal?: AbortSignal;
  /** Called often with running totals (for progress displays). */
  onProgress?: (p: BackupProgress) => void;
  /** Warnings are collected in the result; this sees them as they happen. */
  onWarning?: (message: string) => void;
  workers?: number;
  /**
   * Look for packs no index names (left by a killed backup) and index them first, so their
   * data is not stored again. Default true; jobs pass whether their lease found a dead claim.
   */
  adopt?: boolean;
  /** Called when a failed backup could not index every pack it stored (the vault keeps them). */
  onUnindexed?: () => void;
}

/** What a backup produced. */
export interface BackupResult {
  rp: RecoveryPoint;
  warnings: string[];
  bytesRead: number;
  chunksNew: number;
}

/** Backs up `source` into the vault and writes a recovery point. */
export async function backup(vault: Vault, source: string, options: BackupOptions): Promise<BackupResult> {
  let rootStat: BigIntStats;
  try {
    rootStat = lstatSync(source, { bigint: true });
  } catch (err) {
    throw new EfsbakError(`Cannot back up "${source}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { exitCode: 1, hint: "check that the path exists and is readable" });
  }
  if (!rootStat.isDirectory()) throw new EfsbakError(`Cannot back up "${source}": not a directory`, { exitCode: 2 });

  // Computed before anything is stored: a time past the end of dates must fail here, never after the packs.
  const coldAt = options.coldAfterMs !== undefined ? isoAfter(options.now, options.coldAfterMs, "cold_at") : null;
  const deleteAt = options.deleteAfterMs !== undefined ? isoAfter(options.now, options.deleteAfterMs, "delete_at") : null;
  const c = vault.config.chunker;
  const tables = createChunkerTables({ minSize: c.min_size, avgSize: c.avg_size, maxSize: c.max_size, seed: c.seed });
  const adopted = options.adopt === false ? { packs: 0, blobs: 0, damaged: [] } : await adoptPacks(vault);
  const hasher = await createBlobHasher(vault.keys?.idKey);
  const pipeline = await Pipeline.start(vault, { workers: options.workers });
  const walker = new Walker(vault, pipeline, tables, hasher, options);
  if (adopted.packs > 0) walker.note(`Adopted ${adopted.packs} packs (${adopted.blobs} blobs) left by an interrupted backup`);
  for (const key of adopted.damaged) walker.note(`Cannot adopt pack "${key}": it is damaged; its data will be stored again`);
  try {
    const prevRoot = options.parent ? await walker.loadTree(options.parent.tree) : null;
    const root = await walker.walkDir(source, "", prevRoot);
    // The last slot holds chunks the pending trees wait for (after any read still under way).
    await pipeline.exclusive(async () => pipeline.dispatch());
    // A worker that fails leaves chunks unresolved: stop waiting for them then.
    const rootTree = await pipeline.until(root.done);
    walker.flushTrees();
    await pipeline.flush();
    const finished = new Date(options.now.getTime());
    const rp: RecoveryPoint = {
      id: randomId(),
      resource: options.resource,
      source_path: source,
      host: options.host ?? hostname(),
      plan: options.plan ?? null,
      rule: options.rule ?? null,
      job_id: options.jobId,
      created_at: options.now.toISOString(),
      completed_at: finished.toISOString(),
      status: walker.stopped ? "PARTIAL" : "AVAILABLE",
      tree: rootTree,
      parent: options.parent?.id ?? null,
      tags: options.tags ?? {},
      cold_at: coldAt,
      delete_at: deleteAt,
      size_bytes: walker.totalBytes,
      files: walker.progress.files,
      dirs: walker.progress.dirs,
      symlinks: walker.symlinks,
      tree_bytes: walker.treeBytes,
      bytes_new: pipeline.stats.bytesNew,
      bytes_stored: pipeline.stats.bytesStored,
      inconsistent: walker.inconsistent,
      warnings: walker.warnings,
      efsbak_version: VERSION,
    };
    await saveRecoveryPoint(vault, rp);
    return { rp, warnings: walker.warnings, bytesRead: walker.progress.bytesRead, chunksNew: pipeline.stats.chunksNew };
  } catch (err) {
    if (!(await pipeline.salvage())) options.onUnindexed?.();
    throw err;
  } finally {
    pipeline.close();
  }
}

/** A node that completes later (wrapped: an async function would flatten a bare promise). */
interface Later {
  node: Promise<Node | null>;
}

interface PendingDir {
  done: Promise<string>;
  changed: boolean;
}

class Walker {
  readonly progress: BackupProgress = { files: 0, dirs: 0, bytesRead: 0, bytesSkipped: 0, currentPath: "" };
  readonly warnings: string[] = [];
  readonly inconsistent: string[] = [];
  totalBytes = 0;
  /** Symlinks stored, and raw bytes of every listing as walked: with files and dirs, they bound a walk of the trees (tree/budget.ts). */
  symlinks = 0;
  treeBytes = 0;
  /** True when the signal stopped the walk: the tree holds only what was walked. */
  stopped = false;
  readonly #vault: Vault;
  readonly #pipeline: Pipeline;
  readonly #tables: ChunkerTables;
  readonly #hasher: BlobHasher;
  readonly #options: BackupOptions;
  readonly #excluded: (rel: string, isDir: boolean) => boolean;
  readonly #links = new Map<string, Promise<ReadOutcome>>();
  readonly #treePacker: PackWriter;
  #lastProgress = 0;
  #undispatched = 0;

  constructor(vault: Vault, pipeline: Pipeline, tables: ChunkerTables, hasher: BlobHasher, options: BackupOptions) {
    this.#vault = vault;
    this.#pipeline = pipeline;
    this.#tables = tables;
    this.#hasher = hasher;
    this.#options = options;
    this.#excluded = compileExcludes(options.exclude ?? []);
    this.#treePacker = new PackWriter(new Uint8Array(256 * 1024), { keys: vault.keys, packType: BLOB_TREE, growTo: PACK_TARGET_BYTES + 1024 * 1024 });
  }

  async loadTree(hex: string): Promise<Map<string, Node> | null> {
    const id = fromHex(hex, 32);
    if (!id || !this.#vault.index.has(id)) return null; // parent damaged: back up in full
    const nodes = decodeTree(`tree ${hex}`, await this.#vault.loadBlob(id));
    return new Map(nodes.map((n) => [n.name, n]));
  }

  /** Records a warning for the job (not about a path). */
  note(message: string): void {
    this.#warn(message);
  }

  #warn(message: string): void {
    this.warnings.push(message);
    this.#options.onWarning?.(message);
  }

  async walkDir(abs: string, rel: string, prev: Map<string, Node> | null): Promise<PendingDir> {
    const before = lstatSync(abs, { bigint: true });
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (err) {
      this.#warn(`Cannot list "${rel || "."}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; stored as empty`);
      names = [];
    }
    names.sort();
    this.progress.dirs++;
    const entries: Promise<Node | null>[] = [];
    for (const name of names) {
      if (this.#options.signal?.aborted) {
        this.stopped = true;
        break;
      }
      const childAbs = join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      let st: BigIntStats;
      try {
        st = lstatSync(childAbs, { bigint: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") this.#warn(`Skipped "${childRel}": it vanished during the backup`);
        else this.#warn(`Cannot read "${childRel}": ${(err as NodeJS.ErrnoException).code}; skipped`);
        continue;
      }
      if (this.#excluded(childRel, st.isDirectory())) continue;
      const prevNode = prev?.get(name);
      if (st.isFile()) entries.push((await this.#file(childAbs, childRel, name, st, prevNode)).node);
      else if (st.isDirectory()) entries.push((await this.#dir(childAbs, childRel, name, st, prevNode)).node);
      else if (st.isSymbolicLink()) {
        try {
          entries.push(Promise.resolve({ ...baseFromStat(name, st), type: "symlink", target: readlinkSync(childAbs) }));
          this.symlinks++;
        } catch (err) {
          this.#warn(`Cannot read link "${childRel}": ${(err as NodeJS.ErrnoException).code}; skipped`);
        }
      } else {
        const kind = st.isSocket() ? "socket" : st.isFIFO() ? "named pipe" : st.isBlockDevice() ? "block device" : st.isCharacterDevice() ? "character device" : "special file";
        this.#warn(`Omitted ${kind} "${childRel}"`);
      }
      this.#report(childRel);
    }
    const after = lstatSync(abs, { bigint: true });
    const changed = after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs;
    if (changed) this.inconsistent.push(rel || ".");
    const done = Promise.all(entries).then((nodes) => this.#saveTree(nodes.filter((n): n is Node => n !== null), rel));
    return { done, changed };
  }

  async #dir(abs: string, rel: string, name: string, st: BigIntStats, prevNode: Node | undefined): Promise<Later> {
    const prevTree = prevNode?.type === "dir" ? await this.loadTree(prevNode.subtree).catch(() => null) : null;
    const pending = await this.walkDir(abs, rel, prevTree);
    return { node: pending.done.then((subtree): DirNode => {
      const node: DirNode = { ...baseFromStat(name, st), type: "dir", subtree };
      if (pending.changed) node.inconsistent = true;
      return node;
    }) };
  }

  async #file(abs: string, rel: string, name: string, st: BigIntStats, prevNode: Node | undefined): Promise<Later> {
    this.progress.files++;
    const size = Number(st.size);
    this.totalBytes += size;
    const base = { ...baseFromStat(name, st), type: "file" as const, size, ctime: st.ctimeNs.toString(), ino: st.ino.toString() };
    const links = Number(st.nlink) > 1 ? { links: Number(st.nlink), dev: st.dev.toString() } : {};
    if (unchanged(prevNode, st) && prevNode.content.every((h) => this.#known(h))) {
      this.progress.bytesSkipped += size;
      return { node: Promise.resolve({ ...base, ...links, content: prevNode.content }) };
    }
    const linkKey = Number(st.nlink) > 1 ? `${st.dev}:${st.ino}` : "";
    let read = linkKey ? this.#links.get(linkKey) : undefined;
    if (!read) {
      let started: StartedRead;
      try {
        const s = readFile(this.#pipeline, this.#tables, abs, st, this.#options.signal);
        started = s instanceof Promise ? await s : s;
      } catch (err) {
        if (this.#options.signal?.aborted) {
          this.stopped = true; // stopped mid-file: the file is left out; its stored chunks dedupe next time
          return { node: Promise.resolve(null) };
        }
        this.#warn(`Cannot read "${rel}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; skipped`);
        return { node: Promise.resolve(null) };
      }
      this.progress.bytesRead += size;
      read = started.done;
      if (size > 0 && ++this.#undispatched >= DISPATCH_EVERY_FILES) {
        this.#pipeline.dispatch();
        this.#undispatched = 0;
      }
      if (linkKey) this.#links.set(linkKey, read);
    }
    return { node: read.then((outcome) => {
      if (outcome.kind === "vanished") {
        this.#warn(`Skipped "${rel}": it vanished during the backup`);
        return null;
      }
      if (outcome.kind === "error") {
        this.#warn(`Cannot read "${rel}": ${outcome.code}; skipped`);
        return null;
      }
      const r = outcome.read;
      if (r.inconsistent) this.inconsistent.push(rel);
      // The content belongs to the stat taken before the kept read (the file may have changed
      // since the walker's lstat): record that stat, and the length actually read.
      const node = { ...base, ...baseFromStat(name, r.stat), size: r.size, ctime: r.stat.ctimeNs.toString(), ...links, content: r.content, ...(r.inconsistent ? { inconsistent: true as const } : {}) };
      return node;
    }) };
  }

  #known(hex: string): boolean {
    const id = fromHex(hex, 32);
    return id !== null && this.#pipeline.known(id, hex);
  }

  #saveTree(nodes: Node[], rel: string): string {
    const raw = encodeTree(nodes);
    if (nodes.length > MAX_TREE_ENTRIES || raw.length > MAX_TREE_BYTES) {
      // Readers refuse such a listing (a hostile vault could declare any size): never write one.
      throw new EfsbakError(`Cannot back up directory "${rel || "."}": ${nodes.length} entries (${raw.length} bytes of listing), more than a directory may hold (${MAX_TREE_ENTRIES} entries, ${MAX_TREE_BYTES} bytes)`, { exitCode: 1, hint: "split the directory, or exclude part of it" });
    }
    this.treeBytes += raw.length;
    const id = this.#hasher.hash(raw);
    const hex = toHex(id);
    if (this.#pipeline.known(id, hex)) return hex;
    this.#pipeline.markInflight(hex);
    if (!this.#treePacker.add(BLOB_TREE, id, raw)) {
      this.flushTrees();
      this.#treePacker.add(BLOB_TREE, id, raw);
    }
    if (this.#treePacker.size >= PACK_TARGET_BYTES) this.flushTrees();
    return hex;
  }

  /** Closes the current tree pack and hands it to the pipeline to save. */
  flushTrees(): void {
    if (this.#treePacker.count === 0) return;
    const { bytes, entries } = this.#treePacker.finish();
    this.#pipeline.savePack(bytes.slice(), entries, BLOB_TREE);
  }

  #report(path: string): void {
    const now = performance.now();
    if (!this.#options.onProgress || now - this.#lastProgress < 100) return;
    this.#lastProgress = now;
    this.progress.currentPath = path;
    this.#options.onProgress(this.progress);
  }
}
