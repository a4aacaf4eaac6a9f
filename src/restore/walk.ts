/**
 * The restore walker: creates a recovery point's tree inside a fresh restore directory.
 * restore.ts drives it; the pipeline is documented there.
 *
 * Invariants (security):
 * - Every path it creates is <a directory it created itself>/<a validated name>. A name that
 *   is empty, ".", "..", holds "/" or NUL, or repeats an earlier name of the same directory
 *   never becomes a path: the entry is salvaged into lost+found under a sanitized name.
 * - Directories are made with mkdir (fails on anything existing), files opened with
 *   O_CREAT|O_EXCL|O_NOFOLLOW (files.ts), so nothing existing is ever written through, and a
 *   restored symlink is never a parent of anything (its name is taken in its directory).
 * - Metadata is set through the open descriptor (files) or without following links.
 *
 * Completion: walking a directory returns once its entries are started; `done` resolves when
 * every entry below is complete, and only then are the directory's mode and mtime set.
 * Task promises never reject: the first fatal error is kept in `failure` and stops the walk.
 */
import { mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { WalkBudget } from "../tree/budget.ts";
import type { DirNode, Node, SymlinkNode } from "../tree/node.ts";
import { decodeTree } from "../tree/tree.ts";
import { fromHex } from "../vault/id.ts";
import type { Vault } from "../vault/vault.ts";
import { type Done, type FileHost, FileRestorer } from "./files.ts";
import { type IncludeNode, decide } from "./include.ts";
import { type Fragment, type LostFound, LOST_FOUND_DIR, REASON, createProblem } from "./lost-found.ts";
import { type MetaSetter, createMetaSetter } from "./metadata.ts";
import type { ContentWriter } from "./write-file.ts";

/** Running totals of a restore (also what onProgress sees). */
export interface WalkProgress {
  files: number;
  bytes: number;
  totalBytes: number;
  currentPath: string;
}

/** Options of the walker. */
export interface WalkOptions {
  chown: boolean;
  signal?: AbortSignal;
  /** Files held open at once while their chunks load (those of several chunks). */
  maxOpenFiles: number;
  /** Known total of bytes to restore, or null to count file sizes as they are found. */
  totalBytes: number | null;
  warn(message: string): void;
  report(progress: WalkProgress): void;
  /**
   * For a directory whose listing is lost: the same directory in another recovery point of
   * the resource (its tree id and that recovery point's id), or null.
   */
  olderListing?: (rel: string) => Promise<{ tree: string; rp: string } | null>;
  /** Counts entries walked and listing bytes loaded against what the recovery point records (tree/budget.ts). */
  budget?: WalkBudget;
}

const DONE: Promise<void> = Promise.resolve();
/** Subdirectory listings loaded ahead, per directory level. */
const PREFETCH = 8;
/** Listings held ahead at most, in all (bounds memory whatever the depth). */
const MAX_PREFETCHED = 256;
/**
 * Raw bytes of listings held ahead at most, in all (the index says each one's size before it
 * is loaded; decoded, a listing takes about 8 times its raw bytes): eight listings of 470k
 * entries each once took 3 GiB. A larger listing is loaded when its turn comes.
 */
const MAX_PREFETCHED_BYTES = 8 * 1024 * 1024;

/** Why a name cannot be created as is, or null when it is safe. */
export function nameProblem(name: unknown, seen: Set<string>, atRoot: boolean): string | null {
  if (typeof name !== "string" || name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) return REASON.unsafeName;
  if (seen.has(name)) return REASON.duplicateName;
  if (atRoot && name === LOST_FOUND_DIR) return REASON.collision;
  return null;
}

/** Restores trees into a directory. One per restore. */
export class RestoreWalker implements FileHost {
  readonly counts = { files: 0, dirs: 0, symlinks: 0 };
  readonly progress: WalkProgress;
  readonly countSizes: boolean;
  failure: unknown = null;
  readonly #vault: Vault;
  readonly #root: string;
  readonly #lf: LostFound;
  readonly #writer: ContentWriter;
  readonly #options: WalkOptions;
  readonly #meta: MetaSetter;
  readonly #files: FileRestorer;
  readonly #inflight = new Set<Promise<void>>();
  readonly #ancestors = new Set<string>();
  /** Listings loaded ahead of the walk (subdirectories of the directory being walked). */
  readonly #prefetched = new Map<string, Promise<{ nodes: Node[] | null } | { error: unknown }>>();
  readonly #prefetchedSizes = new Map<string, number>();
  #prefetchedBytes = 0;
  #lastReport = -Infinity;

  constructor(vault: Vault, root: string, lf: LostFound, writer: ContentWriter, options: WalkOptions) {
    this.#vault = vault;
    this.#root = root;
    this.#lf = lf;
    this.#writer = writer;
    this.#options = options;
    this.countSizes = options.totalBytes === null;
    this.progress = { files: 0, bytes: 0, totalBytes: options.totalBytes ?? 0, currentPath: "" };
    const made = statSync(root);
    this.#meta = createMetaSetter({ root, chown: options.chown, newOwner: { uid: made.uid, gid: made.gid }, warn: options.warn });
    this.#files = new FileRestorer(this, lf, writer, { meta: this.#meta, maxOpenFiles: options.maxOpenFiles });
  }

  /** Counts restored bytes (from the content writer). */
  addBytes(n: number): void {
    this.progress.bytes += n;
    this.report();
  }

  /** Reports progress, at most every 100 ms unless forced. */
  report(force = false): void {
    const now = performance.now();
    if (!force && now - this.#lastReport < 100) return;
    this.#lastReport = now;
    this.#options.report(this.progress);
  }

  /** Waits until every started task has ended (after a failure, before renaming the directory). */
  async settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** Throws the first fatal error, or the abort reason. */
  check(): void {
    if (this.failure) throw this.failure;
    const signal = this.#options.signal;
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
  }

  /** True once a task has failed. */
  failed(): boolean {
    return this.failure !== null;
  }

  /** Keeps the first failure of a task; the returned promise never rejects. */
  track(task: Promise<void>): Promise<void> {
    const p = task.catch((err) => {
      if (!this.failure) this.failure = err;
    });
    this.#inflight.add(p);
    void p.then(() => this.#inflight.delete(p));
    return p;
  }

  /** Records a lost+found entry. */
  fragment(f: Fragment): void {
    this.#lf.add(f);
  }

  /**
   * Restores the tree `tree` into the existing directory `abs` (`rel` is its path in the RP).
   * `lost`: abs lies inside lost+found (a salvaged directory), so entries stay where they are.
   */
  async walkDir(tree: string, abs: string, rel: string, filter: IncludeNode | null, lost: boolean): Promise<Done> {
    const where = rel || ".";
    if (this.#ancestors.has(tree)) {
      this.fragment({ name: where, original_path: where, inode: null, size: 0, reason: REASON.cycle, missing_ranges: [] });
      return { done: DONE };
    }
    const entries = await this.#listing(tree);
    if (entries === null) {
      // What can still be found: the same directory in another recovery point goes to
      // lost+found, whole, for the user to compare (it may be older or newer than this one).
      const other = lost ? null : await this.#options.olderListing?.(rel).catch(() => null);
      if (other && !this.#ancestors.has(other.tree)) {
        const name = rel.split("/").pop() || "root";
        const dir: DirNode = { type: "dir", name, subtree: other.tree, mode: 0o700, uid: 0, gid: 0, mtime: "0" };
        return this.#salvage(dir, where, `${REASON.listingLost}; recovered from recovery point ${other.rp}, which may differ`, filter);
      }
      this.fragment({ name: where, original_path: where, inode: null, size: 0, reason: REASON.listingLost, missing_ranges: [] });
      return { done: DONE };
    }
    this.#ancestors.add(tree);
    const pending: Promise<void>[] = [];
    const seen = new Set<string>();
    // Load the listings of the next few subdirectories while this one is walked (a vault on
    // S3 answers each in tens of milliseconds); at most PREFETCH ahead per level.
    const subdirs = entries.filter((n): n is DirNode => n.type === "dir" && n.subtree !== tree && !this.#ancestors.has(n.subtree) && !decide(filter, n.name, true).skip);
    let nextPrefetch = 0;
    let dirsSeen = 0;
    try {
      for (const node of entries) {
        this.check();
        this.#options.budget?.entry();
        if (node.type === "dir" && !decide(filter, node.name, true).skip) {
          dirsSeen++;
          for (; nextPrefetch < Math.min(subdirs.length, dirsSeen + PREFETCH); nextPrefetch++) this.#prefetch(subdirs[nextPrefetch].subtree);
        }
        const name = node.name;
        const childRel = rel ? `${rel}/${name}` : name;
        const problem = nameProblem(name, seen, abs === this.#root);
        if (typeof name === "string") seen.add(name);
        const d = decide(filter, name, node.type === "dir");
        if (d.skip) continue;
        this.progress.currentPath = childRel;
        const started = problem ? await this.#salvage(node, childRel, problem, d.filter) : await this.#create(node, join(abs, name), childRel, d.filter, lost);
        pending.push(started.done);
        this.report();
      }
    } finally {
      this.#ancestors.delete(tree);
    }
    return { done: Promise.all(pending).then(() => undefined) };
  }

  #prefetch(tree: string): void {
    if (this.#prefetched.has(tree) || this.#prefetched.size >= MAX_PREFETCHED) return;
    const id = fromHex(tree, 32);
    const size = (id && this.#vault.index.get(id)?.rawLength) || 0;
    if (this.#prefetchedBytes + size > MAX_PREFETCHED_BYTES) return; // loaded when its turn comes
    this.#prefetchedBytes += size;
    this.#prefetchedSizes.set(tree, size);
    this.#prefetched.set(tree, this.#loadDir(tree).then((nodes) => ({ nodes }), (error: unknown) => ({ error })));
  }

  async #listing(tree: string): Promise<Node[] | null> {
    const ahead = this.#prefetched.get(tree);
    if (!ahead) return this.#loadDir(tree);
    this.#prefetched.delete(tree);
    this.#prefetchedBytes -= this.#prefetchedSizes.get(tree) ?? 0;
    this.#prefetchedSizes.delete(tree);
    const r = await ahead;
    if ("error" in r) throw r.error;
    return r.nodes;
  }

  async #loadDir(tree: string): Promise<Node[] | null> {
    const id = fromHex(tree, 32);
    if (!id) return null;
    let nodes: Node[];
    let size = 0;
    try {
      const raw = await this.#vault.loadBlob(id);
      size = raw.length;
      nodes = decodeTree(`tree ${tree}`, raw);
    } catch (err) {
      if (await this.#writer.isDamage(err, id)) return null;
      throw err;
    }
    this.#options.budget?.bytes(size); // outside the try: past the budget is no damage of one listing
    return nodes;
  }

  async #create(node: Node, abs: string, rel: string, filter: IncludeNode | null, lost: boolean): Promise<Done> {
    if (node.type === "file") return this.#files.file(node, abs, rel, lost ? [] : null);
    if (node.type === "symlink") return this.#symlink(node, abs, rel, lost);
    try {
      mkdirSync(abs, { mode: 0o700 });
    } catch (err) {
      const problem = createProblem(err);
      if (problem === null) throw err;
      return this.#salvage(node, rel, problem, filter);
    }
    if (!lost) this.counts.dirs++;
    if (node.inconsistent) this.#options.warn(`Directory "${rel}" changed during the backup: restored in place, its listing may be incomplete`);
    const child = await this.walkDir(node.subtree, abs, rel, filter, lost);
    return { done: child.done.then(() => this.#meta.dir(abs, node, lost)) };
  }

  /** Puts an entry that cannot take its proper place into lost+found. */
  async #salvage(node: Node, rel: string, reason: string, filter: IncludeNode | null): Promise<Done> {
    const spot = this.#lf.place(typeof node.name === "string" ? node.name : "unnamed");
    if (node.type === "file") return this.#files.file(node, spot.path, rel, [reason]);
    if (node.type === "symlink") {
      try {
        symlinkSync(node.target, spot.path);
        this.#meta.symlink(spot.path, node);
        this.fragment({ name: spot.name, original_path: rel, inode: null, size: byteLength(node.target), reason, missing_ranges: [] });
      } catch (err) {
        if (createProblem(err, ["ENOENT"]) === null) throw err;
        writeFileSync(spot.path, node.target, { flag: "wx", mode: 0o600 });
        this.fragment({ name: spot.name, original_path: rel, inode: null, size: byteLength(node.target), reason: `${reason}; saved as a file holding the link target`, missing_ranges: [] });
      }
      return { done: DONE };
    }
    mkdirSync(spot.path, { mode: 0o700 });
    this.fragment({ name: spot.name, original_path: rel, inode: null, size: 0, reason, missing_ranges: [] });
    const child = await this.walkDir(node.subtree, spot.path, rel, filter, true);
    return { done: child.done.then(() => this.#meta.dir(spot.path, node, true)) };
  }

  async #symlink(node: SymlinkNode, abs: string, rel: string, lost: boolean): Promise<Done> {
    try {
      symlinkSync(node.target, abs);
    } catch (err) {
      const problem = createProblem(err, ["ENOENT"]);
      if (problem === null) throw err;
      return this.#salvage(node, rel, problem, null);
    }
    this.#meta.symlink(abs, node);
    if (!lost) this.counts.symlinks++;
    return { done: DONE };
  }
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}
