/** .gitignore matching (tree/gitignore.ts), shared by find and backup excludes: table-driven. */
import { describe, expect, test } from "bun:test";
import { compileGitignore, compileGitignorePattern } from "../../src/tree/gitignore.ts";
import { UsageError } from "../../src/errors.ts";

const cases: { name: string; patterns: string[]; out: [string, boolean][]; in: [string, boolean][] }[] = [
  { name: "a name without / matches at any depth", patterns: ["node_modules"], out: [["node_modules", true], ["a/node_modules", true], ["a/b/node_modules", false]], in: [["a/node_modules_x", true], ["xnode_modules", false]] },
  { name: "a leading / anchors at the root", patterns: ["/build"], out: [["build", true]], in: [["a/build", true]] },
  { name: "a / in the middle anchors too", patterns: ["a/b"], out: [["a/b", true]], in: [["x/a/b", true]] },
  { name: "a trailing / matches directories only", patterns: ["cache/"], out: [["cache", true], ["x/cache", true]], in: [["cache", false], ["x/cache", false]] },
  { name: "* stays within a segment", patterns: ["*.tmp"], out: [["x.tmp", false], ["a/b/x.tmp", false]], in: [["x.tmpl", false]] },
  { name: "** in the middle spans directories, zero included", patterns: ["a/**/z"], out: [["a/z", false], ["a/b/c/z", false]], in: [["b/a/z", false]] },
  { name: "a/** is everything inside a, not a", patterns: ["a/**"], out: [["a/x", false], ["a/x/y", true]], in: [["a", true]] },
  { name: "**/ prefix at any depth", patterns: ["**/logs/*.log"], out: [["logs/x.log", false], ["q/logs/x.log", false]], in: [["logs/q/x.log", false]] },
  { name: "! re-includes, the last match wins", patterns: ["*.log", "!keep.log"], out: [["a.log", false], ["d/b.log", false]], in: [["keep.log", false], ["d/keep.log", false]] },
  { name: "a later pattern excludes again", patterns: ["*.log", "!keep*.log", "keep-not.log"], out: [["keep-not.log", false]], in: [["keep-1.log", false]] },
  { name: "\\! is a literal !", patterns: ["\\!bang"], out: [["!bang", false]], in: [["bang", false]] },
  { name: "./ anchors like /", patterns: ["./top"], out: [["top", false]], in: [["x/top", false]] },
];

describe("compileGitignore", () => {
  for (const c of cases) {
    test(c.name, () => {
      const m = compileGitignore(c.patterns);
      for (const [p, dir] of c.out) expect([p, m(p, dir)]).toEqual([p, true]);
      for (const [p, dir] of c.in) expect([p, m(p, dir)]).toEqual([p, false]);
    });
  }

  test("bad patterns are usage errors", () => {
    expect(() => compileGitignore(["a[b"])).toThrow(UsageError);
    expect(() => compileGitignore(["/"])).toThrow(UsageError);
    expect(() => compileGitignorePattern("")).toThrow(/names nothing/);
  });
});
