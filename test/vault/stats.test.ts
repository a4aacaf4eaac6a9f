/** Space accounting on hand-made trees: exact figures with a subtree shared inside one recovery point and across two, and a chunk the index lacks. */
import { describe, expect, test } from "bun:test";
import { decodeTree } from "../../src/tree/tree.ts";
import { fromHex } from "../../src/vault/id.ts";
import { vaultStats } from "../../src/vault/stats.ts";
import { bytes } from "../support/tree.ts";
import { blobLocation, fakeRecoveryPoint, nodes, storeChunks, storeTree, testVault } from "../support/vault.ts";

describe("vaultStats", () => {
  test("logical, unique, stored and freed bytes are exact", async () => {
    const vault = await testVault();
    const [a, b, c] = await storeChunks(vault, [bytes(5000, 1), bytes(7000, 2), bytes(3000, 3)]);
    const stored = (id: string) => blobLocation(vault, id).storedLength;
    // "shared" is used twice inside RP 1 (two names, one subtree) and once in RP 2.
    const shared = await storeTree(vault, [nodes.file("a", [a!], 5000), nodes.file("a-again", [a!], 5000)]);
    const root1 = await storeTree(vault, [nodes.dir("x", shared), nodes.dir("y", shared), nodes.file("b", [b!], 7000)]);
    const root2 = await storeTree(vault, [nodes.dir("x", shared), nodes.file("c", [c!], 3000), nodes.file("gone", ["ab".repeat(32)], 10)]);
    const rps = [fakeRecoveryPoint(root1, { id: "r1" }), fakeRecoveryPoint(root2, { id: "r2", created_at: "2026-01-02T00:00:00.000Z" })];
    const load = async (hex: string) => decodeTree(hex, await vault.loadBlob(fromHex(hex, 32)!));
    const s = await vaultStats(vault.index, rps, { load });
    const [r1, r2] = s.rps;
    expect(r1).toMatchObject({ recovery_point: "r1", files: 5, logical_bytes: 4 * 5000 + 7000, unique_bytes: 12000, stored_bytes: stored(a!) + stored(b!), missing_blobs: 0 });
    expect(r1!.dedup_ratio).toBeCloseTo(27000 / 12000, 9);
    expect(r1!.metadata_bytes).toBe(stored(root1) + stored(shared));
    expect(r1!.freed_bytes).toBe(stored(b!) + stored(root1));
    expect(r2).toMatchObject({ files: 4, logical_bytes: 2 * 5000 + 3000 + 10, unique_bytes: 8000, missing_blobs: 1 });
    expect(r2!.freed_bytes).toBe(stored(c!) + stored(root2));
    expect(s.vault).toMatchObject({ recovery_points: 2, files: 9, logical_bytes: 27000 + 13010, unique_bytes: 15000, stored_bytes: stored(a!) + stored(b!) + stored(c!), missing_blobs: 1, unreferenced_bytes: 0, blobs: 6 });
    expect(s.vault.metadata_bytes).toBe(stored(root1) + stored(root2) + stored(shared));
    expect(s.vault.compression_ratio).toBeCloseTo(15000 / s.vault.stored_bytes, 9);

    // Without RP 2, its chunk and root are garbage; shared data is freed by RP 1 alone.
    const only1 = await vaultStats(vault.index, [rps[0]!], { load });
    expect(only1.vault.unreferenced_bytes).toBe(stored(c!) + stored(root2));
    expect(only1.rps[0]!.freed_bytes).toBe(stored(a!) + stored(b!) + stored(root1) + stored(shared));
  });

  test("an empty vault has ratios of 1", async () => {
    const s = await vaultStats((await testVault()).index, [], { load: async () => [] });
    expect(s.vault).toMatchObject({ logical_bytes: 0, unique_bytes: 0, dedup_ratio: 1, compression_ratio: 1, recovery_points: 0 });
  });
});
