/**
 * statx(2) of an open file, asking only for size, mtime and ctime: the after-read check of a
 * backup without a round trip when nothing changed.
 *
 * fstat() asks for every field, atime included. On FUSE mounts (and so on latfs) a read marks
 * the cached atime stale, so an fstat after the read always costs a GETATTR round trip; NFS
 * clients revalidate on their own schedule too. statx with a mask of size|mtime|ctime and
 * AT_STATX_SYNC_AS_STAT lets the kernel answer from its attribute cache while those fields
 * are valid there, and ask the server when they are not (cache expired, or a write through
 * this client invalidated them). On local file systems it is simply an fstat.
 *
 * Through bun:ffi (synchronous, on the calling thread: it only waits when the kernel has to
 * ask the server). Where statx cannot be loaded, `statxAvailable()` is false.
 */
import { dlopen, FFIType } from "bun:ffi";

const AT_EMPTY_PATH = 0x1000;
const AT_STATX_SYNC_AS_STAT = 0;
const STATX_MTIME = 0x40;
const STATX_CTIME = 0x80;
const STATX_SIZE = 0x200;
const WANT = STATX_SIZE | STATX_MTIME | STATX_CTIME;
/** Offsets in struct statx (linux/stat.h). */
const OFF_MASK = 0;
const OFF_SIZE = 40;
const OFF_CTIME = 96;
const OFF_MTIME = 112;

type Lib = { statx: (dirfd: number, path: Uint8Array, flags: number, mask: number, buf: Uint8Array) => number };
let lib: Lib | null | undefined;

function libc(): Lib | null {
  if (lib === undefined) {
    try {
      lib = dlopen("libc.so.6", { statx: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.u32, FFIType.ptr], returns: FFIType.i32 } }).symbols as unknown as Lib;
    } catch {
      lib = null;
    }
  }
  return lib;
}

/** True when fdChangeStat can be used here. */
export function statxAvailable(): boolean {
  return libc() !== null;
}

const EMPTY = new Uint8Array(1);
const BUF = new Uint8Array(256);
const VIEW = new DataView(BUF.buffer);

/** Size, mtime and ctime (ns) of an open file. */
export interface ChangeStat {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

function ns(at: number): bigint {
  return VIEW.getBigInt64(at, true) * 1_000_000_000n + BigInt(VIEW.getUint32(at + 8, true));
}

/**
 * Size, mtime and ctime of an open file, or null when statx failed or did not return all
 * three (the caller then uses fstat).
 */
export function fdChangeStat(fd: number): ChangeStat | null {
  const l = libc();
  if (!l) return null;
  if (l.statx(fd, EMPTY, AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, WANT, BUF) !== 0) return null;
  if ((VIEW.getUint32(OFF_MASK, true) & WANT) !== WANT) return null;
  return { size: VIEW.getBigUint64(OFF_SIZE, true), mtimeNs: ns(OFF_MTIME), ctimeNs: ns(OFF_CTIME) };
}
