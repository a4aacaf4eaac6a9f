/** The backup's source filter (tree/exclude.ts) with injected stat and tag reads. */
import { describe, expect, test } from "bun:test";
import { CACHEDIR_SIGNATURE, type FilterStat, createSourceFilter } from "../../src/tree/exclude.ts";

function st(dev: number, ino: number, dir = true): FilterStat {
  return { dev: BigInt(dev), ino: BigInt(ino), isDirectory: () => dir };
}
const root = st(1, 1);

describe("createSourceFilter", () => {
  test("one_file_system leaves out entries on another device, only when asked", () => {
    const on = createSourceFilter({ oneFileSystem: true });
    expect(on.exclusion("mnt", st(2, 5), root)).toEqual({ reason: "mount", note: 'Left out "mnt": another file system (one_file_system)' });
    expect(on.exclusion("same", st(1, 6), root)).toBeNull();
    expect(createSourceFilter({}).exclusion("mnt", st(2, 5), root)).toBeNull();
  });

  test("the vault's directories are found by device and inode, restore directories by name", () => {
    const f = createSourceFilter({ leaveOut: ["/v", "/missing"] }, { stat: (p) => (p === "/v" ? st(1, 42) : null) });
    expect(f.exclusion("deep/vault", st(1, 42), root)?.reason).toBe("vault");
    expect(f.exclusion("deep/vault", st(1, 43), root)).toBeNull();
    expect(f.exclusion("efsbak-restore_2026-01-01T00-00-00-000Z", st(1, 7), root)?.reason).toBe("restore");
    expect(f.exclusion("a/efsbak-failed-restore_x", st(1, 8), root)?.reason).toBe("restore");
    expect(f.exclusion("efsbak-restore_file", st(1, 9, false), root)).toBeNull();
  });

  test("exclude_if_present keeps only the tag; CACHEDIR.TAG needs its signature", () => {
    const heads: Record<string, string> = { "good/CACHEDIR.TAG": CACHEDIR_SIGNATURE, "bad/CACHEDIR.TAG": "Signature: nope" };
    const f = createSourceFilter({ excludeIfPresent: ["CACHEDIR.TAG", ".nobackup"] }, { head: (p, n) => (heads[String(p)] ?? "").slice(0, n) });
    expect(f.names("good", ["CACHEDIR.TAG", "a", "b"], (n) => `good/${n}`)).toEqual(["CACHEDIR.TAG"]);
    expect(f.names("bad", ["CACHEDIR.TAG", "a"], (n) => `bad/${n}`)).toEqual(["CACHEDIR.TAG", "a"]);
    expect(f.names("x", [".nobackup", "a"], (n) => `x/${n}`)).toEqual([".nobackup"]);
    expect(f.names("y", ["a"], (n) => `y/${n}`)).toEqual(["a"]);
  });
});
