/**
 * `find`: paths matching a glob in recovery point trees, matched as .gitignore matches
 * (tree/gitignore.ts, the matcher backup excludes use too).
 * Walking is iterative (tree/walk-rp.ts) and streams: each match is handed out as found.
 */
import { compileGitignorePattern, type GitignorePattern } from "./gitignore.ts";
import type { TreeLoader } from "./list.ts";
import type { Node } from "./node.ts";
import { walkRp } from "./walk-rp.ts";

/** A compiled find pattern. */
export type FindPattern = GitignorePattern;

/** Compiles a find pattern (.gitignore rules, tree/gitignore.ts). */
export function compileFindPattern(text: string): FindPattern {
  return compileGitignorePattern(text);
}

/** One match: the recovery point and the entry. */
export interface FindMatch {
  rp: string;
  path: string;
  node: Node;
}

/** Yields the matches in each tree, tree by tree, in walk order. */
export async function* findInTrees(roots: { rp: string; tree: string }[], pattern: FindPattern, options: { load: TreeLoader; signal?: AbortSignal }): AsyncGenerator<FindMatch> {
  for (const root of roots) {
    for await (const e of walkRp(options.load, root.tree)) {
      options.signal?.throwIfAborted();
      if (pattern.matches(e.path, e.node.type === "dir")) yield { rp: root.rp, path: e.path, node: e.node };
    }
  }
}
