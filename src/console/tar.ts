/**
 * A POSIX (pax) tar stream of directory entries, for directory downloads. The one place the
 * console writes tar; names and link targets are bytes, written exactly (a pax `path` record
 * where they are not plain ASCII or do not fit the ustar fields). Bytes that are not UTF-8 go
 * in the record as they are: GNU tar and bsdtar take them so, and GNU tar warns about the
 * `hdrcharset=BINARY` record POSIX has for saying it.
 *
 *   for each member:  [pax header + its records]?  ustar header  data padded to 512
 *   end:              two zero blocks
 *
 * Regular files, directories and symlinks; anything else is left out by the caller.
 */

/** One member of the archive. */
export interface TarMember {
  /** Path inside the archive, as bytes, without a trailing "/". */
  path: Uint8Array;
  type: "file" | "dir" | "symlink";
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, ns since the epoch (decimal). */
  mtimeNs: string;
  /** Files: the size, and the content in pieces that add up to it. */
  size?: number;
  data?: () => AsyncIterable<Uint8Array>;
  /** Symlinks: the target, as bytes. */
  target?: Uint8Array;
}

const BLOCK = 512;
const ASCII = new TextEncoder();
const MAX_OCTAL_11 = 0o77777777777;
const MAX_OCTAL_7 = 0o7777777;

/** A tar stream of the members, in order. A member whose data falls short fails the stream. */
export function tarStream(members: AsyncIterable<TarMember>): ReadableStream<Uint8Array> {
  const it = members[Symbol.asyncIterator]();
  let pending: AsyncIterator<Uint8Array> | null = null;
  let left = 0;
  let padding = 0;
  let done = false;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (pending) {
        const r = await pending.next();
        if (!r.done) {
          if (r.value.length > left) throw new Error("tar: a file's data is longer than its size");
          left -= r.value.length;
          c.enqueue(r.value);
          return;
        }
        if (left !== 0) throw new Error("tar: a file's data is shorter than its size");
        pending = null;
        if (padding) c.enqueue(new Uint8Array(padding));
        return;
      }
      if (done) return c.close();
      const r = await it.next();
      if (r.done) {
        done = true;
        c.enqueue(new Uint8Array(2 * BLOCK));
        return;
      }
      const m = r.value;
      c.enqueue(memberHeader(m));
      if (m.type === "file" && (m.size ?? 0) > 0) {
        pending = m.data!()[Symbol.asyncIterator]();
        left = m.size!;
        padding = (BLOCK - (left % BLOCK)) % BLOCK;
      }
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/** The header block(s) of one member: a pax header where ustar cannot say it exactly, then ustar. */
export function memberHeader(m: TarMember): Uint8Array {
  const path = m.type === "dir" ? concat(m.path, ASCII.encode("/")) : m.path;
  const target = m.target ?? new Uint8Array(0);
  const size = m.type === "file" ? (m.size ?? 0) : 0;
  const seconds = Number(BigInt(m.mtimeNs) / 1_000_000_000n);
  const records: [string, Uint8Array][] = [];
  const split = ustarName(path);
  if (!split) records.push(["path", path]);
  if (target.length > 100 || !isAscii(target)) records.push(["linkpath", target]);
  if (size > MAX_OCTAL_11) records.push(["size", ASCII.encode(String(size))]);
  if (m.uid > MAX_OCTAL_7) records.push(["uid", ASCII.encode(String(m.uid))]);
  if (m.gid > MAX_OCTAL_7) records.push(["gid", ASCII.encode(String(m.gid))]);
  const ns = BigInt(m.mtimeNs) % 1_000_000_000n;
  if (ns !== 0n) records.push(["mtime", ASCII.encode(`${seconds}.${ns.toString().padStart(9, "0")}`)]);
  const typeflag = m.type === "dir" ? "5" : m.type === "symlink" ? "2" : "0";
  const main = ustarHeader({
    name: split?.name ?? fallbackName(path),
    prefix: split?.prefix ?? new Uint8Array(0),
    mode: m.mode & 0o7777,
    uid: Math.min(m.uid, MAX_OCTAL_7),
    gid: Math.min(m.gid, MAX_OCTAL_7),
    size: Math.min(size, MAX_OCTAL_11),
    mtime: Math.max(0, Math.min(seconds, MAX_OCTAL_11)),
    typeflag,
    linkname: target.length <= 100 ? target : target.subarray(0, 100),
  });
  // Only mtime's fraction: worth a pax header only together with something ustar cannot hold.
  const needed = records.filter(([k]) => k !== "mtime");
  if (needed.length === 0) return main;
  const body = concat(...records.map(([k, v]) => paxRecord(k, v)));
  const pax = ustarHeader({
    name: ASCII.encode("PaxHeader"),
    prefix: new Uint8Array(0),
    mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: Math.max(0, Math.min(seconds, MAX_OCTAL_11)),
    typeflag: "x",
    linkname: new Uint8Array(0),
  });
  return concat(pax, body, new Uint8Array((BLOCK - (body.length % BLOCK)) % BLOCK), main);
}

/** "LEN key=value\n", LEN counting itself. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const rest = ASCII.encode(` ${key}=`).length + value.length + 1;
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  return concat(ASCII.encode(`${len} ${key}=`), value, ASCII.encode("\n"));
}

/** ASCII paths that fit name (100) or prefix (155) + "/" + name; null when a pax path is needed. */
function ustarName(path: Uint8Array): { name: Uint8Array; prefix: Uint8Array } | null {
  if (!isAscii(path)) return null;
  if (path.length <= 100) return { name: path, prefix: new Uint8Array(0) };
  for (let i = path.length - 101; i < path.length && i <= 155; i++) {
    if (i > 0 && path[i] === 0x2f) return { name: path.subarray(i + 1), prefix: path.subarray(0, i) };
  }
  return null;
}

function fallbackName(path: Uint8Array): Uint8Array {
  return path.map((b) => (b < 0x20 || b > 0x7e ? 0x5f : b)).subarray(Math.max(0, path.length - 100));
}

function ustarHeader(h: { name: Uint8Array; prefix: Uint8Array; mode: number; uid: number; gid: number; size: number; mtime: number; typeflag: string; linkname: Uint8Array }): Uint8Array {
  const b = new Uint8Array(BLOCK);
  b.set(h.name.subarray(0, 100), 0);
  octal(b, 100, 8, h.mode);
  octal(b, 108, 8, h.uid);
  octal(b, 116, 8, h.gid);
  octal(b, 124, 12, h.size);
  octal(b, 136, 12, h.mtime);
  b.fill(0x20, 148, 156);
  b[156] = h.typeflag.charCodeAt(0);
  b.set(h.linkname.subarray(0, 100), 157);
  b.set(ASCII.encode("ustar\u000000"), 257);
  b.set(h.prefix.subarray(0, 155), 345);
  let sum = 0;
  for (const x of b) sum += x;
  b.set(ASCII.encode(`${sum.toString(8).padStart(6, "0")}\u0000 `), 148);
  return b;
}

function octal(b: Uint8Array, at: number, width: number, n: number): void {
  b.set(ASCII.encode(`${n.toString(8).padStart(width - 1, "0")}\u0000`), at);
}

function isAscii(b: Uint8Array): boolean {
  return b.every((x) => x >= 0x20 && x < 0x7f);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
