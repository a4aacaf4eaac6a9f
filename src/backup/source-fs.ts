/**
 * How a backup addresses its source: names as exact bytes, paths of any length, and extended
 * attributes. Private to backup/ in spirit (the walker, the file reader and the worker use it).
 *
 * Paths are carried in tree/name.ts's lossless string form and turned into the exact bytes
 * only at the system call (fsPath), so a name that is not valid UTF-8 is opened as itself.
 *
 * Long paths: the kernel refuses paths of PATH_MAX (4,096) bytes and more. A directory whose
 * path reaches LONG_PATH_BYTES is opened (O_DIRECTORY | O_NOFOLLOW) and its entries are then
 * addressed as `/proc/self/fd/<fd>/<name>`: the kernel resolves that magic link to the open
 * directory itself, so every path the walker hands to a system call stays short, and it works
 * from the worker threads too (descriptors belong to the process). The walker closes such a
 * descriptor once every read under that directory is done, and bounds how many are open.
 */
import { type BigIntStats, closeSync, constants, lstat, openSync, readdir, readdirSync, readlink, readlinkSync } from "node:fs";
import { getXattr, listXattrs } from "../fs/libc.ts";
import { fsPath, nameFromBytes } from "../tree/name.ts";
import type { Xattr } from "../tree/node.ts";

/** A directory path of this many bytes or more is reached through an open descriptor. */
export const LONG_PATH_BYTES = 3000;

/** Where a directory is, for system calls: its path, and the descriptor it was opened as (if it was). */
export interface SourceDir {
  /** The prefix for its entries' paths (lossless string form). */
  path: string;
  /** Set when `path` is `/proc/self/fd/<fd>`: the caller closes it when done. */
  fd?: number;
}

/** The path of a directory's entry. */
export function entryPath(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/** True when paths under this directory path should go through a descriptor. */
export function isLongPath(path: string): boolean {
  return path.length >= LONG_PATH_BYTES / 3 && Buffer.byteLength(path) >= LONG_PATH_BYTES;
}

/** Opens a directory (never through a symlink) so that its entries get short paths. Throws what open throws. */
export function openSourceDir(path: string): SourceDir {
  const fd = openSync(fsPath(path), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  return { path: `/proc/self/fd/${fd}`, fd };
}

/** Closes a directory opened by openSourceDir (no-op otherwise). */
export function closeSourceDir(dir: SourceDir): void {
  if (dir.fd !== undefined) closeSync(dir.fd);
}

/** The names of a directory's entries, as exact bytes (lossless string form). Throws what readdir throws. */
export function listNames(path: string): string[] {
  return (readdirSync(fsPath(path), { encoding: "buffer" }) as Buffer[]).map(nameFromBytes);
}

/**
 * The asynchronous forms (on the I/O thread pool, so that many are in flight on a network
 * mount): names of a directory's entries, an entry's lstat, a symlink's target. They reject
 * with what the system call fails with.
 */
export function listNamesAsync(path: string): Promise<string[]> {
  return new Promise((resolve, reject) => readdir(fsPath(path), { encoding: "buffer" }, (err, names) => (err ? reject(err) : resolve((names as Buffer[]).map(nameFromBytes)))));
}

export function lstatAsync(path: string): Promise<BigIntStats> {
  return new Promise((resolve, reject) => lstat(fsPath(path), { bigint: true }, (err, st) => (err ? reject(err) : resolve(st))));
}

export function readTargetAsync(path: string): Promise<string> {
  return new Promise((resolve, reject) => readlink(fsPath(path), { encoding: "buffer" }, (err, t) => (err ? reject(err) : resolve(nameFromBytes(t as Buffer)))));
}

/** A symlink's target, as exact bytes (lossless string form). Throws what readlink throws. */
export function readTarget(path: string): string {
  return nameFromBytes(readlinkSync(fsPath(path), { encoding: "buffer" }) as Buffer);
}

/**
 * Reads extended attributes, one llistxattr per entry (and one lgetxattr per attribute). A
 * file system that answers ENOTSUP is not asked again (by st_dev) for the rest of the backup:
 * on network file systems without xattrs (EFS) that saves a round trip per entry.
 */
export class XattrReader {
  readonly #unsupported = new Set<string>();
  readonly #list: typeof listXattrs;
  readonly #get: typeof getXattr;
  /** Failures other than "not supported", by errno code: how many entries, and the first one's path. */
  readonly failures = new Map<string, { count: number; first: string }>();

  /** The calls default to libc's (tests pass others). */
  constructor(calls: { list?: typeof listXattrs; get?: typeof getXattr } = {}) {
    this.#list = calls.list ?? listXattrs;
    this.#get = calls.get ?? getXattr;
  }

  /**
   * The entry's attributes sorted by name, or undefined when it has none (or they cannot be
   * read). `shown` names the entry in failures (a function: only made when one is recorded).
   */
  read(path: string, dev: bigint, shown: string | (() => string)): Xattr[] | undefined {
    const devKey = dev.toString();
    if (this.#unsupported.has(devKey)) return undefined;
    const p = fsPath(path);
    let names: Buffer[];
    try {
      names = this.#list(p);
    } catch (err) {
      this.#failed(err, devKey, shown);
      return undefined;
    }
    if (names.length === 0) return undefined;
    const out: Xattr[] = [];
    for (const n of names) {
      let value: Buffer | null;
      try {
        value = this.#get(p, n);
      } catch (err) {
        this.#failed(err, null, shown);
        continue;
      }
      if (value !== null) out.push([nameFromBytes(n), value.toString("base64")]);
    }
    if (out.length === 0) return undefined;
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** devKey: set for a failed listing (a file system without xattrs), null for one attribute. */
  #failed(err: unknown, devKey: string | null, shown: string | (() => string)): void {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    if (devKey !== null && (code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "ENOSYS")) {
      this.#unsupported.add(devKey);
      return;
    }
    if (code === "ENOENT") return; // the entry vanished: its own read says so
    const f = this.failures.get(code);
    if (f) f.count++;
    else this.failures.set(code, { count: 1, first: typeof shown === "string" ? shown : shown() });
  }
}
