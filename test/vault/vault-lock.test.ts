/** The vault lock stored in the vault: strictest of all its objects, tightened never loosened, sealed when encrypted. */
import { describe, expect, test } from "bun:test";
import { EfsbakError } from "../../src/errors.ts";
import { formatDuration } from "../../src/plan/duration.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import { TEST_KDF, initEncryptedVault } from "../../src/vault/keys.ts";
import { objectKey } from "../../src/vault/layout.ts";
import { adoptPlanLock, readVaultLock, strongerLock, tightenVaultLock } from "../../src/vault/vault-lock.ts";
import { openVault } from "../../src/vault/vault.ts";
import { TEST_CHUNKER, testVault } from "../support/vault.ts";

const D = 86_400_000;
const NOW = new Date("2026-05-01T00:00:00Z");
const opts = { now: NOW, name: "main", format: formatDuration };

describe("strongerLock", () => {
  const cases = [
    { name: "longer min, shorter max", a: { minRetentionMs: 7 * D, maxRetentionMs: 100 * D }, b: { minRetentionMs: 30 * D, maxRetentionMs: 365 * D }, want: { minRetentionMs: 30 * D, maxRetentionMs: 100 * D } },
    { name: "a bound only one has", a: { minRetentionMs: 7 * D }, b: { maxRetentionMs: 365 * D }, want: { minRetentionMs: 7 * D, maxRetentionMs: 365 * D } },
    { name: "crossing bounds keep data", a: { minRetentionMs: 400 * D }, b: { maxRetentionMs: 365 * D }, want: { minRetentionMs: 400 * D, maxRetentionMs: 400 * D } },
    { name: "none", a: undefined, b: undefined, want: undefined },
  ];
  for (const c of cases) test(c.name, () => expect(strongerLock(c.a, c.b)).toEqual(c.want));
});

describe("tightenVaultLock", () => {
  test("tightens, refuses to loosen (exit 1), and the lock in force is the strictest object", async () => {
    const vault = await testVault();
    expect(await readVaultLock(vault)).toBeNull();
    expect((await tightenVaultLock(vault, { minRetentionMs: 7 * D, maxRetentionMs: 3650 * D }, opts)).changed).toBe(true);
    expect((await tightenVaultLock(vault, { minRetentionMs: 7 * D }, opts)).changed).toBe(false);
    const err = await tightenVaultLock(vault, { minRetentionMs: 1 * D }, opts).catch((e) => e);
    expect(err).toBeInstanceOf(EfsbakError);
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe('Cannot loosen the lock of vault "main": min_retention is 7d, and 1d would let younger recovery points be deleted');
    await tightenVaultLock(vault, { minRetentionMs: 30 * D }, opts);
    // An object an old or hostile writer added cannot loosen it.
    await vault.saveJson(objectKey("vault-lock", "00".repeat(16)), { min_retention_ms: 1, max_retention_ms: null, set_at: NOW.toISOString() });
    expect(await readVaultLock(vault)).toMatchObject({ minRetentionMs: 30 * D, maxRetentionMs: 3650 * D });
  });

  test("a plans lock adds what is stricter and ignores what is looser", async () => {
    const vault = await testVault();
    await tightenVaultLock(vault, { minRetentionMs: 30 * D }, opts);
    const r = await adoptPlanLock(vault, { minRetentionMs: 7 * D, maxRetentionMs: 365 * D }, { now: NOW });
    expect(r).toMatchObject({ changed: true, looser: true, lock: { minRetentionMs: 30 * D, maxRetentionMs: 365 * D } });
    expect(await readVaultLock(vault)).toMatchObject({ minRetentionMs: 30 * D, maxRetentionMs: 365 * D });
  });

  test("is sealed in an encrypted vault", async () => {
    const storage = memoryStorage();
    const cold = memoryStorage({ location: "memory:cold" });
    const { unlocked, config } = await initEncryptedVault(storage, "pw", { cold, now: NOW, chunker: TEST_CHUNKER, kdf: TEST_KDF });
    const vault = await openVault(storage, { cold, config, keys: unlocked.keys });
    await tightenVaultLock(vault, { minRetentionMs: 7 * D }, opts);
    const keys: string[] = [];
    for await (const o of storage.list("vault-lock/")) keys.push(o.key);
    const raw = new TextDecoder("latin1").decode(await storage.load(keys[0]));
    expect(raw).not.toContain("min_retention");
    expect(await readVaultLock(vault)).toMatchObject({ minRetentionMs: 7 * D });
  });
});
