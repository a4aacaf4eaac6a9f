/**
 * Directory-relative I/O for restore: every entry is created and changed relative to an open
 * descriptor of the directory it goes in, never through a path resolved again from the
 * target. `at(fd, name)` names `name` inside the directory open as `fd` through Linux's
 * /proc/self/fd/<fd>/<name>: the kernel jumps straight to the directory the descriptor holds
 * (whatever has been renamed or swapped since) and resolves only the last component, as the
 * *at() calls do, so node:fs (sync and async) can do openat/mkdirat/symlinkat/linkat/... with
 * any path length. Final components are never followed: files are created
 * O_CREAT|O_EXCL|O_NOFOLLOW, directories opened O_DIRECTORY|O_NOFOLLOW, metadata is set
 * through descriptors or without following.
 *
 * The restore directory itself is made 0700 and opened once, and checked to be the directory
 * this process made (a directory, owned by us, empty), so a swap of it by another user who
 * can write TARGET is refused rather than followed.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync } from "node:fs";
import { EfsbakError } from "../errors.ts";
import { nameToBytes } from "../tree/name.ts";
import { getXattr } from "../fs/libc.ts";

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const PREFIX = "/proc/self/fd/";

/** The path of `name` (lossless string form) inside the directory open as `fd`. */
export function at(fd: number, name: string): Buffer {
  const bytes = nameToBytes(name);
  if (!bytes) throw Object.assign(new Error(`name has no byte form`), { code: "EILSEQ" });
  return Buffer.concat([Buffer.from(`${PREFIX}${fd}/`), bytes]);
}

/** The directory open as `fd` itself (for calls that take a path). */
export function self(fd: number): string {
  return `${PREFIX}${fd}`;
}

/** Opens a directory entry as a directory descriptor, never following a symlink. */
export function openDirAt(fd: number, name: string): number {
  return openSync(at(fd, name), DIR_FLAGS);
}

/** The restore directory, made and opened safely under the target. */
export interface RestoreRoot {
  /** The target, open. */
  targetFd: number;
  /** The restore directory, open. */
  fd: number;
  /** Its path, for messages. */
  path: string;
  /** Renames the restore directory within the target (to the failed name). */
  renameTo(name: string): void;
  close(): void;
}

/**
 * Makes `target` (with missing parents) unless it exists, refuses it when it is a symlink,
 * then makes `name` in it, 0700, and opens it. Throws node errors (EEXIST when `name` exists);
 * EfsbakError when the target is a symlink or the made directory is not ours.
 */
export function makeRestoreRoot(target: string, name: string): RestoreRoot {
  let st;
  try {
    st = lstatSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    mkdirSync(target, { recursive: true });
    st = lstatSync(target);
  }
  if (st.isSymbolicLink()) {
    throw new EfsbakError(`Cannot restore into "${target}": it is a symbolic link; nothing was written`, { exitCode: 1, hint: "give the real directory as --target (restore never follows a link as its target)" });
  }
  const targetFd = openSync(target, DIR_FLAGS);
  const path = `${target.replace(/\/+$/, "") || "/"}/${name}`.replace(/^\/\//, "/");
  let fd = -1;
  try {
    mkdirSync(at(targetFd, name), { mode: 0o700 });
    try {
      fd = openDirAt(targetFd, name);
    } catch (err) {
      throw swapped(path, (err as NodeJS.ErrnoException).code ?? String(err));
    }
    const made = fstatSync(fd);
    const uid = process.geteuid?.() ?? made.uid;
    if (!made.isDirectory() || made.uid !== uid || (made.mode & 0o077) !== 0 || readdirSync(self(fd)).length > 0) throw swapped(path, "it is not the directory this restore made");
  } catch (err) {
    if (fd >= 0) closeSync(fd);
    closeSync(targetFd);
    throw err;
  }
  let current = name;
  return {
    targetFd,
    fd,
    path,
    renameTo(to) {
      renameSync(at(targetFd, current), at(targetFd, to));
      current = to;
    },
    close() {
      closeSync(fd);
      closeSync(targetFd);
    },
  };
}

function swapped(path: string, why: string): EfsbakError {
  return new EfsbakError(`Cannot restore into "${path}": it was replaced right after it was made (${why}); nothing was written there`, {
    exitCode: 1,
    hint: "another user can write the target directory: restore into a directory only you can write",
  });
}

/** Whether the directory open as `fd` has a default ACL (files created in it get modes from it, not from the umask). */
export function hasDefaultAcl(fd: number): boolean {
  try {
    return getXattr(`${self(fd)}/.`, Buffer.from("system.posix_acl_default")) !== null;
  } catch {
    return false; // no xattrs here (ENOTSUP): no ACL either
  }
}
