/**
 * File metadata on restore: mtime with nanosecond precision, mode bits, owner, extended
 * attributes (POSIX ACLs and capabilities included).
 *
 * Node's utimes takes seconds as a double and loses the last digits of a nanosecond mtime,
 * so times go through libc's utimensat/futimens via bun:ffi (exact); when FFI is not
 * available (another platform or libc) they fall back to fs.utimesSync/lutimesSync, which
 * round to about a microsecond.
 *
 * Order matters, and callers follow it: content, then owner (chown clears setuid/setgid and
 * security.capability), then mode, then xattrs, then times (every other change bumps ctime
 * only, but writes bump mtime).
 * createMetaSetter applies that order for the walker and turns failures into warnings.
 */
import { dlopen, FFIType } from "bun:ffi";
import { chmodSync, fchmod, fchmodSync, fchown, fchownSync, futimesSync, lchownSync, lutimesSync } from "node:fs";
import { setFdXattr, setXattr } from "../fs/libc.ts";
import { displayName, nameToBytes } from "../tree/name.ts";
import type { DeviceNode, DirNode, FileNode, RootMeta, SymlinkNode, Xattr } from "../tree/node.ts";
import { at } from "./at.ts";
import { type Timespec, createTimesSetter } from "./times.ts";

export type { Timespec } from "./times.ts";

/** Parses a node's mtime (decimal ns since the epoch); null when it is not an integer. */
export function parseNs(ns: string | bigint): Timespec | null {
  let v: bigint;
  if (typeof ns === "bigint") v = ns;
  else if (/^-?\d{1,30}$/.test(ns)) v = BigInt(ns);
  else return null;
  let sec = v / 1_000_000_000n;
  let nsec = v % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return { sec, nsec };
}

interface Libc {
  utimensat(dirfd: number, path: Uint8Array, times: BigInt64Array, flags: number): number;
  futimens(fd: number, times: BigInt64Array): number;
  atFdcwd: number;
  atSymlinkNofollow: number;
}

let libc: Libc | null | undefined;

/** Opens libc once; null when FFI or the symbols are unavailable. */
function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  const linux = process.platform === "linux";
  const darwin = process.platform === "darwin";
  if (!linux && !darwin) return null;
  const candidates = linux ? ["libc.so.6", "libc.so", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"] : ["/usr/lib/libSystem.B.dylib"];
  for (const name of candidates) {
    try {
      const lib = dlopen(name, {
        utimensat: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
        futimens: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
      });
      const s = lib.symbols;
      libc = {
        utimensat: (dirfd, path, times, flags) => s.utimensat(dirfd, path, times, flags) as number,
        futimens: (fd, times) => s.futimens(fd, times) as number,
        atFdcwd: linux ? -100 : -2,
        atSymlinkNofollow: linux ? 0x100 : 0x20,
      };
      return libc;
    } catch {
      // try the next name
    }
  }
  return null;
}

/** True when times are set through libc (nanosecond-exact). */
export function hasExactTimes(): boolean {
  return openLibc() !== null;
}

function timesArray(t: Timespec): BigInt64Array {
  return BigInt64Array.of(t.sec, t.nsec, t.sec, t.nsec);
}

function seconds(t: Timespec): number {
  return Number(t.sec) + Number(t.nsec) / 1e9;
}

const encoder = new TextEncoder();

/** Sets atime and mtime (both to `t`) of a path without following a final symlink. */
export function setPathTimes(path: string, t: Timespec): void {
  const c = openLibc();
  if (c && c.utimensat(c.atFdcwd, encoder.encode(path + "\0"), timesArray(t), c.atSymlinkNofollow) === 0) return;
  // Fallback (or FFI failure: let fs report the real errno).
  lutimesSync(path, seconds(t), seconds(t));
}

/** Sets atime and mtime (both to `t`) of an open file. */
export function setFdTimes(fd: number, t: Timespec): void {
  const c = openLibc();
  if (c && c.futimens(fd, timesArray(t)) === 0) return;
  futimesSync(fd, seconds(t), seconds(t));
}

/** Sets mode bits of an open file. */
export function setFdMode(fd: number, mode: number): void {
  fchmodSync(fd, mode & 0o7777);
}

/** Sets the owner of an open file. */
export function setFdOwner(fd: number, uid: number, gid: number): void {
  fchownSync(fd, uid, gid);
}

/** Sets the owner of a path, not following a final symlink. */
export function setPathOwner(path: string | Buffer, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
}

/** Sets atime and mtime (both to `t`) of `name` in the directory open as `dirFd`, not following it. */
export function setAtTimes(dirFd: number, name: string, t: Timespec): void {
  const c = openLibc();
  const bytes = nameToBytes(name);
  if (c && bytes && c.utimensat(dirFd, Buffer.concat([bytes, Buffer.of(0)]), timesArray(t), c.atSymlinkNofollow) === 0) return;
  lutimesSync(at(dirFd, name), seconds(t), seconds(t));
}

/** True when uid/gid look like real ids (a hostile tree may say anything). */
export function validOwner(uid: unknown, gid: unknown): boolean {
  return Number.isInteger(uid) && Number.isInteger(gid) && (uid as number) >= 0 && (gid as number) >= 0 && (uid as number) < 2 ** 32 - 1 && (gid as number) < 2 ** 32 - 1;
}

/** Sets the metadata of restored entries, in the order above; a failure is a warning, never fatal. */
export interface MetaSetter {
  /** An open regular file (`lost`: it is in lost+found, so it stays readable by its owner). */
  file(fd: number, node: FileNode, lost: boolean, rel: string): void;
  /** The same on the thread pool (round trips of many files overlap); never rejects. */
  /** `createdMode`: the mode the file was created with (no fchmod when it is already the right one). */
  fileAsync(fd: number, node: FileNode, lost: boolean, rel: string, createdMode?: number): Promise<void>;
  /** A directory the restore made, open as `fd`, once everything below it is done. */
  dir(fd: number, node: DirNode | RootMeta, lost: boolean, rel: string): void;
  /** A restored symlink or device node `name` in the directory open as `dirFd` (never followed). */
  entry(dirFd: number, name: string, node: SymlinkNode | DeviceNode, rel: string): void;
  /** Warnings that summarize what could not be set, once per kind (call at the end). */
  summarize(): void;
  /** Stops the times workers, if any. */
  close(): void;
}

/**
 * Creates the metadata setter of a restore; owners only with `chown`. `newOwner`: the owner
 * every entry created in the restore gets (the restore directory's: its uid, and its gid
 * whether or not it is setgid). Setting that owner again is skipped, one syscall less per
 * file when root restores root's files.
 *
 * Order per entry: owner, mode (setuid/setgid only when the owner is exactly the recorded
 * one: a failed or skipped chown never leaves a setuid file of the wrong owner), extended
 * attributes (after chown, which clears security.capability; after the mode, since an ACL
 * sets the group bits itself), times last.
 */
export function createMetaSetter(options: { chown: boolean; newOwner: { uid: number; gid: number }; warn(message: string): void }): MetaSetter {
  let warnedOwner = false;
  const timesSetter = createTimesSetter(setFdTimes);
  const xattrFailures = new Map<string, { count: number; example: string }>();
  const same = (uid: number, gid: number) => uid === options.newOwner.uid && gid === options.newOwner.gid;

  /** Sets the owner when wanted; true when the entry's owner is now exactly the recorded one. */
  function owner(uid: number, gid: number, set: () => void): boolean {
    if (!validOwner(uid, gid)) return false;
    if (same(uid, gid)) return true;
    if (!options.chown) return false;
    try {
      set();
      return true;
    } catch (err) {
      ownerFailed(err);
      return false;
    }
  }

  function ownerFailed(err: unknown): void {
    if (!warnedOwner) {
      warnedOwner = true;
      options.warn(`Cannot restore owners: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (run as root to restore uid/gid)`);
    }
  }

  async function ownerAsync(fd: number, uid: number, gid: number): Promise<boolean> {
    if (!validOwner(uid, gid)) return false;
    if (same(uid, gid)) return true;
    if (!options.chown) return false;
    try {
      await call((cb) => fchown(fd, uid, gid, cb));
      return true;
    } catch (err) {
      ownerFailed(err);
      return false;
    }
  }

  function failed(what: string, rel: string, err: unknown): void {
    options.warn(`Cannot set ${what} of "${displayName(rel)}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }

  function xattrs(list: Xattr[] | undefined, rel: string, set: (name: Buffer, value: Buffer) => void): void {
    if (!list) return;
    for (const [name, value] of list) {
      const bytes = nameToBytes(name);
      if (!bytes) continue;
      try {
        set(bytes, Buffer.from(value, "base64"));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? "error";
        const key = `${xattrKind(name)}\0${code}`;
        const f = xattrFailures.get(key);
        if (f) f.count++;
        else xattrFailures.set(key, { count: 1, example: rel });
      }
    }
  }

  function mode(recorded: number, exactOwner: boolean, lost: boolean, salvage: number): number {
    const m = lost ? salvagedMode(recorded, salvage) : recorded & 0o7777;
    return exactOwner ? m : m & ~0o6000;
  }

  function times(rel: string, mtime: string, set: (t: Timespec) => void): void {
    const t = parseNs(mtime);
    if (!t) return;
    try {
      set(t);
    } catch (err) {
      failed("mtime", rel, err);
    }
  }

  return {
    file(fd, node, lost, rel) {
      const exact = owner(node.uid, node.gid, () => setFdOwner(fd, node.uid, node.gid));
      try {
        fchmodSync(fd, mode(node.mode, exact, lost, 0o600));
      } catch (err) {
        failed("mode", rel, err);
      }
      xattrs(node.xattrs, rel, (n, v) => setFdXattr(fd, n, v));
      times(rel, node.mtime, (t) => setFdTimes(fd, t));
    },
    async fileAsync(fd, node, lost, rel, createdMode = -1) {
      const exact = await ownerAsync(fd, node.uid, node.gid);
      const wanted = mode(node.mode, exact, lost, 0o600);
      try {
        if (wanted !== createdMode) await call((cb) => fchmod(fd, wanted, cb));
      } catch (err) {
        failed("mode", rel, err);
      }
      xattrs(node.xattrs, rel, (n, v) => setFdXattr(fd, n, v));
      const t = parseNs(node.mtime);
      if (t) {
        try {
          await timesSetter.set(fd, t);
        } catch (err) {
          failed("mtime", rel, err);
        }
      }
    },
    dir(fd, node, lost, rel) {
      const exact = owner(node.uid, node.gid, () => setFdOwner(fd, node.uid, node.gid));
      try {
        fchmodSync(fd, mode(node.mode, exact, lost, 0o700));
      } catch (err) {
        failed("mode", rel, err);
      }
      xattrs(node.xattrs, rel, (n, v) => setFdXattr(fd, n, v));
      times(rel, node.mtime, (t) => setFdTimes(fd, t));
    },
    entry(dirFd, name, node, rel) {
      const path = at(dirFd, name);
      const exact = owner(node.uid, node.gid, () => setPathOwner(path, node.uid, node.gid));
      if (node.type !== "symlink") {
        try {
          chmodSync(path, mode(node.mode, exact, false, 0o600)); // a device node this restore made: not a link
        } catch (err) {
          failed("mode", rel, err);
        }
      }
      xattrs(node.xattrs, rel, (n, v) => setXattr(path, n, v));
      times(rel, node.mtime, (t) => setAtTimes(dirFd, name, t));
    },
    summarize() {
      for (const [key, f] of xattrFailures) {
        const [kind, code] = key.split("\0");
        options.warn(`Cannot restore ${f.count} extended attribute${f.count === 1 ? "" : "s"} of kind "${kind}": ${code} (first: "${displayName(f.example)}")${hintFor(kind!, code!)}`);
      }
      xattrFailures.clear();
    },
    close() {
      timesSetter.close();
    },
  };
}

/** A node-style callback call as a promise. */
function call(f: (cb: (err: NodeJS.ErrnoException | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => f((err) => (err ? reject(err) : resolve())));
}

/** The kind of an attribute for summaries: its namespace, or the ACL/capability it is. */
function xattrKind(name: string): string {
  if (name === "system.posix_acl_access" || name === "system.posix_acl_default") return "POSIX ACL";
  if (name === "security.capability") return "capability";
  return name.split(".")[0] || name;
}

function hintFor(kind: string, code: string): string {
  if (code === "ENOTSUP" || code === "EOPNOTSUPP") return "; the target file system does not keep them";
  if (code === "EPERM" && (kind === "trusted" || kind === "security" || kind === "capability")) return "; run the restore as root to restore them";
  return "";
}

/** Mode of a salvaged entry: no setuid/setgid/sticky, and always open to its owner for inspection. */
function salvagedMode(mode: number, owner: number): number {
  return (mode & 0o777) | owner;
}
