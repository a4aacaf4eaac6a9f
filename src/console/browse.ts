/**
 * Looking inside a recovery point from the page: a directory's entries a page at a time, a
 * file's bytes, a directory as tar. Paths travel as their display form (tree/name.ts
 * displayName per segment, joined by "/"), which is printable and reads back byte for byte,
 * so names that are not UTF-8 survive URLs and JSON.
 */
import { EfsbakError } from "../errors.ts";
import type { TreeLoader } from "../tree/list.ts";
import { displayName, nameToBytes, parseDisplayName } from "../tree/name.ts";
import type { FileNode, Node } from "../tree/node.ts";
import { decodeTree } from "../tree/tree.ts";
import { fromHex } from "../vault/id.ts";
import type { RecoveryPoint } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import { type DumpRoot, dumpTar } from "../restore/dump.ts";

/** One entry as the page shows it. */
export interface EntryView {
  /** displayName of the name: printable, and the form paths are built from. */
  name: string;
  type: Node["type"];
  size: number | null;
  mode: string;
  mtime: string;
  target: string | null;
  inconsistent: boolean;
}

/** A page of a directory listing. */
export interface DirPage {
  path: string;
  total: number;
  offset: number;
  entries: EntryView[];
}

/** What a path names inside a recovery point. */
export interface Located {
  /** Names in string form, root first (empty for the root). */
  names: string[];
  node: Node | null;
  /** The tree of the directory (the root's for the root), or null for a non-directory. */
  treeId: string | null;
}

/** A tree loader over a vault (a tree is one blob). */
export function treeLoader(vault: Vault): TreeLoader {
  return async (hex) => {
    const id = fromHex(hex, 32);
    if (!id) throw new EfsbakError(`Cannot read tree "${hex}": not a tree id`, { exitCode: 1 });
    return decodeTree(`tree ${hex}`, await vault.loadBlob(id));
  };
}

/** "a/b\\x80" -> the names in string form; "" is the root. */
export function parsePath(path: string): string[] {
  return path.split("/").filter((p) => p !== "").map(parseDisplayName);
}

/** Finds what a path names; throws a 404-worthy error when nothing. */
export async function locate(load: TreeLoader, rp: RecoveryPoint, options: { path: string }): Promise<Located> {
  const { path } = options;
  const names = parsePath(path);
  let treeId: string | null = rp.tree;
  let node: Node | null = null;
  for (let i = 0; i < names.length; i++) {
    if (treeId === null) throw notFound(rp, path);
    node = (await load(treeId)).find((n) => n.name === names[i]) ?? null;
    if (!node) throw notFound(rp, path);
    treeId = node.type === "dir" ? node.subtree : null;
  }
  return { names, node, treeId };
}

/** One page of a directory. */
export async function listDirectory(load: TreeLoader, rp: RecoveryPoint, page: { path: string; offset: number; limit: number }): Promise<DirPage> {
  const { path } = page;
  const at = await locate(load, rp, { path });
  if (at.treeId === null) throw new EfsbakError(`Cannot list "${path}": it is not a directory`, { exitCode: 1 });
  const all = await load(at.treeId);
  const offset = Math.max(0, Math.min(page.offset, all.length));
  return {
    path: at.names.map(displayName).join("/"),
    total: all.length,
    offset,
    entries: all.slice(offset, offset + page.limit).map(entryView),
  };
}

function entryView(n: Node): EntryView {
  return {
    name: displayName(n.name),
    type: n.type,
    size: n.type === "file" ? n.size : null,
    mode: `0${n.mode.toString(8)}`,
    mtime: new Date(Number(BigInt(n.mtime) / 1_000_000n)).toISOString(),
    target: n.type === "symlink" ? displayName(n.target) : null,
    inconsistent: !!n.inconsistent,
  };
}

/** A file's content, chunk by chunk. A damaged chunk fails the stream where it is. */
export async function* fileContent(vault: Vault, node: FileNode): AsyncGenerator<Uint8Array> {
  for (const hex of node.content) {
    const id = fromHex(hex, 32);
    if (!id) throw new EfsbakError(`Cannot read chunk "${hex}": not a chunk id`, { exitCode: 1 });
    yield await vault.loadBlob(id);
  }
}

/**
 * A directory and everything below it as a tar stream, members named from `root.name` down:
 * the same pax archive as `efsbak dump` writes (restore/dump.ts), with back-pressure from the
 * response (a write waits while the client reads slowly).
 */
export function directoryTar(vault: Vault, treeId: string, root: { load: TreeLoader; name: string; node: Node | null; rp: RecoveryPoint }): ReadableStream<Uint8Array> {
  const meta = root.node ?? root.rp.root ?? { mode: 0o755, uid: 0, gid: 0, mtime: `${BigInt(Date.parse(root.rp.created_at)) * 1_000_000n}` };
  const from: DumpRoot = { name: root.name, subtree: treeId, mode: meta.mode, uid: meta.uid, gid: meta.gid, mtime: meta.mtime, xattrs: meta.xattrs };
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  dumpTar(vault, from, { load: root.load, sink: { write: (chunk) => writer.write(chunk.slice()) } }).then(
    () => writer.close(),
    (err: unknown) => writer.abort(err),
  );
  return readable;
}

function notFound(rp: RecoveryPoint, path: string): EfsbakError {
  return new UnknownItemError(`Cannot find "${path}" in recovery point ${rp.id}`);
}

/** A request named something that is not there: a path in a recovery point, a job, a restore (a 404). */
export class UnknownItemError extends EfsbakError {
  constructor(message: string) {
    super(message, { exitCode: 1 });
  }
}
