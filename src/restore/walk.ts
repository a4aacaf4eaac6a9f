/**
 * The restore walker: creates a recovery point's tree inside a fresh restore directory.
 * restore.ts drives it; the pipeline is documented there. Listings come from listings.ts
 * (a few subdirectories' loaded ahead), file content from files.ts and write-file.ts.
 *
 * Invariants (security):
 * - Every entry is created relative to the descriptor of a directory it created and opened
 *   itself (at.ts), as <that directory>/<a validated name>: no path is resolved again from
 *   the target, and paths of any length restore in place. A name that is empty, ".", "..",
 *   holds "/" or NUL, has no byte form, or repeats an earlier name of the same directory
 *   never becomes a path: the entry is salvaged into lost+found under a sanitized name.
 * - Directories are made with mkdir (fails on anything existing) and opened
 *   O_DIRECTORY|O_NOFOLLOW, files opened O_CREAT|O_EXCL|O_NOFOLLOW (files.ts), devices made
 *   with mknod (as root), so nothing existing is ever written through, and a restored symlink
 *   is never a parent of anything (its name is taken in its directory).
 * - Metadata is set through the open descriptor (files, directories) or without following
 *   links (symlinks, devices).
 * - A directory's descriptor stays open until everything below it is done (its metadata is
 *   set through it then), so open descriptors grow with the depth and the files in flight.
 *
 * Completion: walking a directory returns once its entries are started; `done` resolves when
 * every entry below is complete, and only then are the directory's mode and mtime set.
 * Task promises never reject: the first fatal error is kept in `failure` and stops the walk.
 */
import { closeSync, constants, fstatSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { mknod } from "../fs/libc.ts";
import { displayName, isByteName, nameToBytes } from "../tree/name.ts";
import type { DeviceNode, DirNode, Node, RootMeta, SymlinkNode } from "../tree/node.ts";
import { at, hasDefaultAcl, openDirAt } from "./at.ts";
import type { WalkBudget } from "../tree/budget.ts";
import type { Vault } from "../vault/vault.ts";
import { type Done, type FileHost, FileRestorer, type Loc } from "./files.ts";
import { type IncludeNode, decide } from "./include.ts";
import { type Listings, createListings } from "./listings.ts";
import { type Fragment, type LostFound, REASON, createProblem } from "./lost-found.ts";
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
  /**
   * Directories walked at once. The kernel creates entries in one directory one at a time
   * (the directory's lock is held across the LOOKUP and CREATE round trips), so on a network
   * file system files go into many directories at once or not fast at all.
   */
  dirsAtOnce?: number;
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
/** Subdirectory listings loaded ahead, per directory level (listings.ts bounds them in all). */
const PREFETCH = 8;

/** Why a name cannot be created as is, or null when it is safe. */
export function nameProblem(name: unknown, seen: Set<string>): string | null {
  if (typeof name !== "string" || name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0") || !isByteName(name)) return REASON.unsafeName;
  if (seen.has(name)) return REASON.duplicateName;
  return null;
}

/** A directory being restored into: its descriptor and its path from the restore directory. */
interface Into {
  fd: number;
  /** "" for the restore directory itself. */
  rel: string;
  lost: boolean;
  /**
   * Tree ids of the directories above (cycle detection): shared by walks that run one after
   * the other, copied for a walk that runs beside its parent's.
   */
  ancestors: Set<string>;
}

/** Walks below this depth do not run beside their parent's (the ancestors copy would cost depth²). */
const MAX_FORK_DEPTH = 64;

const DEVICE_TYPE = { chardev: constants.S_IFCHR, blockdev: constants.S_IFBLK } as const;

/** Restores trees into a directory. One per restore. */
export class RestoreWalker implements FileHost {
  readonly counts = { files: 0, dirs: 0, symlinks: 0, devices: 0 };
  readonly progress: WalkProgress;
  readonly countSizes: boolean;
  failure: unknown = null;
  readonly #rootFd: number;
  #devicesRefused = 0;
  readonly #lf: LostFound;
  readonly #options: WalkOptions;
  readonly #meta: MetaSetter;
  readonly #files: FileRestorer;
  readonly #inflight = new Set<Promise<void>>();
  /** Directory walks that may still run beside the current one (see WalkOptions.dirsAtOnce). */
  #freeDirWalks: number;
  /** Listings, some loaded ahead of the walk (subdirectories of the directory being walked). */
  readonly #listings: Listings;
  #lastReport = -Infinity;

  /** `rootFd`: the restore directory, open. */
  constructor(vault: Vault, rootFd: number, lf: LostFound, writer: ContentWriter, options: WalkOptions) {
    this.#rootFd = rootFd;
    this.#lf = lf;
    this.#options = options;
    this.countSizes = options.totalBytes === null;
    this.progress = { files: 0, bytes: 0, totalBytes: options.totalBytes ?? 0, currentPath: "" };
    this.#freeDirWalks = Math.max(0, (options.dirsAtOnce ?? 16) - 1);
    const made = fstatSync(rootFd);
    this.#meta = createMetaSetter({ chown: options.chown, newOwner: { uid: made.uid, gid: made.gid }, warn: options.warn });
    this.#files = new FileRestorer(this, lf, writer, { meta: this.#meta, maxOpenFiles: options.maxOpenFiles, modeAtCreate: !hasDefaultAcl(rootFd) });
    this.#listings = createListings(vault, { isDamage: (err, id) => writer.isDamage(err, id), budget: options.budget });
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

  fromRoot(rel: string): Buffer {
    return at(this.#rootFd, rel);
  }

  /** Restores the recovery point's root tree into the restore directory; `root`: its recorded metadata, set on the restore directory at the end. */
  async walkRoot(tree: string, filter: IncludeNode | null, root: RootMeta | undefined): Promise<Done> {
    const d = await this.walkDir(tree, { fd: this.#rootFd, rel: "", lost: false, ancestors: new Set() }, "", filter);
    return { done: d.done.then(() => this.finish(root)) };
  }

  /** Releases what the walker holds (the times workers); after the walk, failed or not. */
  close(): void {
    this.#meta.close();
  }

  /** Summaries of what could not be restored, and the root's own metadata (when recorded). */
  finish(root: RootMeta | undefined): void {
    if (this.#devicesRefused > 0) this.#options.warn(`Cannot restore ${this.#devicesRefused} device node${this.#devicesRefused === 1 ? "" : "s"}: only root can create them; they were left out`);
    this.#devicesRefused = 0;
    this.#meta.summarize();
    if (root && !this.failed()) this.#meta.dir(this.#rootFd, root, false, ".");
  }

  /**
   * Restores the tree `tree` into the open directory `into` (`rel` is its path in the RP).
   * `into.lost`: it lies inside lost+found (a salvaged directory), so entries stay where they are.
   */
  async walkDir(tree: string, into: Into, rel: string, filter: IncludeNode | null): Promise<Done> {
    const lost = into.lost;
    const ancestors = into.ancestors;
    const where = rel || ".";
    if (ancestors.has(tree)) {
      this.fragment({ name: displayName(where), original_path: displayName(where), inode: null, size: 0, reason: REASON.cycle, missing_ranges: [] });
      return { done: DONE };
    }
    const entries = await this.#listings.load(tree);
    if (entries === null) {
      // What can still be found: the same directory in another recovery point goes to
      // lost+found, whole, for the user to compare (it may be older or newer than this one).
      const other = lost ? null : await this.#options.olderListing?.(rel).catch(() => null);
      if (other && !ancestors.has(other.tree)) {
        const name = rel.split("/").pop() || "root";
        const dir: DirNode = { type: "dir", name, subtree: other.tree, mode: 0o700, uid: 0, gid: 0, mtime: "0" };
        return this.#salvage(dir, where, `${REASON.listingLost}; recovered from recovery point ${other.rp}, which may differ`, filter, ancestors);
      }
      this.fragment({ name: displayName(where), original_path: displayName(where), inode: null, size: 0, reason: REASON.listingLost, missing_ranges: [] });
      return { done: DONE };
    }
    if (into.fd === this.#rootFd) this.#lf.avoid(new Set(entries.map((n) => n.name)));
    ancestors.add(tree);
    const pending: Promise<void>[] = [];
    const seen = new Set<string>();
    // Load the listings of the next few subdirectories while this one is walked (a vault on
    // S3 answers each in tens of milliseconds); at most PREFETCH ahead per level.
    const subdirs = entries.filter((n): n is DirNode => n.type === "dir" && n.subtree !== tree && !ancestors.has(n.subtree) && !decide(filter, n.name, true).skip);
    let nextPrefetch = 0;
    let dirsSeen = 0;
    try {
      for (const node of entries) {
        this.check();
        this.#options.budget?.entry();
        if (node.type === "dir" && !decide(filter, node.name, true).skip) {
          dirsSeen++;
          for (; nextPrefetch < Math.min(subdirs.length, dirsSeen + PREFETCH); nextPrefetch++) this.#listings.prefetch(subdirs[nextPrefetch].subtree);
        }
        const name = node.name;
        const childRel = rel ? `${rel}/${name}` : name;
        const problem = nameProblem(name, seen);
        if (typeof name === "string") seen.add(name);
        const d = decide(filter, name, node.type === "dir");
        if (d.skip) continue;
        this.progress.currentPath = childRel;
        const loc: Loc = { dirFd: into.fd, name, rel: into.rel ? `${into.rel}/${name}` : name, inLost: false };
        const started = problem ? await this.#salvage(node, childRel, problem, d.filter, ancestors) : await this.#create(node, loc, childRel, d.filter, lost, ancestors);
        pending.push(started.done);
        this.report();
      }
    } finally {
      ancestors.delete(tree);
    }
    return { done: Promise.all(pending).then(() => undefined) };
  }

  async #create(node: Node, loc: Loc, rel: string, filter: IncludeNode | null, lost: boolean, ancestors: Set<string>): Promise<Done> {
    if (node.type === "file") return this.#files.file(node, loc, rel, lost ? [] : null);
    if (node.type === "symlink") return this.#symlink(node, loc, rel, lost);
    if (node.type !== "dir") return this.#device(node, loc, rel, lost);
    let fd: number;
    try {
      fd = this.#mkdir(loc);
    } catch (err) {
      const problem = createProblem(err);
      if (problem === null) throw err;
      return this.#salvage(node, rel, problem, filter, ancestors);
    }
    if (!lost) this.counts.dirs++;
    if (node.inconsistent) this.#options.warn(`Directory "${displayName(rel)}" changed during the backup: restored in place, its listing may be incomplete`);
    return this.#fill(node, { fd, rel: loc.rel, lost, ancestors }, rel, filter);
  }

  /** Makes a directory (0700 until its own metadata is set) and opens it. */
  #mkdir(loc: Loc): number {
    mkdirSync(at(loc.dirFd, loc.name), { mode: 0o700 });
    return openDirAt(loc.dirFd, loc.name);
  }

  /**
   * Walks a made directory; once all below it is done, sets its metadata through its
   * descriptor and closes it. While fewer than dirsAtOnce walks run, the walk goes on beside
   * the caller's (the caller goes on with its next entry); otherwise the caller waits for it.
   */
  async #fill(node: DirNode, into: Into, rel: string, filter: IncludeNode | null): Promise<Done> {
    let child: Done;
    if (this.#freeDirWalks > 0 && into.ancestors.size < MAX_FORK_DEPTH) {
      this.#freeDirWalks--;
      const walked = this.walkDir(node.subtree, { ...into, ancestors: new Set(into.ancestors) }, rel, filter).finally(() => this.#freeDirWalks++);
      const done = walked.then(
        (c) => c.done,
        (err: unknown) => {
          if (!this.failure) this.failure = err;
        },
      );
      child = { done: this.track(done) };
    } else {
      try {
        child = await this.walkDir(node.subtree, into, rel, filter);
      } catch (err) {
        closeSync(into.fd);
        throw err;
      }
    }
    return {
      done: child.done.then(() => {
        try {
          if (!this.failed()) this.#meta.dir(into.fd, node, into.lost, rel);
        } finally {
          closeSync(into.fd);
        }
      }),
    };
  }

  /** Puts an entry that cannot take its proper place into lost+found. */
  async #salvage(node: Node, rel: string, reason: string, filter: IncludeNode | null, ancestors: Set<string>): Promise<Done> {
    const spot = this.#lf.place(typeof node.name === "string" ? node.name : "unnamed");
    const loc: Loc = { dirFd: spot.dirFd, name: spot.name, rel: `${this.#lf.name}/${spot.name}`, inLost: true };
    const shown = displayName(rel);
    if (node.type === "file") return this.#files.file(node, loc, rel, [reason]);
    if (node.type === "symlink") {
      const target = nameToBytes(node.target) ?? Buffer.from(node.target);
      try {
        if (target.length === 0 || target.includes(0)) throw Object.assign(new Error("link target cannot be created"), { code: "ENOENT" });
        symlinkSync(target, spot.path);
        this.#meta.entry(spot.dirFd, spot.name, node, rel);
        this.fragment({ name: spot.name, original_path: shown, inode: null, size: target.length, reason, missing_ranges: [] });
      } catch (err) {
        if (createProblem(err, ["ENOENT"]) === null) throw err;
        writeFileSync(spot.path, target, { flag: "wx", mode: 0o600 });
        this.fragment({ name: spot.name, original_path: shown, inode: null, size: target.length, reason: `${reason}; saved as a file holding the link target`, missing_ranges: [] });
      }
      return { done: DONE };
    }
    if (node.type !== "dir") {
      // A device in lost+found would be a device all the same: only its description goes there.
      writeFileSync(spot.path, `${node.type} ${node.rdev}\n`, { flag: "wx", mode: 0o600 });
      this.fragment({ name: spot.name, original_path: shown, inode: null, size: 0, reason: `${reason}; saved as a file describing the device`, missing_ranges: [] });
      return { done: DONE };
    }
    const fd = this.#mkdir(loc);
    this.fragment({ name: spot.name, original_path: shown, inode: null, size: 0, reason, missing_ranges: [] });
    return this.#fill(node, { fd, rel: loc.rel, lost: true, ancestors }, rel, filter);
  }

  async #symlink(node: SymlinkNode, loc: Loc, rel: string, lost: boolean): Promise<Done> {
    const target = nameToBytes(node.target);
    try {
      if (!target) throw Object.assign(new Error("link target has no byte form"), { code: "EILSEQ" });
      if (target.includes(0)) throw Object.assign(new Error("link target holds NUL"), { code: "ERR_INVALID_ARG_VALUE" });
      if (target.length === 0) throw Object.assign(new Error("empty link target"), { code: "ENOENT" });
      symlinkSync(target, at(loc.dirFd, loc.name));
    } catch (err) {
      const problem = createProblem(err, ["ENOENT"]);
      if (problem === null) throw err;
      return this.#salvage(node, rel, problem, null, new Set());
    }
    this.#meta.entry(loc.dirFd, loc.name, node, rel);
    if (!lost) this.counts.symlinks++;
    return { done: DONE };
  }

  /** A character or block device: made as root; otherwise left out (counted, one warning at the end). */
  async #device(node: DeviceNode, loc: Loc, rel: string, lost: boolean): Promise<Done> {
    const type = DEVICE_TYPE[node.type];
    try {
      mknod(at(loc.dirFd, loc.name), type | 0o600, BigInt(node.rdev));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EPERM" || code === "ENOSYS") {
        this.#devicesRefused++;
        return { done: DONE };
      }
      const problem = createProblem(err);
      if (problem === null) throw err;
      return this.#salvage(node, rel, problem, null, new Set());
    }
    this.#meta.entry(loc.dirFd, loc.name, node, rel);
    if (!lost) this.counts.devices++;
    return { done: DONE };
  }
}

