/**
 * `find`: paths matching a glob in recovery point trees, matched as .gitignore matches:
 *
 *   no "/" in the pattern (but a trailing one)  -> the entry's name, at any depth
 *   a "/" at the start or in the middle         -> the whole path from the root ("/" at the start dropped)
 *   a trailing "/"                              -> directories only
 *   "*" any run of characters but "/", "?" one, "[a-z]" / "[!a-z]" a class,
 *   "**" as a whole segment: any number of directories ("a/**" everything inside a)
 *
 * Patterns are given in tree/name.ts's display form, so `\xff` names byte 0xff and `\\` a
 * backslash; a literal "*" is written "[*]". Matching works on the lossless string form, one
 * code unit at a time (no regex "u" flag), so names that are not UTF-8 match like any other.
 * Walking is iterative (tree/walk-rp.ts) and streams: each match is handed out as found.
 */
import { UsageError } from "../errors.ts";
import type { TreeLoader } from "./list.ts";
import { parseDisplayName } from "./name.ts";
import type { Node } from "./node.ts";
import { walkRp } from "./walk-rp.ts";

/** A compiled find pattern. */
export interface FindPattern {
  /** True when the entry at `path` (lossless string form) matches. */
  matches(path: string, isDir: boolean): boolean;
}

const META = /[.+^${}()|\\\]]/g;

function classToRegex(body: string): string {
  const neg = body.startsWith("!") || body.startsWith("^");
  const inner = (neg ? body.slice(1) : body).replace(/[\\\]^]/g, (c) => `\\${c}`);
  return `[${neg ? "^/" : ""}${inner}]`;
}

function segmentToRegex(seg: string, text: string): string {
  let out = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === "*") {
      while (seg[i + 1] === "*") i++;
      out += "[^/]*";
    } else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = seg.indexOf("]", i + 2);
      if (end < 0) throw new UsageError(`Cannot read the pattern "${text}": "[" without a closing "]"`, 'write a literal "[" as "[[]"');
      out += classToRegex(seg.slice(i + 1, end));
      i = end;
    } else out += c.replace(META, (m) => `\\${m}`);
  }
  return out;
}

/** Compiles a find pattern (see the module comment). */
export function compileFindPattern(text: string): FindPattern {
  let p = parseDisplayName(text);
  const dirOnly = p.endsWith("/");
  p = p.replace(/\/+$/, "");
  if (p === "") throw new UsageError(`Cannot read the pattern "${text}": it names nothing`, 'e.g. "*.conf", "etc/**", "node_modules/"');
  const anchored = p.includes("/");
  p = p.replace(/^\/+/, "");
  const segs = p.split("/").filter((s) => s !== "");
  let src = "";
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    const last = i === segs.length - 1;
    if (seg === "**") src += last ? (i === 0 ? ".*" : ".+") : "(?:[^/]+/)*";
    else src += segmentToRegex(seg, text) + (last ? "" : "/");
  }
  const re = new RegExp(`^${src}$`, "s");
  return {
    matches(path, isDir) {
      if (dirOnly && !isDir) return false;
      return re.test(anchored ? path : path.slice(path.lastIndexOf("/") + 1));
    },
  };
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
