/**
 * The few libc calls that Node's fs does not offer: extended attributes (every namespace,
 * POSIX ACLs included, as their raw system.posix_acl_* values) and mknod for devices.
 * Through bun:ffi; paths are strings or byte buffers (names are bytes, see tree/name.ts),
 * and never followed when they are symlinks (the l* calls).
 *
 * Errors are thrown as NodeJS.ErrnoException-like objects with `code` (e.g. "ENOTSUP",
 * "EPERM"), so callers treat them as they treat node:fs errors. Where libc cannot be loaded
 * (not Linux/glibc), `available` is false and every call throws code "ENOSYS".
 */
import { dlopen, FFIType, read } from "bun:ffi";
import { constants } from "node:os";

const SYMBOLS = {
  llistxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  lgetxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  lsetxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  fsetxattr: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  mknod: { args: [FFIType.ptr, FFIType.u32, FFIType.u64], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
} as const;

type Lib = ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];

let lib: Lib | null | undefined;

function libc(): Lib | null {
  if (lib === undefined) {
    try {
      lib = dlopen("libc.so.6", SYMBOLS).symbols;
    } catch {
      lib = null;
    }
  }
  return lib;
}

/** True when the calls below can work on this platform. */
export function libcAvailable(): boolean {
  return libc() !== null;
}

const ERRNO: Record<number, string> = Object.fromEntries(Object.entries(constants.errno).map(([k, v]) => [v, k]));

function fail(syscall: string, path: string | Buffer): never {
  const l = libc();
  const errno = l ? read.i32(l.__errno_location()!, 0) : 38;
  const code = ERRNO[errno] ?? `E${errno}`;
  const err = new Error(`${code}: ${syscall}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  err.path = typeof path === "string" ? path : path.toString("latin1");
  throw err;
}

function cstr(s: string | Buffer): Buffer {
  const b = typeof s === "string" ? Buffer.from(s, "utf8") : s;
  const out = Buffer.allocUnsafe(b.length + 1);
  b.copy(out);
  out[b.length] = 0;
  return out;
}

function need(syscall: string, path: string | Buffer): Lib {
  const l = libc();
  if (!l) {
    const err = new Error(`ENOSYS: ${syscall}`) as NodeJS.ErrnoException;
    err.code = "ENOSYS";
    err.syscall = syscall;
    err.path = String(path);
    throw err;
  }
  return l;
}

/** The names of a path's extended attributes (raw bytes each), not following a symlink. */
export function listXattrs(path: string | Buffer): Buffer[] {
  const l = need("llistxattr", path);
  const p = cstr(path);
  for (let attempt = 0; attempt < 4; attempt++) {
    const size = Number(l.llistxattr(p, null, 0));
    if (size < 0) fail("llistxattr", path);
    if (size === 0) return [];
    const buf = Buffer.allocUnsafe(size);
    const got = Number(l.llistxattr(p, buf, size));
    if (got < 0) {
      if (read.i32(l.__errno_location()!, 0) === 34) continue; // ERANGE: grew meanwhile
      fail("llistxattr", path);
    }
    const names: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < got; i++) {
      if (buf[i] === 0) {
        if (i > start) names.push(Buffer.from(buf.subarray(start, i)));
        start = i + 1;
      }
    }
    return names;
  }
  fail("llistxattr", path);
}

/** One extended attribute's value, or null when it vanished; not following a symlink. */
export function getXattr(path: string | Buffer, name: Buffer): Buffer | null {
  const l = need("lgetxattr", path);
  const p = cstr(path);
  const n = cstr(name);
  for (let attempt = 0; attempt < 4; attempt++) {
    const size = Number(l.lgetxattr(p, n, null, 0));
    if (size < 0) {
      if (read.i32(l.__errno_location()!, 0) === 61) return null; // ENODATA
      fail("lgetxattr", path);
    }
    const buf = Buffer.allocUnsafe(Math.max(size, 1));
    const got = Number(l.lgetxattr(p, n, buf, size));
    if (got < 0) {
      const e = read.i32(l.__errno_location()!, 0);
      if (e === 34) continue;
      if (e === 61) return null;
      fail("lgetxattr", path);
    }
    return buf.subarray(0, got);
  }
  fail("lgetxattr", path);
}

/** Sets one extended attribute, not following a symlink. */
export function setXattr(path: string | Buffer, name: Buffer, value: Uint8Array): void {
  const l = need("lsetxattr", path);
  if (l.lsetxattr(cstr(path), cstr(name), value.length ? value : Buffer.alloc(1), value.length, 0) !== 0) fail("lsetxattr", path);
}

/** Sets one extended attribute of an open file or directory. */
export function setFdXattr(fd: number, name: Buffer, value: Uint8Array): void {
  const l = need("fsetxattr", String(fd));
  if (l.fsetxattr(fd, cstr(name), value.length ? value : Buffer.alloc(1), value.length, 0) !== 0) fail("fsetxattr", `fd ${fd}`);
}

/** Creates a character or block device (or FIFO) node; `mode` includes the S_IF* type bits. */
export function mknod(path: string | Buffer, mode: number, rdev: bigint): void {
  const l = need("mknod", path);
  if (l.mknod(cstr(path), mode, rdev) !== 0) fail("mknod", path);
}
