/**
 * Regular files and hard links, for the walker (walk.ts); their content comes through the
 * content writer (write-file.ts).
 *
 *   file(node, abs):
 *     inconsistent                       -> written into lost+found
 *     a later member of a hard-link group -> linkMember (below)
 *     one chunk or none (most files)     -> created by the content writer once its data is ready
 *                                           (O_CREAT|O_EXCL|O_NOFOLLOW), then written, finished
 *                                           and closed in one go: no descriptor is held while
 *                                           its blob loads; a name the file system refuses ->
 *                                           created in lost+found instead
 *     several chunks, or the first member of a hard-link group
 *                                        -> opened at once, under a gate that bounds open
 *                                           descriptors; chunks written as they arrive
 *     finish: damaged or sizes disagree  -> renamed into lost+found, ranges noted
 *             owner, mode, mtime (ns) through the descriptor; close
 *   linkMember: waits for the group's first; link(first) when it is whole in its place, else a
 *     copy of it (or the vault's content) in lost+found
 *
 * The first member of a hard-link group is opened at once because later members wait on it:
 * when its own name is refused it goes to lost+found before the group is registered, so the
 * next member takes its place as the group's first.
 */
import { close, closeSync, constants, copyFileSync, linkSync, open, openSync, renameSync } from "node:fs";
import { displayName } from "../tree/name.ts";
import type { FileNode } from "../tree/node.ts";
import { at } from "./at.ts";
import { type Fragment, type LostFound, REASON, createProblem } from "./lost-found.ts";
import type { MetaSetter } from "./metadata.ts";
import { type Slots, createSlots } from "./slots.ts";
import type { ContentResult, ContentWriter } from "./write-file.ts";

/** An entry that has been started: `done` resolves (never rejects) once it is complete. */
export interface Done {
  done: Promise<void>;
}

/** Where an entry goes: `name` in the directory open as `dirFd`; `rel` is that spot's path from the restore directory. */
export interface Loc {
  dirFd: number;
  name: string;
  rel: string;
  /** The spot is in lost+found (chosen by it, so it cannot be refused). */
  inLost: boolean;
}

/** What the file restorer needs of the walker that drives it. */
export interface FileHost {
  readonly counts: { files: number };
  readonly progress: { files: number; totalBytes: number };
  /** Add each file's size to progress.totalBytes as it is found (no total was known). */
  readonly countSizes: boolean;
  addBytes(n: number): void;
  /** Keeps the first failure of a task as the restore's; the returned promise never rejects. */
  track(task: Promise<void>): Promise<void>;
  /** True once the restore has failed. */
  failed(): boolean;
  fragment(f: Fragment): void;
  /** A path, relative to the restore directory (`rel` of a Loc), that names it through the restore directory's descriptor. */
  fromRoot(rel: string): Buffer;
}

/** Where the content of the first restored member of a hard-link group ended up (paths from the restore directory). */
interface LinkFirst {
  placedRel: string | null;
  contentRel: string | null;
  missing: [number, number][];
}

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const NO_LINK: LinkFirst = { placedRel: null, contentRel: null, missing: [] };
/** What waiting members of a group get when its first was refused its place. */
const RETRY = Symbol("retry");

/** Restores the regular files of one restore. */
export class FileRestorer {
  readonly #host: FileHost;
  readonly #lf: LostFound;
  readonly #writer: ContentWriter;
  readonly #meta: MetaSetter;
  readonly #gate: Slots;
  readonly #links = new Map<string, Promise<LinkFirst | typeof RETRY>>();
  readonly #modeAtCreate: boolean;
  /** The process's umask when this restore began (it applies to every create). */
  readonly #umask = process.umask();

  /**
   * `modeAtCreate`: files may be created with their final permission bits (createMode):
   * false where the restore directory has a default ACL, which would change them.
   */
  constructor(host: FileHost, lf: LostFound, writer: ContentWriter, options: { meta: MetaSetter; maxOpenFiles: number; modeAtCreate: boolean }) {
    this.#host = host;
    this.#modeAtCreate = options.modeAtCreate;
    this.#lf = lf;
    this.#writer = writer;
    this.#meta = options.meta;
    this.#gate = createSlots(Math.max(1, options.maxOpenFiles));
  }

  /**
   * Restores a regular file at `loc`. `lostReasons`: null for a file in its proper place; else
   * loc is in lost+found already and these are the reasons (may be empty inside a salvaged dir).
   * Resolves once the file is started (its first blob asked for).
   */
  file(node: FileNode, loc: Loc, rel: string, lostReasons: string[] | null): Promise<Done> {
    if (this.#host.countSizes) this.#host.progress.totalBytes += node.size;
    return this.#start(node, loc, rel, lostReasons);
  }

  /** A fresh spot in lost+found for a file. */
  #spot(node: FileNode): Loc {
    const s = this.#lf.place(nameOf(node));
    return { dirFd: s.dirFd, name: s.name, rel: `${this.#lf.name}/${s.name}`, inLost: true };
  }

  async #start(node: FileNode, loc: Loc, rel: string, lostReasons: string[] | null): Promise<Done> {
    let reasons = lostReasons;
    if (node.inconsistent) {
      if (reasons === null) loc = this.#spot(node);
      reasons = [...(reasons ?? []), REASON.inconsistent];
    }
    const linkKey = reasons === null && (node.links ?? 0) > 1 && node.dev !== undefined ? `${node.dev}:${node.ino}` : null;
    if (linkKey) {
      const first = this.#links.get(linkKey);
      if (first) return { done: this.#linkMember(node, loc, rel, first) };
    }
    // The group is registered before anything is awaited: members in directories walked
    // beside this one must find it (and wait), never become a second first.
    let group: ((f: LinkFirst | typeof RETRY) => void) | null = null;
    if (linkKey) this.#links.set(linkKey, new Promise<LinkFirst | typeof RETRY>((r) => (group = r)));
    const resolveGroup = (f: LinkFirst | typeof RETRY) => (group as ((f: LinkFirst | typeof RETRY) => void) | null)?.(f);
    const eager = linkKey !== null || node.content.length > 1;
    let fd = -1;
    if (eager) {
      await this.#gate.take();
      try {
        fd = await create(at(loc.dirFd, loc.name), this.#createMode(node));
      } catch (err) {
        this.#gate.give();
        const problem = createProblem(err);
        // A spot lost+found chose itself cannot be refused; anything else can still be salvaged.
        if (problem === null || loc.inLost) {
          resolveGroup(NO_LINK);
          throw err;
        }
        // Refused here: this one goes to lost+found, and the next member takes its place as the group's first.
        if (linkKey) this.#links.delete(linkKey);
        resolveGroup(RETRY);
        return this.#start(node, this.#spot(node), rel, [problem]);
      }
    }
    let path = loc;
    let placed = reasons === null;
    const why = reasons ?? [];
    let finished!: (err: unknown) => void;
    const task = new Promise<void>((resolve, reject) => (finished = (err) => (err ? reject(err) : resolve())));
    const done = this.#host.track(task);
    await this.#writer.write(node, {
      open: async () => {
        if (fd >= 0) return fd;
        try {
          fd = await create(at(path.dirFd, path.name), this.#createMode(node));
        } catch (err) {
          const problem = createProblem(err);
          if (problem === null || path.inLost) throw err;
          path = this.#spot(node);
          placed = false;
          why.push(problem);
          fd = await create(at(path.dirFd, path.name), this.#createMode(node));
        }
        return fd;
      },
      finish: (r, fatal) => void (async () => {
        let err = fatal;
        let missing: [number, number][] = [];
        if (r) {
          try {
            missing = r.missing;
            if (r.damaged) why.push(REASON.damaged);
            if (r.sizeMismatch) why.push(REASON.sizeMismatch);
            if (r.tooLarge) why.push(`${REASON.cannotCreate} (EFBIG)`);
            if (placed && why.length > 0) {
              // Nothing in its proper place may pretend to be whole.
              const to = this.#spot(node);
              renameSync(at(path.dirFd, path.name), at(to.dirFd, to.name));
              path = to;
              placed = false;
            }
            await this.#meta.fileAsync(fd, node, !placed, rel, this.#createMode(node));
          } catch (e) {
            err = e;
          }
        }
        if (fd >= 0) {
          try {
            await closeFd(fd);
          } catch (e) {
            err ??= e;
          }
        }
        if (eager) this.#gate.give();
        if (err) {
          resolveGroup(NO_LINK);
          return finished(err);
        }
        if (placed) this.#host.counts.files++;
        else if (why.length > 0) this.#host.fragment({ name: path.name, original_path: displayName(rel), inode: node.ino ?? null, size: node.size, reason: why.join("; "), missing_ranges: missing });
        this.#host.progress.files++;
        resolveGroup({ placedRel: placed ? path.rel : null, contentRel: path.rel, missing });
        finished(null);
      })(),
    });
    return { done };
  }

  /** A later member of a hard-link group: a link to the first, or a copy in lost+found. */
  #linkMember(node: FileNode, loc: Loc, rel: string, first: Promise<LinkFirst | typeof RETRY>): Promise<void> {
    return this.#host.track((async () => {
      const f = await first;
      if (this.#host.failed()) return;
      if (f === RETRY) {
        // The first was refused its place: start again, as the first if no other member is.
        await (await this.#start(node, loc, rel, null)).done;
        return;
      }
      let reason: string = REASON.hardLink;
      if (f.placedRel) {
        try {
          linkSync(this.#host.fromRoot(f.placedRel), at(loc.dirFd, loc.name));
          this.#host.counts.files++;
          this.#host.progress.files++;
          this.#host.addBytes(node.size);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "EEXIST") reason = REASON.collision;
        }
      }
      const spot = this.#lf.place(node.name);
      let missing = f.missing;
      let copied = false;
      if (f.contentRel) {
        try {
          copyFileSync(this.#host.fromRoot(f.contentRel), spot.path, constants.COPYFILE_EXCL);
          copied = true;
        } catch {
          // fall back to the vault
        }
      }
      await this.#gate.take();
      try {
        const fd = copied ? openSync(spot.path, constants.O_WRONLY | constants.O_NOFOLLOW) : openSync(spot.path, CREATE_FLAGS, 0o600);
        try {
          if (!copied) missing = (await this.#content(node, fd)).missing;
          this.#meta.file(fd, node, true, rel);
        } finally {
          closeSync(fd);
        }
      } finally {
        this.#gate.give();
      }
      if (copied) this.#host.addBytes(node.size);
      const reasons = [reason, ...(missing.length > 0 ? [REASON.damaged] : [])];
      this.#host.fragment({ name: spot.name, original_path: displayName(rel), inode: node.ino ?? null, size: node.size, reason: reasons.join("; "), missing_ranges: missing });
      this.#host.progress.files++;
    })());
  }

  /**
   * The mode a file is created with: its recorded permission bits when the umask leaves them
   * as they are, so that the metadata setter needs no fchmod (a round trip per file on a
   * network mount); else 0600, set right later. Never setuid, setgid or sticky bits at create:
   * those wait for the owner. The content is not exposed meanwhile: everything is created
   * under the restore directory, which is 0700 until the end (at.ts), and directories get
   * their own modes and ACLs only after their children (walk.ts).
   */
  #createMode(node: FileNode): number {
    if (!this.#modeAtCreate) return 0o600;
    const m = node.mode & 0o777;
    return (m & ~this.#umask) === m ? m : 0o600;
  }

  /** Writes a file's content into an open, empty descriptor. */
  #content(node: FileNode, fd: number): Promise<ContentResult> {
    return new Promise((resolve, reject) => {
      void this.#writer.write(node, { open: () => fd, finish: (r, fatal) => (r ? resolve(r) : reject(fatal)) });
    });
  }
}

/** Creates a new file (never through anything existing) with `mode`, on the thread pool. */
function create(path: Buffer, mode: number): Promise<number> {
  return new Promise((resolve, reject) => open(path, CREATE_FLAGS, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}


function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => close(fd, (err) => (err ? reject(err) : resolve())));
}

function nameOf(node: FileNode): string {
  return typeof node.name === "string" ? node.name : "unnamed";
}
