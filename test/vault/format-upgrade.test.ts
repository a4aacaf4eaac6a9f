/**
 * Vaults of format 1 (the release at commit 569a579; fixture in fixtures/v1-encrypted) open,
 * restore and check under this release, and are upgraded in place to format 2: config.sealed
 * then config, with every old object still readable and new ones sealed the new way.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { check } from "../../src/check/check.ts";
import { VaultDamageError } from "../../src/errors.ts";
import { restore } from "../../src/restore/restore.ts";
import { localStorage } from "../../src/storage/local.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { upgradeConfig, verifyConfig } from "../../src/vault/config-seal.ts";
import { unlockVault } from "../../src/vault/keys.ts";
import { objectVersion } from "../../src/vault/object.ts";
import { listRecoveryPoints } from "../../src/vault/recovery-point.ts";
import { type Vault, openVault, readConfig } from "../../src/vault/vault.ts";

const FIXTURE = join(import.meta.dir, "fixtures/v1-encrypted");
const PASSWORD = "old-release-pw";
const scratch = mkdtempSync(join(tmpdir(), "efsbak-v1-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let copies = 0;

function copyFixture(): { dir: string; storage: Storage; cold: Storage } {
  const dir = join(scratch, `vault-${copies++}`);
  cpSync(join(FIXTURE, "vault"), dir, { recursive: true });
  return { dir, storage: localStorage(dir), cold: localStorage(join(dir, "cold")) };
}

async function open(storage: Storage, cold: Storage): Promise<Vault> {
  const unlocked = await unlockVault(storage, PASSWORD);
  return openVault(storage, { cold, keys: unlocked.keys });
}

/** Restores every recovery point; returns relative path -> content, per recovery point. */
async function restoreAll(vault: Vault): Promise<Record<string, string>[]> {
  const out: Record<string, string>[] = [];
  for (const rp of (await listRecoveryPoints(vault)).sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const into = mkdtempSync(join(scratch, "restore-"));
    const r = await restore(vault, rp, into, { now: new Date("2026-12-01T00:00:00Z") });
    expect(r.partial).toBe(false);
    out.push(contents(r.restoreDir));
  }
  return out;
}

function contents(root: string, rel = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, contents(root, r));
    else out[r] = readFileSync(join(root, r), "utf8");
  }
  return out;
}

const SOURCE = contents(join(FIXTURE, "src"));

describe("a vault of format 1 (release 569a579)", () => {
  test("opens, restores exactly and checks clean, as it is", async () => {
    const { storage, cold } = copyFixture();
    const vault = await open(storage, cold);
    expect(vault.config.version).toBe(1);
    expect(vault.keys?.legacy).toBe(true);
    expect(await restoreAll(vault)).toEqual([SOURCE]);
    const report = await check(vault, { readData: { share: 1 } });
    expect(report.problems).toEqual([]);
    expect(report.recoveryPoints).toBe(1);
  });

  test("is upgraded in place: config.sealed then config (version 2, upgraded_from 1); old objects still read; new ones are format 2", async () => {
    const { dir, storage, cold } = copyFixture();
    let vault = await open(storage, cold);
    const next = await upgradeConfig(storage, vault.keys!, vault.config);
    expect(next).toMatchObject({ version: 2, upgraded_from: 1, id: vault.config.id, chunker: vault.config.chunker });
    expect(JSON.parse(readFileSync(join(dir, "config"), "utf8"))).toEqual(next);
    expect(objectVersion(readFileSync(join(dir, "config.sealed")))).toBe(2);
    expect(await upgradeConfig(storage, vault.keys!, next)).toBe(next); // nothing more to do
    vault = await open(storage, cold);
    expect(vault.config.version).toBe(2);
    expect(vault.keys?.legacy).toBe(true); // upgraded: its format-1 objects remain readable
    // a new backup writes format-2 objects beside the old ones; both recovery points restore
    const src2 = join(scratch, "src2");
    cpSync(join(FIXTURE, "src"), src2, { recursive: true });
    writeFileSync(join(src2, "new.txt"), "written after the upgrade\n");
    const before = new Set(readdirSync(join(dir, "index")));
    await backup(vault, src2, { resource: "r2", now: new Date("2026-12-01T01:00:00Z"), jobId: "job-after-upgrade", host: "test" });
    const added = readdirSync(join(dir, "index")).filter((n) => !before.has(n));
    expect(added.length).toBeGreaterThan(0);
    for (const n of added) expect(objectVersion(readFileSync(join(dir, "index", n)))).toBe(2);
    for (const n of before) expect(objectVersion(readFileSync(join(dir, "index", n)))).toBe(1);
    vault = await open(storage, cold);
    const restored = await restoreAll(vault);
    expect(restored.length).toBe(2);
    expect(restored).toContainEqual(SOURCE);
    expect(restored).toContainEqual({ ...SOURCE, "new.txt": "written after the upgrade\n" });
    expect((await check(vault, { readData: { share: 1 } })).problems).toEqual([]);
  });

  test("an upgrade interrupted after config.sealed is accepted as it is and finished by the next one", async () => {
    const { dir, storage, cold } = copyFixture();
    const vault = await open(storage, cold);
    const original = readFileSync(join(dir, "config"));
    await upgradeConfig(storage, vault.keys!, vault.config);
    writeFileSync(join(dir, "config"), original); // as if the crash came before config was written
    const reopened = await open(storage, cold);
    expect(reopened.config.version).toBe(1);
    expect((await upgradeConfig(storage, reopened.keys!, reopened.config)).version).toBe(2);
  });

  test("its config changed before an upgrade with a sealed copy present, or taken back after one, is damage of config", async () => {
    const { dir, storage, cold } = copyFixture();
    const vault = await open(storage, cold);
    const original = JSON.parse(readFileSync(join(dir, "config"), "utf8"));
    await upgradeConfig(storage, vault.keys!, vault.config);
    writeJson(join(dir, "config"), { ...original, chunker: { min_size: 32, avg_size: 64, max_size: 128, seed: 0 } });
    const tampered = (await readConfig(storage))!;
    const err = await verifyConfig(storage, vault.keys!, tampered).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(VaultDamageError);
    expect((err as VaultDamageError).key).toBe("config");
    expect(err.message).toContain("the vault was upgraded to format 2 (config.sealed exists)");
  });
});

function writeJson(path: string, doc: unknown): void {
  writeFileSync(path, JSON.stringify(doc, null, 2) + "\n");
}
