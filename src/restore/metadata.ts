/**
 * File metadata on restore: mtime with nanosecond precision, mode bits, owner.
 *
 * Node's utimes takes seconds as a double and loses the last digits of a nanosecond mtime,
 * so times go through libc's utimensat/futimens via bun:ffi (exact); when FFI is not
 * available (another platform or libc) they fall back to fs.utimesSync/lutimesSync, which
 * round to about a microsecond.
 *
 * Order matters, and callers follow it: content, then owner (chown clears setuid/setgid),
 * then mode, then times (every other change bumps ctime only, but writes bump mtime).
 * createMetaSetter applies that order for the walker and turns failures into warnings.
 */
import { dlopen, FFIType } from "bun:ffi";
import { chmodSync, fchmodSync, fchownSync, futimesSync, lchownSync, lutimesSync } from "node:fs";
import { relative } from "node:path";
import type { DirNode, FileNode, SymlinkNode } from "../tree/node.ts";

/** A parsed nanosecond timestamp: whole seconds and 0..999_999_999 nanoseconds. */
export interface Timespec {
  sec: bigint;
  nsec: bigint;
}

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

/** Sets mode bits of a path (a directory the restore created; never a symlink). */
export function setPathMode(path: string, mode: number): void {
  chmodSync(path, mode & 0o7777);
}

/** Sets the owner of an open file. */
export function setFdOwner(fd: number, uid: number, gid: number): void {
  fchownSync(fd, uid, gid);
}

/** Sets the owner of a path, not following a final symlink. */
export function setPathOwner(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
}

/** True when uid/gid look like real ids (a hostile tree may say anything). */
export function validOwner(uid: unknown, gid: unknown): boolean {
  return Number.isInteger(uid) && Number.isInteger(gid) && (uid as number) >= 0 && (gid as number) >= 0 && (uid as number) < 2 ** 32 && (gid as number) < 2 ** 32;
}

/** Sets the metadata of restored entries, in the order above; a failure is a warning, never fatal. */
export interface MetaSetter {
  /** An open regular file (`lost`: it is in lost+found, so it stays readable by its owner). */
  file(fd: number, node: FileNode, lost: boolean, rel: string): void;
  /** A directory the restore made, once everything below it is done. */
  dir(abs: string, node: DirNode, lost: boolean): void;
  /** A restored symlink (never followed). */
  symlink(abs: string, node: SymlinkNode): void;
}

/**
 * Creates the metadata setter of a restore into `root`; owners only with `chown`. `newOwner`:
 * the owner every entry created below root gets (root's own: its uid, and its gid whether or
 * not it is setgid, which its subdirectories inherit). Setting that owner again is skipped,
 * one syscall less per file when root restores root's files.
 */
export function createMetaSetter(options: { root: string; chown: boolean; newOwner?: { uid: number; gid: number }; warn(message: string): void }): MetaSetter {
  let warnedOwner = false;
  const same = (uid: number, gid: number) => options.newOwner !== undefined && uid === options.newOwner.uid && gid === options.newOwner.gid;
  const wantOwner = (uid: unknown, gid: unknown) => options.chown && validOwner(uid, gid) && !same(uid as number, gid as number);

  function owner(set: () => void): void {
    try {
      set();
    } catch (err) {
      if (!warnedOwner) {
        warnedOwner = true;
        options.warn(`Cannot restore owners: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (run as root to restore uid/gid)`);
      }
    }
  }

  function failed(what: string, rel: string, err: unknown): void {
    options.warn(`Cannot set ${what} of "${rel}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }

  function times(abs: string, mtime: string): void {
    const t = parseNs(mtime);
    if (!t) return;
    try {
      setPathTimes(abs, t);
    } catch (err) {
      failed("mtime", relative(options.root, abs), err);
    }
  }

  return {
    file(fd, node, lost, rel) {
      if (wantOwner(node.uid, node.gid)) owner(() => setFdOwner(fd, node.uid, node.gid));
      try {
        setFdMode(fd, lost ? salvagedMode(node.mode, 0o600) : node.mode);
      } catch (err) {
        failed("mode", rel, err);
      }
      const t = parseNs(node.mtime);
      if (t) {
        try {
          setFdTimes(fd, t);
        } catch (err) {
          failed("mtime", rel, err);
        }
      }
    },
    dir(abs, node, lost) {
      if (wantOwner(node.uid, node.gid)) owner(() => setPathOwner(abs, node.uid, node.gid));
      try {
        setPathMode(abs, lost ? salvagedMode(node.mode, 0o700) : node.mode);
      } catch (err) {
        failed("mode", relative(options.root, abs), err);
      }
      times(abs, node.mtime);
    },
    symlink(abs, node) {
      if (wantOwner(node.uid, node.gid)) owner(() => setPathOwner(abs, node.uid, node.gid));
      times(abs, node.mtime);
    },
  };
}

/** Mode of a salvaged entry: no setuid/setgid/sticky, and always open to its owner for inspection. */
function salvagedMode(mode: number, owner: number): number {
  return (mode & 0o777) | owner;
}
