import { describe, expect, test } from "bun:test";
import { VaultDamageError } from "../../src/errors.ts";
import { LEGACY_EXTRA_ENTRIES, createWalkBudget, walkLimits } from "../../src/tree/budget.ts";
import { walkTree, type TreeLoader } from "../../src/tree/list.ts";
import type { Node } from "../../src/tree/node.ts";

const base = { mode: 0o755, uid: 0, gid: 0, mtime: "1" };
const dir = (name: string, subtree: string): Node => ({ ...base, type: "dir", name, subtree });
const file = (name: string): Node => ({ ...base, mode: 0o644, type: "file", name, size: 0, ctime: "1", ino: "1", content: [] });

describe("walk budgets", () => {
  test("bounds come from what the recovery point records; older ones get a derived bound", () => {
    expect(walkLimits({ id: "r", files: 3, dirs: 2, symlinks: 1, tree_bytes: 500 })).toEqual({ entries: 6, bytes: 500, recorded: true });
    const legacy = walkLimits({ id: "r", files: 3, dirs: 2 });
    expect(legacy).toMatchObject({ entries: 10 + LEGACY_EXTRA_ENTRIES, recorded: false });
    // A hostile recovery point's nonsense counts are no bound at all, not a crash.
    expect(walkLimits({ id: "r", files: -5, dirs: Number.NaN, symlinks: 1.5, tree_bytes: 1 }).recorded).toBe(false);
  });

  test("entry() and bytes() throw a VaultDamageError naming the recovery point once past the bound", () => {
    const b = createWalkBudget({ id: "rp1", files: 1, dirs: 1, symlinks: 0, tree_bytes: 100 });
    b.entry();
    b.entry();
    let err: unknown;
    try {
      b.entry();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VaultDamageError);
    expect((err as VaultDamageError).key).toBe("rps/rp1");
    expect((err as Error).message).toBe('Recovery point "rp1" is damaged: its trees hold more than the 2 entries it records');
    b.bytes(100);
    expect(() => b.bytes(1)).toThrow('Recovery point "rp1" is damaged: its trees hold more than the 100 bytes of listings it records');
  });

  test("a DAG naming one subtree twice per level is stopped by the budget, not walked 2^50 times", async () => {
    const trees: Record<string, Node[]> = { t0: [file("f")] };
    for (let i = 1; i <= 50; i++) trees[`t${i}`] = [dir("a", `t${i - 1}`), dir("b", `t${i - 1}`)];
    const load: TreeLoader = async (id) => trees[id];
    const budget = createWalkBudget({ id: "dag", files: 1, dirs: 51, symlinks: 0, tree_bytes: 1e9 });
    let seen = 0;
    const walk = (async () => {
      for await (const _ of walkTree(load, "t50", { budget })) seen++;
    })();
    await expect(walk).rejects.toThrow('Recovery point "dag" is damaged: its trees hold more than the 52 entries it records');
    expect(seen).toBe(52);
  });

  test("walkTree is iterative: a chain 100,000 deep is walked, and an abort stops it", async () => {
    const DEPTH = 100_000;
    const load: TreeLoader = async (id) => {
      const n = Number(id);
      return n === 0 ? [file("f")] : [dir("d", String(n - 1))];
    };
    let n = 0;
    for await (const _ of walkTree(load, String(DEPTH))) n++;
    expect(n).toBe(DEPTH + 1);
    const ac = new AbortController();
    let m = 0;
    const walk = (async () => {
      for await (const _ of walkTree(load, String(DEPTH), { signal: ac.signal })) if (++m === 10) ac.abort();
    })();
    await expect(walk).rejects.toThrow();
    expect(m).toBe(10);
  });
});
