/** find patterns (.gitignore matching, table-driven) and the iterative walk (a tree far deeper than the call stack allows). */
import { describe, expect, test } from "bun:test";
import { compileFindPattern } from "../../src/tree/find.ts";
import type { Node } from "../../src/tree/node.ts";
import { walkRp } from "../../src/tree/walk-rp.ts";

const cases: { pattern: string; path: string; dir?: boolean; want: boolean }[] = [
  { pattern: "*.conf", path: "etc/a.conf", want: true },
  { pattern: "*.conf", path: "a.conf", want: true },
  { pattern: "*.conf", path: "etc/a.confx", want: false },
  { pattern: "*.conf", path: "a.conf/x", want: false },
  { pattern: "etc/*.conf", path: "etc/a.conf", want: true },
  { pattern: "etc/*.conf", path: "x/etc/a.conf", want: false },
  { pattern: "etc/*.conf", path: "etc/sub/a.conf", want: false },
  { pattern: "/etc", path: "etc", dir: true, want: true },
  { pattern: "/etc", path: "x/etc", dir: true, want: false },
  { pattern: "node_modules/", path: "a/b/node_modules", dir: true, want: true },
  { pattern: "node_modules/", path: "a/node_modules", want: false },
  { pattern: "a/**", path: "a/b/c", want: true },
  { pattern: "a/**", path: "a", dir: true, want: false },
  { pattern: "**/b", path: "x/y/b", want: true },
  { pattern: "**/b", path: "b", want: true },
  { pattern: "a/**/b", path: "a/b", want: true },
  { pattern: "a/**/b", path: "a/x/y/b", want: true },
  { pattern: "a/**/b", path: "a/x/y/bb", want: false },
  { pattern: "f?o", path: "d/foo", want: true },
  { pattern: "f?o", path: "d/fo", want: false },
  { pattern: "[!f]oo", path: "goo", want: true },
  { pattern: "[!f]oo", path: "foo", want: false },
  { pattern: "[a-c]x", path: "bx", want: true },
  { pattern: "[*]", path: "*", want: true },
  { pattern: "[*]", path: "a", want: false },
  { pattern: "a.b", path: "axb", want: false },
  { pattern: "(x)+", path: "(x)+", want: true },
  { pattern: "\\xff*", path: "d/\udcffname", want: true },
  { pattern: "\\xff*", path: "d/\u00ffname", want: false },
  { pattern: "tab\\x09*", path: "tab\tx", want: true },
  { pattern: "a\\\\b", path: "a\\b", want: true },
];

describe("find patterns", () => {
  for (const c of cases) {
    test(`${c.pattern} ${c.want ? "matches" : "does not match"} ${JSON.stringify(c.path)}${c.dir ? " (dir)" : ""}`, () => {
      expect(compileFindPattern(c.pattern).matches(c.path, !!c.dir)).toBe(c.want);
    });
  }
  test("empty and unclosed patterns are usage errors", () => {
    expect(() => compileFindPattern("/")).toThrow("it names nothing");
    expect(() => compileFindPattern("[ab")).toThrow('"[" without a closing "]"');
  });
});

describe("walkRp", () => {
  test("walks 10,000 levels deep without recursion, in order, and never re-enters a tree that contains itself", async () => {
    const depth = 10_000;
    const trees = new Map<string, Node[]>();
    for (let i = 0; i < depth; i++) {
      const entries: Node[] = [{ name: "f", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: "0", size: 1, ctime: "0", ino: String(i), content: [] }];
      if (i < depth - 1) entries.unshift({ name: "d", type: "dir", mode: 0o755, uid: 0, gid: 0, mtime: "0", subtree: `t${i + 1}` });
      else entries.push({ name: "loop", type: "dir", mode: 0o755, uid: 0, gid: 0, mtime: "0", subtree: `t${depth - 3}` });
      trees.set(`t${i}`, entries);
    }
    let n = 0;
    let deepest = "";
    let maxDepth = 0;
    for await (const e of walkRp(async (id) => trees.get(id)!, "t0")) {
      n++;
      if (e.depth > maxDepth) {
        maxDepth = e.depth;
        deepest = e.path;
      }
    }
    // Every level: "d" and "f"; the last has "f" and "loop" (listed, not entered).
    expect(n).toBe(2 * depth);
    expect(maxDepth).toBe(depth - 1);
    expect(deepest.split("/").length).toBe(depth);
    const order: string[] = [];
    for await (const e of walkRp(async (id) => trees.get(id)!, `t${depth - 3}`)) order.push(e.path);
    expect(order).toEqual(["d", "d/d", "d/d/f", "d/d/loop", "d/f", "f"]);
  });
});
