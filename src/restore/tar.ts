/**
 * POSIX tar headers (pax interchange format, POSIX.1-2001), pure: a member's metadata in,
 * the bytes that precede its content out. Written here rather than taken from npm
 * `tar-stream` because that library takes names, link targets and pax values as JS strings
 * and writes them as UTF-8: a name holding byte 0xff, or a binary xattr value (an ACL, a
 * capability), cannot pass through it unchanged; it also drops sub-second mtimes and cannot
 * write owners past 2097151. This file is ~150 lines and has no dependencies.
 *
 *   member -> ustar header (512 bytes: name/prefix split, octal fields, checksum)
 *          -> preceded by a pax 'x' header when anything does not fit ustar exactly:
 *             path / linkpath longer than the ustar fields, size >= 8 GiB, uid/gid >= 8^7,
 *             an mtime with nanoseconds or before 1970, xattrs (SCHILY.xattr.NAME)
 *          -> content, padded with zeros to a multiple of 512 (tarPadding)
 *   end of archive: two zero blocks (TAR_END)
 *
 * Names are bytes and go into the headers exactly. A name that fits ustar (prefix/name split)
 * is written there: ustar fields are raw bytes. A longer one goes into a pax `path` (or
 * `linkpath`) record as raw bytes too. The standard says pax values are UTF-8 unless the
 * header has `hdrcharset=BINARY`; GNU tar 1.34 does not know that keyword (it warns "Ignoring
 * unknown extended header keyword") and itself writes raw bytes without it, so this writer
 * does what GNU tar does: GNU tar extracts the exact bytes (tested with a 0xff name, short
 * and long, and a 0xfe link target).
 */

const BLOCK = 512;

/** Member types this writer knows. */
export type TarType = "file" | "hardlink" | "symlink" | "chardev" | "blockdev" | "dir";

const TYPEFLAG: Record<TarType, number> = { file: 0x30, hardlink: 0x31, symlink: 0x32, chardev: 0x33, blockdev: 0x34, dir: 0x35 };

/** One archive member. Paths are bytes, '/'-separated, without a leading or trailing '/'. */
export interface TarMember {
  path: Uint8Array;
  type: TarType;
  /** Permission bits incl. setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Nanoseconds since the epoch. */
  mtimeNs: bigint;
  /** Content length (files only; 0 otherwise). */
  size: number;
  /** Symlink target or hard link's first path. */
  linkpath?: Uint8Array;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes: raw name and value bytes. */
  xattrs?: [name: Uint8Array, value: Uint8Array][];
}

/** End of archive: two zero blocks. */
export const TAR_END = new Uint8Array(2 * BLOCK);

/** Zero bytes that pad content of `size` bytes to a whole block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

const enc = (s: string) => new TextEncoder().encode(s);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One pax record "LEN key=value\n", LEN counting the whole record including itself. */
function paxRecord(key: Uint8Array, value: Uint8Array): Uint8Array {
  const body = key.length + value.length + 3; // " " "=" "\n"
  let len = body + 1;
  while (String(len).length + body !== len) len = String(len).length + body;
  return concat([enc(`${len} `), key, enc("="), value, enc("\n")]);
}

/** Where a path splits into ustar prefix (≤155) and name (≤100), or null when it cannot. */
function ustarSplit(path: Uint8Array): { prefix: Uint8Array; name: Uint8Array } | null {
  if (path.length <= 100) return { prefix: new Uint8Array(0), name: path };
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== 0x2f) continue;
    if (path.length - i - 1 > 100) return null;
    if (i <= 155 && path.length - i - 1 > 0) return { prefix: path.subarray(0, i), name: path.subarray(i + 1) };
  }
  return null;
}

const fits = (n: number, digits: number) => Number.isSafeInteger(n) && n >= 0 && n < 8 ** digits;

function writeOctal(h: Uint8Array, at: number, width: number, n: number): void {
  h.set(enc(n.toString(8).padStart(width - 1, "0")), at);
}

/** "SCHILY.xattr." + name, with '%' and '=' percent-encoded as GNU tar writes them. */
function xattrKey(name: Uint8Array): Uint8Array {
  const parts: number[] = [];
  for (const b of name) {
    if (b === 0x25 || b === 0x3d) parts.push(0x25, ...enc(b === 0x25 ? "25" : "3D"));
    else parts.push(b);
  }
  return concat([enc("SCHILY.xattr."), Uint8Array.from(parts)]);
}

function paxTime(ns: bigint): string {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  const frac = (a % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${a / 1_000_000_000n}${frac ? `.${frac}` : ""}`;
}

/** The header bytes of a member: a pax header when needed, then the ustar header. */
export function encodeTarHeader(m: TarMember): Uint8Array {
  const path = m.type === "dir" ? concat([m.path, enc("/")]) : m.path;
  const link = m.linkpath ?? new Uint8Array(0);
  const split = ustarSplit(path);
  const sec = m.mtimeNs >= 0n ? m.mtimeNs / 1_000_000_000n : -1n;
  const records: Uint8Array[] = [];
  const needPath = split === null;
  const needLink = link.length > 100;
  if (needPath) records.push(paxRecord(enc("path"), path));
  if (needLink) records.push(paxRecord(enc("linkpath"), link));
  if (!fits(m.size, 11)) records.push(paxRecord(enc("size"), enc(String(m.size))));
  if (!fits(m.uid, 7)) records.push(paxRecord(enc("uid"), enc(String(m.uid))));
  if (!fits(m.gid, 7)) records.push(paxRecord(enc("gid"), enc(String(m.gid))));
  if (m.mtimeNs % 1_000_000_000n !== 0n || sec < 0n || sec >= 8n ** 11n) records.push(paxRecord(enc("mtime"), enc(paxTime(m.mtimeNs))));
  for (const [name, value] of m.xattrs ?? []) records.push(paxRecord(xattrKey(name), value));

  const ustar = ustarBlock({ ...m, size: m.type === "file" ? m.size : 0 }, split ?? { prefix: new Uint8Array(0), name: path.subarray(path.length - Math.min(100, path.length)) }, link.subarray(0, 100), sec);
  if (records.length === 0) return ustar;
  const body = concat(records);
  const base = path.subarray(path.lastIndexOf(0x2f, path.length - 2) + 1).map((b) => (b >= 0x20 && b < 0x7f && b !== 0x2f ? b : 0x5f)).subarray(0, 80);
  const paxHeader = ustarBlock({ ...m, type: "file", size: body.length, mode: 0o644 }, { prefix: new Uint8Array(0), name: concat([enc("PaxHeaders/"), base]) }, new Uint8Array(0), sec, 0x78);
  return concat([paxHeader, body, tarPadding(body.length), ustar]);
}

function ustarBlock(m: TarMember, where: { prefix: Uint8Array; name: Uint8Array }, link: Uint8Array, sec: bigint, typeflag = TYPEFLAG[m.type]): Uint8Array {
  const h = new Uint8Array(BLOCK);
  h.set(where.name, 0);
  writeOctal(h, 100, 8, m.mode & 0o7777);
  writeOctal(h, 108, 8, fits(m.uid, 7) ? m.uid : 0);
  writeOctal(h, 116, 8, fits(m.gid, 7) ? m.gid : 0);
  if (fits(m.size, 11)) writeOctal(h, 124, 12, m.size);
  else {
    // GNU base-256: high bit set, big-endian binary (readers that skip pax still get it right).
    h[124] = 0x80;
    let n = BigInt(m.size);
    for (let i = 135; i > 124; i--, n >>= 8n) h[i] = Number(n & 0xffn);
  }
  writeOctal(h, 136, 12, sec < 0n || sec >= 8n ** 11n ? 0 : Number(sec));
  h[156] = typeflag;
  h.set(link, 157);
  h.set(enc("ustar\u000000"), 257);
  writeOctal(h, 329, 8, m.devmajor ?? 0);
  writeOctal(h, 337, 8, m.devminor ?? 0);
  h.set(where.prefix, 345);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.set(enc(`${sum.toString(8).padStart(6, "0")}\u0000 `), 148);
  return h;
}
