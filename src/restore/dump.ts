/**
 * `dump`: one file's bytes, or a directory as a pax tar stream, from a recovery point to a
 * sink, without restoring to disk.
 *
 *   file:      its chunks in order -> sink (a few chunk loads ahead of the writes)
 *   directory: the directory itself, named by its own name (as `tar -C parent name`), then
 *              every entry below it, depth first (tree/walk-rp.ts, iterative):
 *                header (restore/tar.ts) -> content chunks -> padding
 *              a hard link group (links > 1, same dev and inode) -> its first path as a file,
 *              later ones as links to it; symlinks, devices, modes, owners, mtimes (ns) and
 *              xattrs as they are stored
 *   end:       two zero blocks
 *
 * Memory is bounded: at most PREFETCH chunk loads in flight plus one output buffer, whatever
 * the file or tree size; the sink's promise carries back-pressure (a slow reader slows the
 * loads, it never loses bytes). Before a file's header is written its chunk lengths are
 * summed from the index: a file whose chunks do not add up to its size is refused as damage
 * before any of it is written, so the archive never holds a member shorter than its header
 * says. An entry whose name cannot be extracted safely (empty, ".", "..", a "/" or NUL, or no
 * byte form) is left out and reported through onSkip.
 */
import { VaultDamageError } from "../errors.ts";
import { walkRp } from "../tree/walk-rp.ts";
import type { TreeLoader } from "../tree/list.ts";
import { displayName, nameToBytes } from "../tree/name.ts";
import type { FileNode, Node, Xattr } from "../tree/node.ts";
import { fromHex } from "../vault/id.ts";
import type { Vault } from "../vault/vault.ts";
import { TAR_END, encodeTarHeader, tarPadding, type TarMember } from "./tar.ts";

/** Chunk loads in flight ahead of the writes. */
export const PREFETCH = 4;
const FLUSH_BYTES = 64 * 1024;

/** Where dumped bytes go; the promise resolves when more may be written (back-pressure). */
export interface DumpSink {
  write(chunk: Uint8Array): Promise<void>;
}

/** What a tar dump wrote. */
export interface DumpResult {
  members: number;
  bytes: number;
  skipped: { path: string; reason: string }[];
}

/** The directory a tar dump starts from: its archive name and metadata. */
export interface DumpRoot {
  name: string;
  subtree: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: string;
  xattrs?: Xattr[];
}

/** Options of a dump. */
export interface DumpOptions {
  /** Where the bytes go. */
  sink: DumpSink;
  signal?: AbortSignal;
  /** An entry left out of the archive, with why (paths in display form). */
  onSkip?: (path: string, reason: string) => void;
}

type BlobSource = Pick<Vault, "loadBlob" | "index">;

/** Checks that a file's chunks, by the index, add up to its size. */
function checkLength(vault: BlobSource, node: FileNode, path: string): Uint8Array[] {
  let total = 0;
  const ids = node.content.map((hex) => {
    const id = fromHex(hex, 32);
    const loc = id ? vault.index.get(id) : null;
    if (!id || !loc) throw new VaultDamageError(`blob ${hex}`, `chunk of "${displayName(path)}" is not in any index`, 'run "efsbak check" to see which recovery points are affected');
    total += loc.rawLength;
    return id;
  });
  if (total !== node.size) throw new VaultDamageError(`blob ${node.content[0] ?? "-"}`, `chunks of "${displayName(path)}" add up to ${total} bytes, not its size ${node.size}`, 'run "efsbak check"');
  return ids;
}

/** Writes a file's content to the sink; returns the bytes written (always node.size). */
export async function dumpFile(vault: BlobSource, node: FileNode, options: DumpOptions & { path?: string }): Promise<number> {
  const sink = options.sink;
  const ids = checkLength(vault, node, options.path ?? node.name);
  const ahead: Promise<Uint8Array>[] = [];
  let next = 0;
  let written = 0;
  const fill = () => {
    while (ahead.length < PREFETCH && next < ids.length) {
      const p = vault.loadBlob(ids[next++]!);
      p.catch(() => {}); // awaited in order below; this only silences an early rejection
      ahead.push(p);
    }
  };
  fill();
  while (ahead.length > 0) {
    options.signal?.throwIfAborted();
    const raw = await ahead.shift()!;
    fill();
    await sink.write(raw);
    written += raw.length;
  }
  return written;
}

/** Unsafe for extraction: empty, ".", "..", or holding "/" or NUL. */
function unsafeName(name: string): string | null {
  if (name === "" || name === "." || name === "..") return `the name "${displayName(name)}" cannot be extracted`;
  if (name.includes("/") || name.includes("\u0000")) return `the name "${displayName(name)}" holds "/" or NUL`;
  if (nameToBytes(name) === null) return "the name has no byte form";
  return null;
}

function xattrBytes(xattrs: Xattr[] | undefined): TarMember["xattrs"] {
  if (!xattrs || xattrs.length === 0) return undefined;
  const out: NonNullable<TarMember["xattrs"]> = [];
  for (const [name, value] of xattrs) {
    const n = nameToBytes(name);
    if (n) out.push([n, Buffer.from(value, "base64")]);
  }
  return out;
}

/** Linux dev_t -> major, minor (glibc's gnu_dev_major/minor). */
function splitDev(rdev: string): { devmajor: number; devminor: number } {
  const d = BigInt(rdev);
  return { devmajor: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)), devminor: Number((d & 0xffn) | ((d >> 12n) & ~0xffn)) };
}

/** Buffers small writes (headers, padding) into larger sink writes. */
function buffered(sink: DumpSink): { write(b: Uint8Array): Promise<void>; flush(): Promise<void>; bytes: number } {
  let parts: Uint8Array[] = [];
  let held = 0;
  const out = {
    bytes: 0,
    async write(b: Uint8Array) {
      out.bytes += b.length;
      if (b.length >= FLUSH_BYTES) {
        await out.flush();
        await sink.write(b);
        return;
      }
      parts.push(b);
      held += b.length;
      if (held >= FLUSH_BYTES) await out.flush();
    },
    async flush() {
      if (held === 0) return;
      const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      parts = [];
      held = 0;
      await sink.write(joined);
    },
  };
  return out;
}

/** Writes a directory and everything below it as a pax tar stream. */
export async function dumpTar(vault: BlobSource, root: DumpRoot, options: DumpOptions & { load: TreeLoader }): Promise<DumpResult> {
  const out = buffered(options.sink);
  const result: DumpResult = { members: 0, bytes: 0, skipped: [] };
  const skip = (path: string, reason: string) => {
    result.skipped.push({ path: displayName(path), reason });
    options.onSkip?.(displayName(path), reason);
  };
  const rootBytes = nameToBytes(root.name) ?? Buffer.from("root");
  const member = (path: Uint8Array, n: Pick<Node, "mode" | "uid" | "gid" | "mtime" | "xattrs">, rest: Partial<TarMember> & { type: TarMember["type"] }): TarMember => ({
    path, mode: n.mode, uid: n.uid, gid: n.gid, mtimeNs: BigInt(n.mtime), size: 0, xattrs: xattrBytes(n.xattrs), ...rest,
  });
  await out.write(encodeTarHeader(member(rootBytes, root, { type: "dir" })));
  result.members++;
  // Byte paths of open directories by walk path: an entry's archive path is its parent's plus its name.
  const dirBytes = new Map<string, Uint8Array>([["", rootBytes]]);
  const firstLink = new Map<string, Uint8Array>();
  const unsafeDirs = new Set<string>();
  const walk = walkRp(options.load, root.subtree, {
    enter: (e) => !unsafeDirs.has(e.path),
    leave: (e) => void dirBytes.delete(e.path),
  });
  for await (const e of walk) {
    options.signal?.throwIfAborted();
    const n = e.node;
    const slash = e.path.lastIndexOf("/");
    const parent = dirBytes.get(slash < 0 ? "" : e.path.slice(0, slash))!;
    const bad = unsafeName(n.name);
    if (bad) {
      if (n.type === "dir") unsafeDirs.add(e.path);
      skip(e.path, bad);
      continue;
    }
    const path = Buffer.concat([parent, Buffer.of(0x2f), nameToBytes(n.name)!]);
    if (n.type === "dir") {
      dirBytes.set(e.path, path);
      await out.write(encodeTarHeader(member(path, n, { type: "dir" })));
    } else if (n.type === "symlink") {
      const target = nameToBytes(n.target);
      if (!target) {
        skip(e.path, "the link target has no byte form");
        continue;
      }
      await out.write(encodeTarHeader(member(path, n, { type: "symlink", linkpath: target })));
    } else if (n.type !== "file") {
      await out.write(encodeTarHeader(member(path, n, { type: n.type, ...splitDev(n.rdev) })));
    } else {
      const group = n.links && n.links > 1 && n.dev !== undefined ? `${n.dev}:${n.ino}` : null;
      const first = group ? firstLink.get(group) : undefined;
      if (first) {
        await out.write(encodeTarHeader(member(path, n, { type: "hardlink", linkpath: first })));
      } else {
        checkLength(vault, n, e.path);
        if (group) firstLink.set(group, path);
        await out.write(encodeTarHeader(member(path, n, { type: "file", size: n.size })));
        await dumpFile(vault, n, { ...options, sink: out, path: e.path });
        await out.write(tarPadding(n.size));
      }
    }
    result.members++;
  }
  await out.write(TAR_END);
  await out.flush();
  result.bytes = out.bytes;
  return result;
}
