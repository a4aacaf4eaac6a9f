import { describe, expect, test } from "bun:test";
import { diffTrees, findPath, walkTree, type TreeLoader } from "../../src/tree/list.ts";
import type { Node } from "../../src/tree/node.ts";

const base = { mode: 0o644, uid: 0, gid: 0, mtime: "1" };
const file = (name: string, content: string[], size = 1): Node => ({ ...base, type: "file", name, size, ctime: "1", ino: "1", content });
const dir = (name: string, subtree: string): Node => ({ ...base, mode: 0o755, type: "dir", name, subtree });

/** A diff collected into lists, as `diff --json` prints it. */
async function diffLists(load: TreeLoader, a: string, b: string): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
  const out = { added: [] as string[], removed: [] as string[], changed: [] as string[] };
  for await (const d of diffTrees(load, a, b)) (d.kind === "+" ? out.added : d.kind === "-" ? out.removed : out.changed).push(d.path);
  return out;
}

function loader(trees: Record<string, Node[]>): TreeLoader {
  return async (id) => {
    const t = trees[id];
    if (!t) throw new Error(`no tree ${id}`);
    return t;
  };
}

describe("tree listing and diff", () => {
  const trees: Record<string, Node[]> = {
    root1: [file("a", ["c1"]), dir("sub", "s1")],
    s1: [file("b", ["c2"]), file("gone", ["c3"])],
    root2: [file("a", ["c9"]), dir("sub", "s2"), file("new", ["c4"])],
    s2: [file("b", ["c2"])],
    loop: [dir("again", "loop"), file("x", ["c5"])],
  };
  const load = loader(trees);

  test("walkTree lists every path, directories first", async () => {
    const paths: string[] = [];
    for await (const e of walkTree(load, "root1")) paths.push(e.path);
    expect(paths).toEqual(["a", "sub", "sub/b", "sub/gone"]);
  });

  test("findPath finds files and directories, and null for what is not there", async () => {
    expect((await findPath(load, "root1", "sub/b")).node?.name).toBe("b");
    expect((await findPath(load, "root1", "sub")).treeId).toBe("s1");
    expect((await findPath(load, "root1", "nope/b")).node).toBeNull();
  });

  test("diffTrees reports added, removed and changed paths", async () => {
    expect(await diffLists(load, "root1", "root2")).toEqual({ added: ["new"], removed: ["sub/gone"], changed: ["a"] });
  });

  test("a tree that contains itself ends the walk instead of looping", async () => {
    const paths: string[] = [];
    for await (const e of walkTree(load, "loop")) paths.push(e.path);
    expect(paths).toEqual(["again", "x"]);
    const d = await diffLists(load, "loop", "root1");
    expect(d.added.sort()).toEqual(["a", "sub", "sub/b", "sub/gone"]);
  });
});
