/**
 * copyRecoveryPoint in process: content re-chunked for a destination with other chunker
 * parameters comes out byte for byte, trees re-encoded with the new ids; a source tree that
 * names itself (a hostile vault) is refused instead of walked forever.
 */
import { describe, expect, test } from "bun:test";
import { copyRecoveryPoint } from "../../src/copy/copy.ts";
import { VaultDamageError } from "../../src/errors.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import type { FileNode, Node } from "../../src/tree/node.ts";
import { decodeTree } from "../../src/tree/tree.ts";
import { fromHex } from "../../src/vault/id.ts";
import { listRecoveryPoints } from "../../src/vault/recovery-point.ts";
import { DEFAULT_CHUNKER_CONFIG, type Vault, initVault, openVault } from "../../src/vault/vault.ts";
import { bytes } from "../support/tree.ts";
import { fakeRecoveryPoint, nodes, storeChunks, storeRawTree, storeTree, testVault } from "../support/vault.ts";

async function vaultWith(chunker = DEFAULT_CHUNKER_CONFIG): Promise<Vault> {
  const storage = memoryStorage();
  const cold = memoryStorage({ location: "memory:cold" });
  await initVault(storage, { cold, now: new Date("2026-01-01T00:00:00Z"), chunker });
  return openVault(storage, { cold });
}

async function fileBytes(vault: Vault, node: FileNode): Promise<Uint8Array> {
  const parts = await Promise.all(node.content.map((c) => vault.loadBlob(fromHex(c, 32)!)));
  return Buffer.concat(parts);
}

describe("copyRecoveryPoint", () => {
  test("another chunker: content re-chunked byte for byte, trees re-encoded", async () => {
    const src = await testVault(); // 1 KiB / 4 KiB / 16 KiB chunks
    const data = bytes(200_000, 5);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < data.length; at += 4096) pieces.push(data.subarray(at, at + 4096));
    const content = await storeChunks(src, pieces);
    const sub = await storeTree(src, [nodes.file("f", content, data.length)]);
    const root = await storeTree(src, [nodes.dir("d", sub), nodes.symlink("l", "d/f"), nodes.file("empty", [], 0)]);
    const rp = fakeRecoveryPoint(root, { files: 2, dirs: 2, symlinks: 1 });
    const dst = await vaultWith({ ...DEFAULT_CHUNKER_CONFIG, min_size: 64 * 1024, avg_size: 128 * 1024, max_size: 256 * 1024 });
    const r = await copyRecoveryPoint(src, dst, rp, { jobId: "copy-job" });
    expect(r.rehashed).toBe(true);
    expect(r.rp.id).toBe(rp.id);
    expect(r.rp.tree).not.toBe(root);
    const [copied] = await listRecoveryPoints(dst);
    expect(copied.id).toBe(rp.id);
    expect(copied.job_id).toBe("copy-job");
    const top = decodeTree("root", await dst.loadBlob(fromHex(copied.tree, 32)!));
    expect(top.map((n) => n.name).sort()).toEqual(["d", "empty", "l"]);
    const d = top.find((n) => n.name === "d") as Node & { subtree: string };
    const f = decodeTree("d", await dst.loadBlob(fromHex(d.subtree, 32)!))[0] as FileNode;
    expect(f.content.length).toBeLessThan(content.length); // larger chunks now
    expect(Buffer.from(await fileBytes(dst, f)).equals(Buffer.from(data))).toBe(true);
    // Copied again into a fresh vault with the source's own chunker: by id, trees unchanged.
    const same = await testVault();
    const again = await copyRecoveryPoint(src, same, rp, { jobId: "j2" });
    expect(again.rehashed).toBe(false);
    expect(again.rp.tree).toBe(root);
  });

  test("a tree that names itself is refused, in both ways of copying", async () => {
    const src = await testVault();
    const id = "ab".repeat(32);
    await storeRawTree(src, [nodes.dir("loop", id)], id);
    const rp = fakeRecoveryPoint(id);
    for (const dst of [await testVault(), await vaultWith()]) {
      const err = await copyRecoveryPoint(src, dst, rp, { jobId: "j" }).catch((e) => e);
      expect(err).toBeInstanceOf(VaultDamageError);
      expect(String(err.message)).toContain("contains itself");
      expect(await listRecoveryPoints(dst)).toEqual([]);
    }
  });
});
