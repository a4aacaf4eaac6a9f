/**
 * applyLifecycle (prune/lifecycle.ts) on hand-made vaults: what a prune leaves behind when it
 * stops part-way, and what the next prune must then do so that the vault stays sound.
 */
import { describe, expect, test } from "bun:test";
import { check } from "../../src/check/check.ts";
import { applyLifecycle } from "../../src/prune/lifecycle.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import { saveRecoveryPoint } from "../../src/vault/recovery-point.ts";
import { faulty } from "../storage/faulty.ts";
import { caught } from "../support/errors.ts";
import { randomBytes } from "../support/random.ts";
import { listKeys } from "../support/storage.ts";
import { fakeRecoveryPoint, nodes, reopenVault, storeChunks, storeTree, testVault } from "../support/vault.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const DAY = 86_400_000;

describe("a prune that stops while removing superseded index files", () => {
  test("the next prune supersedes those files too, so they never name deleted packs again", async () => {
    const f = faulty(memoryStorage());
    const vault = await testVault({ storage: f });
    // A pack no one uses (so the first prune has work), and a recovery point whose data the
    // second prune deletes.
    await storeChunks(vault, [randomBytes(5000, 1)]);
    const [chunk] = await storeChunks(vault, [randomBytes(5000, 2)]);
    const tree = await storeTree(vault, [nodes.file("a.bin", [chunk], 5000)]);
    await saveRecoveryPoint(vault, fakeRecoveryPoint(tree, { id: "0000000000000000000000000000aaaa", delete_at: new Date(T0 + 10 * DAY).toISOString() }));
    const before = await listKeys(f, "index/");
    expect(before.length).toBe(3);

    // Prune 1 deletes the unused pack: it writes one index for what stays, superseding the
    // three, then fails to remove the first of them.
    f.on("remove", { key: /^index\//, nth: 1, error: "permanent" });
    const err = await caught(applyLifecycle(await reopenVault(vault), { vaultName: "v", now: () => new Date(T0 + DAY), minPackAgeMs: 0, alwaysGc: true, settleMs: 0 }));
    expect((err as Error).message).toContain("index/");
    f.clear();
    expect((await listKeys(f, "index/")).length).toBe(4); // the three, superseded, and the new one

    // Prune 2, after delete_at: the recovery point and its packs go. The index files prune 1
    // left must go (or stay superseded) with them.
    const r = await applyLifecycle(await reopenVault(vault), { vaultName: "v", now: () => new Date(T0 + 11 * DAY), minPackAgeMs: 0, alwaysGc: true, settleMs: 0 });
    expect(r.deleted).toEqual(["0000000000000000000000000000aaaa"]);
    expect(r.gcDone!.packsDeleted).toBeGreaterThan(0);
    const after = await reopenVault(vault);
    expect(after.index.packList()).toEqual([]);
    expect((await check(after, { readData: { share: 1 } })).problems).toEqual([]);
  });
});
