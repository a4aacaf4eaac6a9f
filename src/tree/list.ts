/**
 * Reading recovery point trees: walk every entry under a path, and compare two trees.
 * Loading is injected (a tree id -> decoded entries), so this is pure traversal logic; an
 * unchanged subtree has the same id in both trees and is skipped without loading.
 */
import type { WalkBudget } from "./budget.ts";
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

/** Options of a walk: where its paths start, what it counts, when it stops. */
export interface WalkOptions {
  /** Path of the tree's directory ("" for the root). */
  prefix?: string;
  /** Counts each entry walked (tree/budget.ts); throws to stop the walk. */
  budget?: Pick<WalkBudget, "entry">;
  /** Checked before each listing is loaded and each entry yielded: aborting stops the walk with the signal's reason. */
  signal?: AbortSignal;
}

interface Frame {
  treeId: string;
  prefix: string;
  nodes: Node[];
  next: number;
}

/**
 * Yields every entry under a tree, depth first, directories before their contents. Iterative
 * (an explicit stack), so depth costs memory (one listing per level), never the call stack. A
 * tree that contains itself (only a hostile or damaged vault has one) is not entered again.
 */
export async function* walkTree(load: TreeLoader, treeId: string, options: WalkOptions = {}): AsyncGenerator<TreeEntry> {
  const { budget, signal } = options;
  const ancestors = new Set<string>([treeId]);
  signal?.throwIfAborted();
  const stack: Frame[] = [{ treeId, prefix: options.prefix ?? "", nodes: await load(treeId), next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next >= top.nodes.length) {
      stack.pop();
      ancestors.delete(top.treeId);
      continue;
    }
    const node = top.nodes[top.next++];
    signal?.throwIfAborted();
    budget?.entry();
    const path = top.prefix ? `${top.prefix}/${node.name}` : node.name;
    yield { path, node };
    if (node.type === "dir" && !ancestors.has(node.subtree)) {
      signal?.throwIfAborted();
      const nodes = await load(node.subtree);
      ancestors.add(node.subtree);
      stack.push({ treeId: node.subtree, prefix: path, nodes, next: 0 });
    }
  }
}

/** One difference between two trees. */
export interface DiffEntry {
  /** "+" added, "-" removed, "M" changed (content, type or metadata). */
  kind: "+" | "-" | "M";
  path: string;
}

/** Budgets of a diff: one per side. */
export interface DiffOptions {
  budgets?: [Pick<WalkBudget, "entry">, Pick<WalkBudget, "entry">];
  signal?: AbortSignal;
}

interface DiffFrame {
  pair: string;
  prefix: string;
  names: string[];
  left: Map<string, Node>;
  right: Map<string, Node>;
  next: number;
}

/**
 * Yields what differs between two trees, in path order within each directory (a type change
 * is "-" then "+"). Subtrees with the same id are skipped without loading; everything below an
 * added or removed directory is listed. Iterative, like walkTree.
 */
export async function* diffTrees(load: TreeLoader, a: string, b: string, options: DiffOptions = {}): AsyncGenerator<DiffEntry> {
  const { signal } = options;
  const [countA, countB] = options.budgets ?? [undefined, undefined];
  const ancestors = new Set<string>();
  const stack: DiffFrame[] = [];
  async function enter(l: string | null, r: string | null, prefix: string): Promise<void> {
    if (l === r) return;
    const pair = `${l}:${r}`;
    if (ancestors.has(pair)) return; // a cycle (hostile or damaged vault): compared once
    signal?.throwIfAborted();
    const left = new Map((l ? await load(l) : []).map((n) => [n.name, n]));
    const right = new Map((r ? await load(r) : []).map((n) => [n.name, n]));
    ancestors.add(pair);
    stack.push({ pair, prefix, names: [...new Set([...left.keys(), ...right.keys()])].sort(), left, right, next: 0 });
  }
  async function* all(kind: "+" | "-", treeId: string, prefix: string, count: Pick<WalkBudget, "entry"> | undefined): AsyncGenerator<DiffEntry> {
    for await (const e of walkTree(load, treeId, { prefix, budget: count, signal })) yield { kind, path: e.path };
  }
  await enter(a, b, "");
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next >= top.names.length) {
      stack.pop();
      ancestors.delete(top.pair);
      continue;
    }
    const name = top.names[top.next++];
    const l = top.left.get(name);
    const r = top.right.get(name);
    const path = top.prefix ? `${top.prefix}/${name}` : name;
    signal?.throwIfAborted();
    if (l) countA?.entry();
    if (r) countB?.entry();
    if (!l && r) {
      yield { kind: "+", path };
      if (r.type === "dir") yield* all("+", r.subtree, path, countB);
    } else if (l && !r) {
      yield { kind: "-", path };
      if (l.type === "dir") yield* all("-", l.subtree, path, countA);
    } else if (l && r) {
      if (l.type === "dir" && r.type === "dir") {
        if (l.mode !== r.mode || l.uid !== r.uid || l.gid !== r.gid) yield { kind: "M", path };
        await enter(l.subtree, r.subtree, path);
      } else if (l.type !== r.type) {
        yield { kind: "-", path };
        if (l.type === "dir") yield* all("-", l.subtree, path, countA);
        yield { kind: "+", path };
        if (r.type === "dir") yield* all("+", r.subtree, path, countB);
      } else if (!sameLeaf(l, r)) {
        yield { kind: "M", path };
      }
    }
  }
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
