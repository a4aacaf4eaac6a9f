/**
 * .gitignore-style patterns: one matcher for `find` (tree/find.ts) and backup excludes
 * (tree/exclude.ts). A pattern is matched against a '/'-separated path relative to the root:
 *
 *   no "/" in the pattern (but a trailing one)  -> the entry's name, at any depth
 *   a "/" at the start or in the middle         -> the whole path from the root ("/" at the start dropped)
 *   a trailing "/"                              -> directories only
 *   "*" any run of characters but "/", "?" one, "[a-z]" / "[!a-z]" a class,
 *   "**" as a whole segment: any number of directories ("a/**" everything inside a)
 *
 * In a list (compileGitignore), a leading "!" re-includes what an earlier pattern excluded,
 * and the last pattern that matches decides ("\!" is a literal "!"). Callers that do not
 * descend into an excluded directory get git's rule for free: nothing under it comes back.
 *
 * Patterns are given in tree/name.ts's display form, so `\xff` names byte 0xff and `\\` a
 * backslash; a literal "*" is written "[*]". Matching works on the lossless string form, one
 * code unit at a time (no regex "u" flag), so names that are not UTF-8 match like any other.
 *
 * Written here rather than taken from npm `ignore` or `picomatch`: those match UTF-8 strings
 * with their own escapes, so a pattern could not name byte 0xff as `\xff` the way every other
 * efsbak path does (ls, find, --include, JSON), and `find` needs the same matcher for paths
 * inside a recovery point. The compiled form is a plain regex per pattern (this file is ~100 lines).
 */
import { UsageError } from "../errors.ts";
import { parseDisplayName } from "./name.ts";

/** A compiled pattern. */
export interface GitignorePattern {
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

/** Compiles one pattern (see the module comment); a leading "!" is literal here. */
export function compileGitignorePattern(text: string): GitignorePattern {
  let p = parseDisplayName(text);
  const dirOnly = p.endsWith("/");
  p = p.replace(/\/+$/, "");
  const anchored = p.includes("/"); // "./a" too: relative to the root
  p = p.replace(/^(?:\.?\/)+/, "");
  if (p === "") throw new UsageError(`Cannot read the pattern "${text}": it names nothing`, 'e.g. "*.conf", "etc/**", "node_modules/"');
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

/** A predicate over relative paths: true when the list excludes the entry. */
export type GitignoreMatcher = (path: string, isDir: boolean) => boolean;

/** Compiles a list of patterns, "!" re-including, the last match deciding. */
export function compileGitignore(patterns: string[]): GitignoreMatcher {
  const rules = patterns.map((text) => {
    const negate = text.startsWith("!");
    const body = negate ? text.slice(1) : text.startsWith("\\!") ? text.slice(1) : text;
    return { negate, pattern: compileGitignorePattern(body) };
  });
  if (rules.length === 0) return () => false;
  return (path, isDir) => {
    for (let i = rules.length - 1; i >= 0; i--) {
      if (rules[i]!.pattern.matches(path, isDir)) return !rules[i]!.negate;
    }
    return false;
  };
}
