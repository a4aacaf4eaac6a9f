/**
 * Walking a recovery point's trees without recursion: an explicit stack of open directories,
 * so depth costs heap, never call stack, and memory is the entries of the directories on the
 * current path (one decoded tree per level).
 *
 *   push(root tree) -> loop: top frame's next entry -> yield {path, node}
 *                           a directory (and `enter` says yes) -> push its tree
 *                      frame exhausted -> pop (and `leave`)
 *
 * Order: depth first, each directory before its contents, entries in tree order (by name).
 * A tree that contains itself (only a hostile or damaged vault has one) is not entered again.
 * Paths are '/'-joined names in tree/name.ts's lossless string form.
 */
import type { DirNode, Node } from "./node.ts";
import type { TreeLoader } from "./list.ts";

/** One entry with its path relative to where the walk started. */
export interface WalkEntry {
  path: string;
  node: Node;
  /** Number of directories between the start and this entry (0: in the start tree). */
  depth: number;
}

/** Options of a walk. */
export interface WalkOptions {
  /** Path prefix of the start tree's entries ("" for none). */
  prefix?: string;
  /** Called for each directory before its tree is loaded: false skips what is inside it. */
  enter?: (entry: WalkEntry & { node: DirNode }) => boolean;
  /** Called when a directory's contents are done (after its last entry). */
  leave?: (entry: WalkEntry & { node: DirNode }) => void | Promise<void>;
}

interface Frame {
  treeId: string;
  entries: Node[];
  next: number;
  prefix: string;
  depth: number;
  dir: (WalkEntry & { node: DirNode }) | null;
}

/** Yields every entry below a tree (see the module comment). */
export async function* walkRp(load: TreeLoader, treeId: string, options: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const open = new Set<string>([treeId]);
  const stack: Frame[] = [{ treeId, entries: await load(treeId), next: 0, prefix: options.prefix ?? "", depth: 0, dir: null }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next >= top.entries.length) {
      stack.pop();
      open.delete(top.treeId);
      if (top.dir) await options.leave?.(top.dir);
      continue;
    }
    const node = top.entries[top.next++]!;
    const path = top.prefix ? `${top.prefix}/${node.name}` : node.name;
    const entry: WalkEntry = { path, node, depth: top.depth };
    yield entry;
    if (node.type !== "dir") continue;
    const dir = entry as WalkEntry & { node: DirNode };
    if (open.has(node.subtree) || (options.enter && !options.enter(dir))) continue;
    open.add(node.subtree);
    stack.push({ treeId: node.subtree, entries: await load(node.subtree), next: 0, prefix: path, depth: top.depth + 1, dir });
  }
}
