/**
 * Reading recovery point trees: walk every entry under a path, and compare two trees.
 * Loading is injected (a tree id -> decoded entries), so this is pure traversal logic; an
 * unchanged subtree has the same id in both trees and is skipped without loading.
 */
import type { Node } from "./node.ts";

/** Loads and decodes the tree blob with this id (hex). */
export type TreeLoader = (id: string) => Promise<Node[]>;

/** One entry with its path relative to the recovery point root. */
export interface TreeEntry {
  path: string;
  node: Node;
}

/** Finds the node at `path` ("" or "." is the root); null when absent. */
export async function findPath(load: TreeLoader, rootId: string, path: string): Promise<{ node: Node | null; treeId: string | null }> {
  const parts = splitPath(path);
  let treeId = rootId;
  let node: Node | null = null;
  for (let i = 0; i < parts.length; i++) {
    node = (await load(treeId)).find((n) => n.name === parts[i]) ?? null;
    if (!node) return { node: null, treeId: null };
    if (i < parts.length - 1) {
      if (node.type !== "dir") return { node: null, treeId: null };
      treeId = node.subtree;
    }
  }
  return { node, treeId: node === null ? rootId : node.type === "dir" ? node.subtree : null };
}

/**
 * Yields every entry under a tree, depth first, directories before their contents. A tree
 * that contains itself (only a hostile or damaged vault has one) is not entered again.
 */
export async function* walkTree(load: TreeLoader, treeId: string, prefix = "", ancestors: Set<string> = new Set()): AsyncGenerator<TreeEntry> {
  if (ancestors.has(treeId)) return;
  ancestors.add(treeId);
  for (const node of await load(treeId)) {
    const path = prefix ? `${prefix}/${node.name}` : node.name;
    yield { path, node };
    if (node.type === "dir") yield* walkTree(load, node.subtree, path, ancestors);
  }
  ancestors.delete(treeId);
}

/** What differs between two trees. */
export interface TreeDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

/** Compares two trees: paths added, removed, and changed (content, type or metadata). */
export async function diffTrees(load: TreeLoader, a: string, b: string): Promise<TreeDiff> {
  const out: TreeDiff = { added: [], removed: [], changed: [] };
  await diffInto(load, a, b, "", out);
  return out;
}

async function diffInto(load: TreeLoader, a: string | null, b: string | null, prefix: string, out: TreeDiff, ancestors: Set<string> = new Set()): Promise<void> {
  if (a === b) return;
  const pair = `${a}:${b}`;
  if (ancestors.has(pair)) return; // a cycle (hostile or damaged vault): compared once
  ancestors.add(pair);
  const left = new Map((a ? await load(a) : []).map((n) => [n.name, n]));
  const right = new Map((b ? await load(b) : []).map((n) => [n.name, n]));
  const names = [...new Set([...left.keys(), ...right.keys()])].sort();
  for (const name of names) {
    const l = left.get(name);
    const r = right.get(name);
    const path = prefix ? `${prefix}/${name}` : name;
    if (!l && r) {
      out.added.push(path);
      if (r.type === "dir") await collect(load, r.subtree, path, out.added);
    } else if (l && !r) {
      out.removed.push(path);
      if (l.type === "dir") await collect(load, l.subtree, path, out.removed);
    } else if (l && r) {
      if (l.type === "dir" && r.type === "dir") {
        if (l.mode !== r.mode || l.uid !== r.uid || l.gid !== r.gid) out.changed.push(path);
        await diffInto(load, l.subtree, r.subtree, path, out, ancestors);
      } else if (l.type !== r.type) {
        out.removed.push(path);
        if (l.type === "dir") await collect(load, l.subtree, path, out.removed);
        out.added.push(path);
        if (r.type === "dir") await collect(load, r.subtree, path, out.added);
      } else if (!sameLeaf(l, r)) {
        out.changed.push(path);
      }
    }
  }
  ancestors.delete(pair);
}

async function collect(load: TreeLoader, treeId: string, prefix: string, into: string[]): Promise<void> {
  for await (const e of walkTree(load, treeId, prefix)) into.push(e.path);
}

function sameLeaf(a: Node, b: Node): boolean {
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.mtime !== b.mtime) return false;
  if (JSON.stringify(a.xattrs ?? []) !== JSON.stringify(b.xattrs ?? [])) return false;
  if ((a.type === "chardev" || a.type === "blockdev") && b.type === a.type) return a.rdev === b.rdev;
  if (a.type === "file" && b.type === "file") return a.size === b.size && a.content.length === b.content.length && a.content.every((c, i) => c === b.content[i]);
  if (a.type === "symlink" && b.type === "symlink") return a.target === b.target;
  return true;
}

/** "a/b/", "./a/b", "/a/b" -> ["a", "b"]. */
export function splitPath(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}
