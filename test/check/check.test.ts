import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes as cryptoRandomBytes } from "node:crypto";
import { backup } from "../../src/backup/backup.ts";
import { type CheckProgress, check } from "../../src/check/check.ts";
import { selectShare } from "../../src/check/read-data.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import type { VaultKeys } from "../../src/vault/crypto.ts";
import { toHex } from "../../src/vault/id.ts";
import { type IndexedPack, decodeIndexFile } from "../../src/vault/index-file.ts";
import { packKey } from "../../src/vault/layout.ts";
import { decodeObject } from "../../src/vault/object.ts";
import { BLOB_DATA, BLOB_TREE } from "../../src/vault/pack.ts";
import type { RecoveryPoint } from "../../src/vault/recovery-point.ts";
import { type Vault, initVault, openVault } from "../../src/vault/vault.ts";
import { randomBytes, rng } from "../support/random.ts";

const SMALL_CHUNKS = { min_size: 1024, avg_size: 4096, max_size: 16384, seed: 0 };
const NOW = new Date("2026-03-01T05:00:00Z");
const scratch = mkdtempSync(join(tmpdir(), "efsbak-check-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let dirs = 0;
/** A source tree with files of many chunks, a nested directory, an empty one and a symlink. */
function makeSource(seed: number): string {
  const dir = join(scratch, `src-${dirs++}`);
  mkdirSync(join(dir, "sub", "deeper"), { recursive: true });
  mkdirSync(join(dir, "empty"));
  writeFileSync(join(dir, "a.bin"), randomBytes(120_000, seed));
  writeFileSync(join(dir, "sub", "b.bin"), randomBytes(60_000, seed + 1));
  writeFileSync(join(dir, "sub", "deeper", "c.txt"), `hello ${seed}\n`);
  symlinkSync("a.bin", join(dir, "link"));
  return dir;
}

interface Fixture {
  storage: Storage;
  cold: Storage;
  vault: Vault;
  keys: VaultKeys | null;
  rps: RecoveryPoint[];
  /** Index key -> the packs it names. */
  indexes: Map<string, IndexedPack[]>;
}

async function fixture(options: { backups?: number; keys?: VaultKeys | null; incremental?: boolean } = {}): Promise<Fixture> {
  const storage = memoryStorage();
  const cold = memoryStorage({ location: "memory:cold" });
  const keys = options.keys ?? null;
  await initVault(storage, { cold, now: NOW, chunker: SMALL_CHUNKS, keys, encryption: keys ? { cipher: "aes-256-gcm", kdf: "argon2id" } : null });
  let vault = await openVault(storage, { cold, keys });
  const rps: RecoveryPoint[] = [];
  const source = makeSource(1);
  for (let i = 0; i < (options.backups ?? 1); i++) {
    let dir = source;
    if (options.incremental) writeFileSync(join(source, `new-${i}.bin`), randomBytes(30_000, 100 + i));
    else if (i > 0) dir = makeSource(10 * i + 1);
    const parent = options.incremental ? rps.at(-1) ?? null : null;
    const { rp } = await backup(vault, dir, { resource: "fs-test", now: new Date(NOW.getTime() + i * 3600_000), jobId: `job-${i}`, parent, host: "test" });
    rps.push(rp);
  }
  vault = await openVault(storage, { cold, keys });
  return { storage, cold, vault, keys, rps, indexes: await readIndexes(storage, keys) };
}

async function readIndexes(storage: Storage, keys: VaultKeys | null): Promise<Map<string, IndexedPack[]>> {
  const out = new Map<string, IndexedPack[]>();
  for await (const o of storage.list("index/")) {
    out.set(o.key, decodeIndexFile(o.key, decodeObject(keys, o.key, await storage.load(o.key))).packs);
  }
  return out;
}

function allPacks(f: Fixture): IndexedPack[] {
  return [...f.indexes.values()].flat();
}

function rpIds(f: Fixture, ...which: number[]): string[] {
  return which.map((i) => f.rps[i].id).sort();
}

/** The index file written by backup number i (each backup here writes exactly one). */
function indexOfBackup(f: Fixture, i: number): string {
  const treePack = allPacks(f).find((p) => p.packType === BLOB_TREE && p.entries.some((e) => toHex(e.id) === f.rps[i].tree))!;
  return [...f.indexes].find(([, packs]) => packs.some((p) => p.packId === treePack.packId))![0];
}

describe("check", () => {
  test("a clean vault has no problems, with or without read-data", async () => {
    const f = await fixture({ backups: 2, incremental: true });
    const phases = new Set<string>();
    const structure = await check(f.vault, { onProgress: (p: CheckProgress) => phases.add(p.phase) });
    expect(structure.problems).toEqual([]);
    expect(structure.unindexedPacks).toEqual([]);
    expect(structure.recoveryPoints).toBe(2);
    expect(structure.packs).toBe(allPacks(f).length);
    expect(structure.blobs).toBe(f.vault.index.size);
    expect(structure.trees).toBeGreaterThanOrEqual(4); // root, sub, sub/deeper, empty (+ a new root)
    expect(structure.packsRead).toBe(0);
    expect([...phases]).toEqual(["config", "index", "packs", "recovery-points", "trees"]);

    const full = await check(f.vault, { readData: { share: 1 } });
    expect(full.problems).toEqual([]);
    expect(full.packsRead).toBe(allPacks(f).length);
    let packBytes = 0;
    for (const p of allPacks(f)) packBytes += p.size;
    expect(full.bytesRead).toBeGreaterThan(packBytes);
  });

  test("a deleted data pack is named with every recovery point that needs it", async () => {
    const f = await fixture({ backups: 2, incremental: true });
    // A pack of the first backup: the second (incremental) one reuses its chunks.
    const first = f.indexes.get(indexOfBackup(f, 0))!;
    const data = first.find((p) => p.packType === BLOB_DATA)!;
    const key = packKey(data.packId);
    await f.storage.remove(key);
    const report = await check(f.vault);
    expect(report.problems).toEqual([{ object: key, message: "pack is missing from the warm tier", recoveryPoints: rpIds(f, 0, 1) }]);
    expect(report.unindexedPacks).toEqual([]);
  });

  test("a deleted tree pack is named, and the walk stops there", async () => {
    const f = await fixture({ backups: 2 });
    const key = packKey(f.indexes.get(indexOfBackup(f, 1))!.find((p) => p.packType === BLOB_TREE)!.packId);
    await f.storage.remove(key);
    const report = await check(f.vault, { readData: { share: 1 } });
    expect(report.problems).toEqual([{ object: key, message: "pack is missing from the warm tier", recoveryPoints: rpIds(f, 1) }]);
  });

  test("a flipped byte passes the structure check; read-data names the pack, the blob and the recovery point", async () => {
    const f = await fixture({ backups: 2 });
    const pack = f.indexes.get(indexOfBackup(f, 0))!.find((p) => p.packType === BLOB_DATA)!;
    const victim = pack.entries[Math.floor(pack.entries.length / 2)];
    const key = packKey(pack.packId);
    const bytesOfPack = await f.storage.load(key);
    bytesOfPack[victim.offset + 7] ^= 0x10;
    await f.storage.save(key, bytesOfPack);

    expect((await check(f.vault)).problems).toEqual([]);
    const report = await check(f.vault, { readData: { share: 1 } });
    expect(report.problems).toEqual([{ object: key, message: `blob ${toHex(victim.id)}: checksum mismatch`, recoveryPoints: rpIds(f, 0) }]);
  });

  test("a flipped byte in a tree blob is found by the structure check", async () => {
    const f = await fixture({ backups: 1 });
    const pack = allPacks(f).find((p) => p.packType === BLOB_TREE)!;
    const root = pack.entries.find((e) => toHex(e.id) === f.rps[0].tree)!;
    const key = packKey(pack.packId);
    const b = await f.storage.load(key);
    b[root.offset + 2] ^= 1;
    await f.storage.save(key, b);
    const report = await check(f.vault);
    expect(report.problems).toEqual([{ object: key, message: `blob ${f.rps[0].tree}: checksum mismatch`, recoveryPoints: rpIds(f, 0) }]);
    expect(report.trees).toBe(1);
    // read-data finds it first; the walk then attributes the same problem, not a second one.
    const full = await check(f.vault, { readData: { share: 1 } });
    expect(full.problems).toEqual(report.problems);
  });

  test("a truncated pack is a size mismatch naming the blobs past its end", async () => {
    const f = await fixture({ backups: 2, incremental: true });
    const pack = f.indexes.get(indexOfBackup(f, 0))!.find((p) => p.packType === BLOB_DATA)!;
    const key = packKey(pack.packId);
    const cut = pack.entries[pack.entries.length - 2].offset + 10;
    await f.storage.save(key, (await f.storage.load(key)).subarray(0, cut));
    const report = await check(f.vault);
    expect(report.problems).toEqual([{
      object: key,
      message: `pack has ${cut} bytes, the index says ${pack.size}; 2 of its blobs lie past its end`,
      recoveryPoints: rpIds(f, 0, 1),
    }]);
    const full = await check(f.vault, { readData: { share: 1 } });
    const objects = new Set(full.problems.map((p) => p.object));
    expect([...objects]).toEqual([key]);
    const messages = full.problems.map((p) => p.message);
    expect(messages).toContain("not a pack (bad trailer magic)");
    for (const e of pack.entries.slice(-2)) expect(messages.some((m) => m.startsWith(`blob ${toHex(e.id)}: bytes `))).toBe(true);
  });

  test("a deleted index file leaves its blobs unindexed and its packs in unindexedPacks", async () => {
    const f = await fixture({ backups: 2, incremental: true });
    const indexKey = indexOfBackup(f, 1);
    await f.storage.remove(indexKey);
    const vault = await openVault(f.storage, { cold: f.cold });
    const report = await check(vault);
    expect(report.problems).toEqual([{ object: `blob ${f.rps[1].tree}`, message: "tree blob is not in any index", recoveryPoints: rpIds(f, 1) }]);
    expect(report.unindexedPacks).toEqual(f.indexes.get(indexKey)!.map((p) => packKey(p.packId)).sort());
  });

  test("a deleted index file of data only reports each unindexed chunk", async () => {
    const f = await fixture({ backups: 1 });
    // Rewrite the vault's index as two files, data packs and tree packs, then drop the data one.
    const [[onlyKey, packs]] = [...f.indexes];
    await f.storage.remove(onlyKey);
    const vault0 = await openVault(f.storage, { cold: f.cold });
    await vault0.saveIndex({ packs: packs.filter((p) => p.packType === BLOB_TREE), supersedes: [] });
    const report = await check(await openVault(f.storage, { cold: f.cold }));
    const dataIds = packs.filter((p) => p.packType === BLOB_DATA).flatMap((p) => p.entries.map((e) => `blob ${toHex(e.id)}`));
    expect(report.problems.map((p) => p.object).sort()).toEqual(dataIds.sort());
    for (const p of report.problems) {
      expect(p.message).toBe("data blob is not in any index");
      expect(p.recoveryPoints).toEqual(rpIds(f, 0));
    }
    expect(report.unindexedPacks).toEqual(packs.filter((p) => p.packType === BLOB_DATA).map((p) => packKey(p.packId)).sort());
  });

  test("a damaged index file is a problem, not a failure", async () => {
    const f = await fixture({ backups: 2 });
    const indexKey = indexOfBackup(f, 1);
    const b = await f.storage.load(indexKey);
    await f.storage.save(indexKey, b.subarray(0, b.length - 5));
    // As the CLI opens it: a damaged index file must not stop check from running.
    const skipped: string[] = [];
    const vault = await openVault(f.storage, { cold: f.cold, onIndexDamage: (err) => skipped.push(err.key) });
    expect(skipped).toEqual([indexKey]);
    const report = await check(vault);
    expect(report.problems[0].object).toBe(indexKey);
    expect(report.problems[0].recoveryPoints).toEqual([]);
    expect(report.problems.slice(1)).toEqual([{ object: `blob ${f.rps[1].tree}`, message: "tree blob is not in any index", recoveryPoints: rpIds(f, 1) }]);
    expect(report.unindexedPacks.length).toBe(f.indexes.get(indexKey)!.length);
  });

  test("a corrupt recovery point is named", async () => {
    const f = await fixture({ backups: 2 });
    const key = `rps/${f.rps[0].id}`;
    const b = await f.storage.load(key);
    await f.storage.save(key, b.subarray(0, 20));
    const report = await check(f.vault);
    expect(report.recoveryPoints).toBe(2);
    expect(report.problems.length).toBe(1);
    expect(report.problems[0].object).toBe(key);
    expect(report.problems[0].recoveryPoints).toEqual([f.rps[0].id]);
  });

  test("a recovery point stored under another id is named", async () => {
    const f = await fixture({ backups: 2 });
    await f.storage.save(`rps/${f.rps[0].id}`, await f.storage.load(`rps/${f.rps[1].id}`));
    const report = await check(f.vault);
    expect(report.problems).toEqual([{ object: `rps/${f.rps[0].id}`, message: `recovery point says its id is "${f.rps[1].id}"`, recoveryPoints: [f.rps[0].id] }]);
  });

  test("missing or damaged config is a problem", async () => {
    const f = await fixture({ backups: 1 });
    await f.storage.save("config", new TextEncoder().encode("{"));
    expect((await check(f.vault)).problems).toEqual([{ object: "config", message: "config is not valid JSON", recoveryPoints: [] }]);
    await f.storage.remove("config");
    expect((await check(f.vault)).problems).toEqual([{ object: "config", message: "config is missing", recoveryPoints: [] }]);
  });

  test("a pack in the wrong tier is named with its tier", async () => {
    const f = await fixture({ backups: 1 });
    const key = packKey(allPacks(f).find((p) => p.packType === BLOB_DATA)!.packId);
    await f.cold.save(key, await f.storage.load(key));
    await f.storage.remove(key);
    const report = await check(f.vault);
    expect(report.problems).toEqual([{ object: key, message: "pack is missing from the warm tier; it is in the cold tier, the index says warm", recoveryPoints: rpIds(f, 0) }]);
    expect(report.unindexedPacks).toEqual([]);
  });

  test("a pack no index names is listed, not a problem", async () => {
    const f = await fixture({ backups: 1 });
    const stray = packKey("ab".repeat(16));
    await f.storage.save(stray, new Uint8Array(100));
    const report = await check(f.vault, { readData: { share: 1 } });
    expect(report.problems).toEqual([]);
    expect(report.unindexedPacks).toEqual([stray]);
  });

  test("share 0.5 reads half of the packs, chosen by options.random", async () => {
    const f = await fixture({ backups: 5 });
    const total = allPacks(f).length;
    expect(total).toBeGreaterThanOrEqual(10);
    const a = await check(f.vault, { readData: { share: 0.5 }, random: rng(7) });
    expect(a.packsRead).toBe(Math.round(total / 2));
    expect(a.problems).toEqual([]);
    const tiny = await check(f.vault, { readData: { share: 0.0001 }, random: rng(7) });
    expect(tiny.packsRead).toBe(1);
    const none = await check(f.vault, { readData: { share: 0 } });
    expect(none.packsRead).toBe(0);
  });

  test("an encrypted vault checks clean and its damage is found", async () => {
    const keys = { encryptKey: new Uint8Array(cryptoRandomBytes(32)), idKey: new Uint8Array(cryptoRandomBytes(32)) };
    const f = await fixture({ backups: 2, keys });
    expect((await check(f.vault, { readData: { share: 1 } })).problems).toEqual([]);
    const pack = allPacks(f).find((p) => p.packType === BLOB_DATA)!;
    const victim = pack.entries[0];
    const key = packKey(pack.packId);
    const b = await f.storage.load(key);
    b[victim.offset + 20] ^= 0x80;
    await f.storage.save(key, b);
    const report = await check(f.vault, { readData: { share: 1 } });
    expect(report.problems.map((p) => [p.object, p.message])).toEqual([[key, `blob ${toHex(victim.id)}: checksum mismatch`]]);
    expect(report.problems[0].recoveryPoints.length).toBe(1);
  });

  test("a blob whose bytes do not hash to its id is found by read-data", async () => {
    const f = await fixture({ backups: 1 });
    // Swap two data blobs' index entries: each CRC matches its bytes, but not its id.
    const [[indexKey, packs]] = [...f.indexes];
    const data = packs.find((p) => p.packType === BLOB_DATA)!;
    const [x, y] = [data.entries[0], data.entries[1]];
    [x.id, y.id] = [y.id, x.id];
    await f.storage.remove(indexKey);
    const vault = await openVault(f.storage, { cold: f.cold });
    await vault.saveIndex({ packs, supersedes: [] });
    const report = await check(await openVault(f.storage, { cold: f.cold }), { readData: { share: 1 } });
    const key = packKey(data.packId);
    const blobProblems = report.problems.filter((p) => p.message.endsWith("content does not match its id"));
    expect(blobProblems.map((p) => p.message).sort()).toEqual([`blob ${toHex(x.id)}: content does not match its id`, `blob ${toHex(y.id)}: content does not match its id`].sort());
    for (const p of blobProblems) {
      expect(p.object).toBe(key);
      expect(p.recoveryPoints).toEqual(rpIds(f, 0));
    }
    // The pack header still has the true ids: both index entries disagree with it.
    expect(report.problems.filter((p) => p.message.includes("does not match the pack header")).length).toBe(2);
  });

  test("an aborted check rejects", async () => {
    const f = await fixture({ backups: 1 });
    const ac = new AbortController();
    ac.abort();
    await expect(check(f.vault, { signal: ac.signal })).rejects.toThrow();
  });
});

describe("selectShare", () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  const cases: { name: string; share: number; want: number }[] = [
    { name: "nothing at 0", share: 0, want: 0 },
    { name: "at least one", share: 0.01, want: 1 },
    { name: "half", share: 0.5, want: 5 },
    { name: "all at 1", share: 1, want: 10 },
    { name: "all above 1", share: 2, want: 10 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const got = selectShare(items, c.share, rng(3));
      expect(got.length).toBe(c.want);
      expect(new Set(got).size).toBe(c.want);
    });
  }
  test("a random source returning 1 - ε stays in range", () => {
    expect(selectShare(items, 0.5, () => 0.9999999999).every((x) => x !== undefined)).toBe(true);
  });
});

describe("check of a local vault with symbolic links below its root (attack 4)", () => {
  test("a pack replaced by a link and a link in rps/ are reported by key; the links are never followed", async () => {
    const { localStorage } = await import("../../src/storage/local.ts");
    const { renameSync, readFileSync } = await import("node:fs");
    const root = join(scratch, "linked-vault");
    const storage = localStorage(root);
    const cold = localStorage(join(root, "cold"));
    await initVault(storage, { cold, now: NOW, chunker: SMALL_CHUNKS });
    const vault = await openVault(storage, { cold });
    await backup(vault, makeSource(7), { resource: "fs-test", now: NOW, jobId: "job-links", parent: null, host: "test" });
    const indexes = await readIndexes(storage, null);
    const data = [...indexes.values()].flat().find((p) => p.packType === BLOB_DATA)!;
    const secret = join(scratch, "root-only-secret");
    writeFileSync(secret, "secret");
    const packPath = join(root, packKey(data.packId));
    renameSync(packPath, `${packPath}.moved`);
    symlinkSync(secret, packPath);
    symlinkSync(secret, join(root, "rps", "0000000000000000000000000000beef"));
    const reopened = await openVault(storage, { cold, onIndexDamage: () => {} });
    const report = await check(reopened, { readData: { share: 1 } });
    const objects = report.problems.map((p) => p.object);
    expect(objects).toContain(packKey(data.packId));
    expect(objects).toContain("rps/0000000000000000000000000000beef");
    const linkProblem = report.problems.find((p) => p.object === packKey(data.packId) && p.message.includes("symbolic link"));
    expect(linkProblem).toBeDefined();
    expect(readFileSync(secret, "utf8")).toBe("secret");
    // and a plain open (what backup and restore do) refuses outright, naming the link
    const err = await reopened.loadBlobAt({ ...reopened.index.get(data.entries[0].id)! }).then(() => null, (e) => e);
    expect(String(err?.message)).toContain(`"${packKey(data.packId)}" is a symbolic link`);
  });
});
