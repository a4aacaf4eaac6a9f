/**
 * The backup's walk of the source (backup.ts drives it), with many requests in flight: one
 * node per entry, one tree blob per directory once every child's ids are known (tree-saver.ts).
 *
 *   walkDir(dir):                                     (holds one of `dirs` places, see below)
 *     list names as bytes; lstat the entries (not following symlinks) up to STAT_AHEAD ahead
 *     of the loop, at most `io` requests in flight for the whole walk
 *     for each entry in name order: read its xattrs, then
 *       file unchanged since parent RP  -> reuse its chunk ids, read nothing (current metadata)
 *       file (new or changed)           -> readFile: into pipeline slots (awaits only space)
 *       dir                             -> walkDir(child) queued, not awaited; deep ones
 *                                          through a descriptor
 *       symlink                         -> readlink (bytes)
 *       character or block device       -> a device node (rdev)
 *       socket, fifo                    -> counted, a warning, omitted
 *     whatever cannot be read is skipped: counted, listed with its reason (exit 3 upstream)
 *     the directory's own lstat after the loop is its "after" mark (mtime or ctime moved
 *     since the parent's lstat of it: marked inconsistent)
 *
 * Paths in warnings and in the skipped list are shown with displayName (printable, lossless).
 *
 * Concurrency (figures in docs/performance.md): `io` (Limiter, `concurrency` places) bounds
 * the walk's listings, lstats and readlinks in flight; `dirs` (concurrency / 4 places, LIFO)
 * bounds the directories being listed and processed at once. A directory gives its place up
 * once its own entries are processed and never waits for its subdirectories (their trees
 * complete later, through promises), so places cannot deadlock; newest-first hand-out keeps
 * the walk close to depth first, so the directories pending in memory stay few. Many
 * directories at once matter where lookups in one directory are answered one at a time
 * (measured on latfs with the client's dentry cache dropped: 200 lstats in one directory
 * ~1,000/s, spread over 16 directories ~6,500/s). Tree blobs
 * do not depend on the order in which things finish: entries are sorted by name.
 */
import { fstatSync, type BigIntStats } from "node:fs";
import type { ChunkerTables } from "../chunk/fastcdc.ts";
import type { BlobHasher } from "../chunk/hash.ts";
import type { Vault } from "../vault/vault.ts";
import { fromHex } from "../vault/id.ts";
import { StorageError } from "../storage/storage.ts";
import { displayName, fsPath } from "../tree/name.ts";
import { type DeviceNode, type DirNode, type Node, type Xattr, baseFromStat, unchanged } from "../tree/node.ts";
import { decodeTree } from "../tree/tree.ts";
import { type SourceFilter, createSourceFilter } from "../tree/exclude.ts";
import type { Pipeline } from "./pipeline.ts";
import { readFile, type ReadOutcome, type StartedRead } from "./file-reader.ts";
import { type SourceDir, XattrReader, entryPath, isLongPath, listNamesAsync, lstatAsync, readTargetAsync } from "./source-fs.ts";
import { LongDirs } from "./long-dirs.ts";
import { Limiter } from "./limiter.ts";
import { TreeSaver } from "./tree-saver.ts";
import { DEFAULT_CONCURRENCY } from "./pipeline.ts";
import type { BackupOptions, BackupProgress, SkippedEntry } from "./options.ts";

/**
 * Files read into the current slot before it goes to the workers even if not full. A
 * directory's tree waits for the ids of all its files, and with only small files a slot may
 * not fill for a long time: without this, every directory of a tree of mostly tiny or empty
 * files stays pending (its nodes in memory) until the end of the walk.
 */
const DISPATCH_EVERY_FILES = 1000;
/** Entries of a directory whose lstat is started ahead of the one being processed. */
const STAT_AHEAD = 512;

/** A node that completes later (wrapped: an async function would flatten a bare promise). */
interface Later {
  node: Promise<Node | null>;
}

/** A directory walked: its tree id once every entry under it is stored. */
export interface PendingDir {
  done: Promise<string>;
  changed: boolean;
}

/** Walks the source for one backup (state: counters, warnings, link groups, tree pack). */
export class Walker {
  readonly progress: BackupProgress = { files: 0, dirs: 0, bytesRead: 0, bytesSkipped: 0, currentPath: "" };
  readonly warnings: string[] = [];
  readonly inconsistent: string[] = [];
  /** Entries that could not be backed up, with the reason. */
  readonly skipped: SkippedEntry[] = [];
  /** Sockets and named pipes left out (by design). */
  omitted = 0;
  totalBytes = 0;
  /** Symlinks and devices stored: with files, dirs and treeBytes, they bound a walk of the trees (tree/budget.ts). */
  symlinks = 0;
  devices = 0;
  /** True when the signal stopped the walk: the tree holds only what was walked. */
  stopped = false;
  readonly xattrs = new XattrReader();
  readonly #vault: Vault;
  readonly #pipeline: Pipeline;
  readonly #tables: ChunkerTables;
  readonly #options: BackupOptions;
  readonly #filter: SourceFilter;
  readonly #links = new Map<string, Promise<ReadOutcome>>();
  readonly #trees: TreeSaver;
  readonly #longDirs: LongDirs;
  #lastProgress = 0;
  #undispatched = 0;
  /** The walk's listings, lstats and readlinks in flight. */
  readonly #io: Limiter;
  /** Directories being listed and processed at once (newest first). */
  readonly #dirs: Limiter;
  /** Directory walks queued or under way, and who waits for there to be none. */
  #walks = 0;
  #idle: (() => void)[] = [];

  constructor(vault: Vault, pipeline: Pipeline, tables: ChunkerTables, hasher: BlobHasher, options: BackupOptions) {
    this.#vault = vault;
    this.#pipeline = pipeline;
    this.#tables = tables;
    this.#options = options;
    this.#filter = createSourceFilter(options);
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    this.#io = new Limiter(concurrency);
    this.#dirs = new Limiter(Math.max(2, Math.floor(concurrency / 4)), { lifo: true });
    this.#trees = new TreeSaver(vault, pipeline, hasher);
    this.#longDirs = new LongDirs(pipeline);
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

  /** One warning per kind of xattr failure (not per entry), once the walk is done. */
  noteXattrFailures(): void {
    for (const [code, f] of this.xattrs.failures) {
      this.#warn(`Cannot read extended attributes of ${f.count} ${f.count === 1 ? "entry" : "entries"}: ${code} (first: "${f.first}"); stored without them`);
    }
  }

  #warn(message: string): void {
    this.warnings.push(message);
    this.#options.onWarning?.(message);
  }

  #skip(rel: string, reason: string, message: string): void {
    this.skipped.push({ path: displayName(rel || "."), reason });
    this.#warn(message);
  }

  /** The xattrs of an entry, as a node field (absent when it has none). */
  #xattrsOf(path: string, st: BigIntStats, rel: string): { xattrs?: Xattr[] } {
    const x = this.xattrs.read(path, st.dev, () => displayName(rel || "."));
    return x ? { xattrs: x } : {};
  }

  /** The root directory's own xattrs, as a RootMeta field. */
  rootXattrs(source: string, st: BigIntStats): { xattrs?: Xattr[] } {
    return this.#xattrsOf(source, st, "");
  }

  /** Walks the root (its path may itself be long). */
  async walkRoot(source: string, st: BigIntStats, prev: Map<string, Node> | null): Promise<PendingDir> {
    return this.#walkAt(source, "", st, prev);
  }

  /**
   * Resolves once every directory walk has processed its entries (their trees may still wait
   * for hashes): after this nothing more goes into slots, so a last dispatch sends it all.
   */
  async walked(): Promise<void> {
    while (this.#walks > 0) await this.#pipeline.until(new Promise<void>((r) => this.#idle.push(r)));
  }

  /** Walks the directory at `path` (reached through a descriptor when the path is long). */
  async #walkAt(path: string, rel: string, st: BigIntStats, prev: Map<string, Node> | null): Promise<PendingDir> {
    if (!isLongPath(path)) return this.walkDir({ path }, rel, st, prev);
    const held = await this.#longDirs.open(path);
    if ("error" in held) return this.walkDir(null, rel, st, prev, held.error);
    const pending = await this.walkDir(held.dir, rel, st, prev);
    held.walked(pending.done);
    return pending;
  }

  /** Walks one directory; `dir` null (with `listError`) when it could not be opened. */
  async walkDir(dir: SourceDir | null, rel: string, before: BigIntStats, prev: Map<string, Node> | null, listError?: string): Promise<PendingDir> {
    let names: string[] = [];
    if (dir) {
      try {
        names = await this.#io.run(() => listNamesAsync(dir.path));
      } catch (err) {
        listError = codeOf(err);
      }
    }
    if (listError !== undefined) this.#skip(rel, listError, `Cannot list "${displayName(rel || ".")}": ${listError}; stored as empty`);
    names.sort();
    if (dir) names = this.#filter.names(rel, names, (n) => fsPath(entryPath(dir.path, n)));
    this.progress.dirs++;
    // lstats run up to STAT_AHEAD entries ahead of the loop: many in flight, few held in
    // memory, and a file's read follows its lstat closely (the client's lookup cache still
    // holds the entry, so the open costs no second LOOKUP).
    const stats: (Promise<BigIntStats | string> | undefined)[] = new Array(names.length);
    const statAt = (k: number) => {
      if (k < names.length) stats[k] = this.#io.run(() => lstatAsync(entryPath(dir!.path, names[k]))).catch(codeOf);
    };
    for (let k = 0; k < Math.min(names.length, STAT_AHEAD); k++) statAt(k);
    const entries: Promise<Node | null>[] = [];
    for (let i = 0; i < names.length; i++) {
      if (this.#options.signal?.aborted) {
        this.stopped = true;
        break;
      }
      const name = names[i];
      const childPath = entryPath(dir!.path, name);
      const childRel = rel ? `${rel}/${name}` : name;
      const st = await stats[i]!;
      stats[i] = undefined;
      statAt(i + STAT_AHEAD);
      if (typeof st === "string") {
        if (st === "ENOENT") this.#skip(childRel, "vanished", `Skipped "${displayName(childRel)}": it vanished during the backup`);
        else this.#skip(childRel, st, `Cannot read "${displayName(childRel)}": ${st}; skipped`);
        continue;
      }
      const left = this.#filter.exclusion(childRel, st, before);
      if (left) {
        if (left.note) this.#warn(left.note);
        continue;
      }
      const prevNode = prev?.get(name);
      if (st.isFile()) entries.push((await this.#file(childPath, childRel, name, st, prevNode)).node);
      else if (st.isDirectory()) entries.push(this.#dir(childPath, childRel, name, st, prevNode));
      else if (st.isSymbolicLink()) entries.push(this.#symlink(childPath, childRel, name, st));
      else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const node: DeviceNode = { ...baseFromStat(name, st), ...this.#xattrsOf(childPath, st, childRel), type: st.isCharacterDevice() ? "chardev" : "blockdev", rdev: st.rdev.toString() };
        entries.push(Promise.resolve(node));
        this.devices++;
      } else {
        this.omitted++;
        this.#warn(`Omitted ${st.isSocket() ? "socket" : st.isFIFO() ? "named pipe" : "special file"} "${displayName(childRel)}"`);
      }
      this.#report(childRel);
    }
    await Promise.all(stats.filter((x) => x !== undefined)); // stopped early: let them settle
    let changed = false;
    if (dir) {
      try {
        const after = dir.fd !== undefined ? fstatSync(dir.fd, { bigint: true }) : await this.#io.run(() => lstatAsync(dir.path));
        changed = after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs;
      } catch {
        changed = true; // gone or replaced while walked
      }
    }
    if (changed) this.inconsistent.push(displayName(rel || "."));
    const done = Promise.all(entries).then((nodes) => this.#trees.save(nodes.filter((n): n is Node => n !== null), rel));
    return { done, changed };
  }

  async #symlink(path: string, rel: string, name: string, st: BigIntStats): Promise<Node | null> {
    try {
      const target = await this.#io.run(() => readTargetAsync(path));
      this.symlinks++;
      return { ...baseFromStat(name, st), ...this.#xattrsOf(path, st, rel), type: "symlink", target };
    } catch (err) {
      const code = codeOf(err);
      this.#skip(rel, code, `Cannot read link "${displayName(rel)}": ${code}; skipped`);
      return null;
    }
  }

  /**
   * A subdirectory: walked once one of the `dirs` places is free; its node completes with its
   * tree. Left out (null) when the backup stopped before its walk began.
   */
  #dir(path: string, rel: string, name: string, st: BigIntStats, prevNode: Node | undefined): Promise<Node | null> {
    this.#walks++;
    const walked = this.#dirs.run(async () => {
      if (this.#options.signal?.aborted) {
        this.stopped = true;
        return null;
      }
      const prevTree = prevNode?.type === "dir" ? await this.loadTree(prevNode.subtree).catch(() => null) : null;
      const xattrs = this.#xattrsOf(path, st, rel);
      return { xattrs, pending: await this.#walkAt(path, rel, st, prevTree) };
    }).finally(() => {
      if (--this.#walks === 0) for (const r of this.#idle.splice(0)) r();
    });
    return walked.then((w) => {
      if (!w) return null;
      return w.pending.done.then((subtree): DirNode => {
        const node: DirNode = { ...baseFromStat(name, st), ...w.xattrs, type: "dir", subtree };
        if (w.pending.changed) node.inconsistent = true;
        return node;
      });
    });
  }

  async #file(path: string, rel: string, name: string, st: BigIntStats, prevNode: Node | undefined): Promise<Later> {
    this.progress.files++;
    const size = Number(st.size);
    this.totalBytes += size;
    // The xattrs are read for every file, unchanged ones too: the parent's may be stale.
    const base = { ...baseFromStat(name, st), ...this.#xattrsOf(path, st, rel), type: "file" as const, size, ctime: st.ctimeNs.toString(), ino: st.ino.toString() };
    const links = Number(st.nlink) > 1 ? { links: Number(st.nlink), dev: st.dev.toString() } : {};
    if (unchanged(prevNode, st) && prevNode.content.every((h) => this.#known(h))) {
      this.progress.bytesSkipped += size;
      return { node: Promise.resolve({ ...base, ...links, content: prevNode.content }) };
    }
    const skipFile = (reason: string, message: string): null => {
      this.progress.files--;
      this.totalBytes -= size;
      this.#skip(rel, reason, message);
      return null;
    };
    const linkKey = Number(st.nlink) > 1 ? `${st.dev}:${st.ino}` : "";
    let read = linkKey ? this.#links.get(linkKey) : undefined;
    const readHere = !read;
    if (!read) {
      // Claimed before the first await: another directory may reach the same inode meanwhile.
      let claim: ((r: Promise<ReadOutcome>) => void) | null = null;
      if (linkKey) this.#links.set(linkKey, new Promise<ReadOutcome>((r) => (claim = r)));
      const settle = (r: Promise<ReadOutcome>): Promise<ReadOutcome> => {
        (claim as ((r: Promise<ReadOutcome>) => void) | null)?.(r);
        return r;
      };
      let started: StartedRead;
      try {
        const s = readFile(this.#pipeline, this.#tables, path, st, this.#options.signal);
        started = s instanceof Promise ? await s : s;
      } catch (err) {
        if (this.#options.signal?.aborted) {
          this.stopped = true; // stopped mid-file: the file is left out; its stored chunks dedupe next time
          this.progress.files--;
          this.totalBytes -= size;
          settle(Promise.resolve({ kind: "error", code: "stopped" }));
          return { node: Promise.resolve(null) };
        }
        // The vault failed, not this file (a pack could not be saved): the backup ends, once.
        if (err instanceof StorageError) {
          settle(Promise.resolve({ kind: "error", code: "storage" }));
          throw err;
        }
        const code = codeOf(err);
        settle(Promise.resolve({ kind: "error", code }));
        return { node: Promise.resolve(skipFile(code, `Cannot read "${displayName(rel)}": ${code}; skipped`)) };
      }
      this.progress.bytesRead += size;
      read = started.done;
      if (size > 0 && ++this.#undispatched >= DISPATCH_EVERY_FILES) {
        this.#pipeline.dispatch();
        this.#undispatched = 0;
      }
      settle(read);
    }
    return { node: read.then((outcome) => {
      if (outcome.kind !== "read" && readHere) this.progress.bytesRead -= size; // nothing was read
      if (outcome.kind === "error" && outcome.code === "stopped") {
        this.progress.files--; // its first link was being read when the backup stopped
        this.totalBytes -= size;
        return null;
      }
      if (outcome.kind === "vanished") return skipFile("vanished", `Skipped "${displayName(rel)}": it vanished during the backup`);
      if (outcome.kind === "error") return skipFile(outcome.code, `Cannot read "${displayName(rel)}": ${outcome.code}; skipped`);
      const r = outcome.read;
      if (r.inconsistent) this.inconsistent.push(displayName(rel));
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

  /** Closes the current tree pack and hands it to the pipeline to save. */
  flushTrees(): void {
    this.#trees.flush();
  }

  /** Raw bytes of every listing walked. */
  get treeBytes(): number {
    return this.#trees.bytes;
  }

  #report(path: string): void {
    const now = performance.now();
    if (!this.#options.onProgress || now - this.#lastProgress < 100) return;
    this.#lastProgress = now;
    this.progress.currentPath = displayName(path);
    this.#options.onProgress(this.progress);
  }
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
