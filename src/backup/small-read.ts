/**
 * Reading one small file (one chunk: size <= the chunker's minSize) into its reserved room in
 * a pipeline slot, asynchronously on the I/O thread pool, so that many files are in flight at
 * once (the pipeline bounds how many: pipeline.ts). Main thread only; no CPU work here.
 *
 *   open (O_NOFOLLOW, O_NOATIME when allowed) -> read into the slot -> after-stat -> close
 *
 * Round trips per file on a network mount: the walker's lstat is the "before" stat (it also
 * leaves the entry in the client's lookup cache, so the open costs no second LOOKUP when it
 * follows soon), then OPEN, READ and RELEASE. The "after" stat is statx(size|mtime|ctime) on
 * the open descriptor (fs/statx.ts): answered from the attribute cache when those fields are
 * valid there, so it costs no GETATTR when nothing changed, where an fstat would (a read
 * marks the cached atime stale). Without statx it falls back to fstat.
 */
import { close, constants, fstat, open, read, type BigIntStats } from "node:fs";
import { fsPath } from "../tree/name.ts";
import { fdChangeStat, type ChangeStat } from "../fs/statx.ts";

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;
const NOATIME = constants.O_NOATIME ?? 0;

/** Status codes of a small read, as the pipeline's slot files and READ_STATUS number them. */
export const SMALL_OK = 0;
export const SMALL_CHANGED = 1;
export const SMALL_VANISHED = 2;
export const SMALL_ERROR = 3;

/** How one small read went: status (above), bytes read, errno code for SMALL_ERROR. */
export interface SmallOutcome {
  status: number;
  got: number;
  code: string;
}

function openAsync(path: string | Buffer, flags: number): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function readAsync(fd: number, into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, into, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

function closeAsync(fd: number): Promise<void> {
  return new Promise((resolve) => close(fd, () => resolve()));
}

function fstatAsync(fd: number): Promise<ChangeStat> {
  return new Promise((resolve, reject) => fstat(fd, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st as unknown as BigIntStats))));
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** Reads the file at `path` into into[at, at + size) and checks it against `expected` (the walker's lstat). */
export async function readSmallFile(path: string, into: Uint8Array, at: number, expected: BigIntStats): Promise<SmallOutcome> {
  const size = Number(expected.size);
  const p = fsPath(path);
  let fd: number;
  try {
    fd = await openAsync(p, OPEN_FLAGS | NOATIME);
  } catch (err) {
    const code = codeOf(err);
    if (code === "ENOENT") return { status: SMALL_VANISHED, got: 0, code: "" };
    if (code !== "EPERM" || NOATIME === 0) return { status: SMALL_ERROR, got: 0, code };
    // O_NOATIME needs ownership of the file; without it, read it as everyone does.
    try {
      fd = await openAsync(p, OPEN_FLAGS);
    } catch (err2) {
      const code2 = codeOf(err2);
      return code2 === "ENOENT" ? { status: SMALL_VANISHED, got: 0, code: "" } : { status: SMALL_ERROR, got: 0, code: code2 };
    }
  }
  try {
    let got = 0;
    while (got < size) {
      const n = await readAsync(fd, into, at + got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    const after = fdChangeStat(fd) ?? (await fstatAsync(fd));
    const stable = after.size === expected.size && after.mtimeNs === expected.mtimeNs && after.ctimeNs === expected.ctimeNs;
    return { status: stable ? SMALL_OK : SMALL_CHANGED, got, code: "" };
  } catch (err) {
    return { status: SMALL_ERROR, got: 0, code: codeOf(err) };
  } finally {
    await closeAsync(fd);
  }
}
