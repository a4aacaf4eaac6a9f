/**
 * --include: which parts of a recovery point to restore. Paths are relative to the RP root
 * ("a/b.txt", "sub/dir"; a leading "./" or "/" is ignored); each names a file or a subtree,
 * and the directories above it are restored too (with their metadata).
 *
 * The includes form a trie of path segments; the walker asks it, per directory entry,
 * whether to skip the entry, restore all of it, or descend with a narrower filter.
 */
import type { Node } from "../tree/node.ts";

/** One segment of the include trie. `all`: everything at and below this point. */
export interface IncludeNode {
  all: boolean;
  /** The include paths that end here (for messages). */
  specs: string[];
  children: Map<string, IncludeNode>;
}

/** Parsed includes: null means the whole recovery point; `invalid` paths can never match. */
export interface Includes {
  root: IncludeNode | null;
  invalid: string[];
}

function emptyNode(): IncludeNode {
  return { all: false, specs: [], children: new Map() };
}

/** Splits an include path into segments; null when it climbs out ("..") or names nothing. */
export function includeSegments(path: string): string[] | null {
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.some((s) => s === ".." || s.includes("\0"))) return null;
  return segments;
}

/** Builds the include trie. No includes, or one naming the root, means everything. */
export function parseIncludes(paths: string[]): Includes {
  const invalid: string[] = [];
  if (paths.length === 0) return { root: null, invalid };
  const root = emptyNode();
  let everything = false;
  for (const p of paths) {
    const segments = includeSegments(p);
    if (segments === null) {
      invalid.push(p);
      continue;
    }
    if (segments.length === 0) everything = true;
    let n = root;
    for (const s of segments) {
      let next = n.children.get(s);
      if (!next) n.children.set(s, (next = emptyNode()));
      n = next;
    }
    n.all = true;
    n.specs.push(p);
  }
  return { root: everything ? null : root, invalid };
}

/** What the walker does with one directory entry under a filter. */
export type IncludeDecision = { skip: true } | { skip: false; filter: IncludeNode | null };

/** Decides for an entry named `name` in a directory whose filter is `filter` (null: everything). */
export function decide(filter: IncludeNode | null, name: string, isDir: boolean): IncludeDecision {
  if (filter === null) return { skip: false, filter: null };
  const child = filter.children.get(name);
  if (!child) return { skip: true };
  if (child.all) return { skip: false, filter: null };
  return isDir ? { skip: false, filter: child } : { skip: true };
}

function specsBelow(n: IncludeNode): string[] {
  return [...n.specs, ...[...n.children.values()].flatMap(specsBelow)];
}

/**
 * The include paths that match nothing in the tree. `loadDir` returns a directory's entries,
 * or null when its listing cannot be read (then nothing below it is reported: it may exist).
 */
export async function unmatchedIncludes(filter: IncludeNode, rootTree: string, loadDir: (tree: string) => Promise<Node[] | null>): Promise<string[]> {
  const out: string[] = [];
  async function visit(n: IncludeNode, tree: string): Promise<void> {
    const entries = await loadDir(tree);
    if (entries === null) return;
    for (const [name, child] of n.children) {
      const entry = entries.find((e) => e.name === name);
      if (!entry) out.push(...specsBelow(child));
      else if (child.all) continue;
      else if (entry.type === "dir") await visit(child, entry.subtree);
      else out.push(...specsBelow(child)); // a file or symlink has nothing below it
    }
  }
  await visit(filter, rootTree);
  return out;
}
