/**
 * vault/open.ts on memory storage: what opening refuses (no vault, a vault that would come
 * back unencrypted, plaintext where encryption is promised or its traces are there), what
 * creating says, and the creation race (another process's config wins, and is used).
 */
import { describe, expect, test } from "bun:test";
import { EfsbakError } from "../../src/errors.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import type { Storage } from "../../src/storage/storage.ts";
import type { VaultConfig } from "../../src/vault/config.ts";
import { CONFIG_SEAL_KEY } from "../../src/vault/layout.ts";
import { type OpenOrCreateOptions, type OpenVaultHooks, openOrCreateVault } from "../../src/vault/open.ts";
import { initVault, readConfig } from "../../src/vault/vault.ts";

const NOW = new Date("2026-11-01T00:00:00Z");

function setup(options: Partial<OpenOrCreateOptions> = {}) {
  const said: string[] = [];
  const unlocked: string[] = [];
  const hooks: OpenVaultHooks = {
    async unlock(config: VaultConfig) {
      unlocked.push(config.id);
      throw new Error("no keys in this test");
    },
    async newKey() {
      throw new Error("no new keys in this test");
    },
    info: (m) => said.push(`info ${m}`),
    warn: (m) => said.push(`warn ${m}`),
  };
  const opts: OpenOrCreateOptions = { name: "main", passwordSource: null, cold: memoryStorage({ location: "memory:cold" }), now: () => NOW, settleMs: 0, ...options };
  return { said, unlocked, hooks, opts };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EfsbakError);
    expect((err as EfsbakError).exitCode).toBe(1);
    return (err as Error).message;
  }
  throw new Error("expected a refusal");
}

async function keysOf(storage: Storage): Promise<string[]> {
  const out: string[] = [];
  for await (const o of storage.list("")) out.push(o.key);
  return out;
}

describe("openOrCreateVault", () => {
  test("no vault and no create: refused, naming the location", async () => {
    const storage = memoryStorage();
    const { hooks, opts } = setup();
    expect(await refusal(openOrCreateVault(storage, opts, hooks))).toBe(`Cannot open vault "main": there is no vault at "${storage.location}"`);
  });

  test("create with a password at hand and nothing said about encryption: refused, nothing written", async () => {
    const storage = memoryStorage();
    const { hooks, opts } = setup({ create: true, passwordSource: "EFSBAK_PASSWORD" });
    expect(await refusal(openOrCreateVault(storage, opts, hooks))).toBe('Cannot create vault "main" unencrypted: EFSBAK_PASSWORD is set, so it is meant to be encrypted');
    expect(await keysOf(storage)).toEqual([]);
  });

  test("create: checkCreatable runs first, then the vault is made and said so", async () => {
    const storage = memoryStorage();
    const { hooks, opts, said } = setup({ create: true });
    const refused = await refusal(openOrCreateVault(storage, opts, { ...hooks, checkCreatable: () => { throw new EfsbakError("not here", { exitCode: 1 }); } }));
    expect(refused).toBe("not here");
    expect(await keysOf(storage)).toEqual([]);
    const opened = await openOrCreateVault(storage, opts, hooks);
    expect(opened.created).toBe(true);
    expect(opened.vault.config.id).toBe((await readConfig(storage))!.id);
    expect(said).toEqual([`warn Created vault "main" at ${storage.location}: there was none`]);
    // The second time it exists: opened, not created, nothing said.
    const again = await openOrCreateVault(storage, opts, hooks);
    expect(again.created).toBe(false);
    expect(said.length).toBe(1);
  });

  test("the creation race: another process's config lands during the settle, and that vault is used", async () => {
    const storage = memoryStorage();
    const { hooks, opts, said } = setup({ create: true, settleMs: 150 });
    let other: VaultConfig | null = null;
    const rival = (async () => {
      await new Promise((r) => setTimeout(r, 40));
      await storage.remove("config");
      other = await initVault(storage, { cold: opts.cold, now: NOW });
    })();
    const opened = await openOrCreateVault(storage, opts, hooks);
    await rival;
    expect(opened.created).toBe(false);
    expect(opened.vault.config.id).toBe(other!.id);
    expect(said).toEqual(['warn Vault "main" was created by another process at the same time: using that one']);
  });

  describe("a plaintext config that may be a downgrade", () => {
    test("refused where the plans say encrypted, where a password is set, beside key files or a sealed config", async () => {
      const storage = memoryStorage();
      await initVault(storage, { cold: memoryStorage(), now: NOW });
      const { hooks, opts, unlocked } = setup();
      expect(await refusal(openOrCreateVault(storage, { ...opts, encryption: "aes-256-gcm" }, hooks))).toContain("the plans say it is encrypted");
      expect(await refusal(openOrCreateVault(storage, { ...opts, passwordSource: "EFSBAK_PASSWORD_FILE" }, hooks))).toContain("says it is not encrypted, but EFSBAK_PASSWORD_FILE is set");
      // encryption = "none" in the plans: a password in the environment is for other vaults.
      expect((await openOrCreateVault(storage, { ...opts, passwordSource: "EFSBAK_PASSWORD", encryption: null }, hooks)).created).toBe(false);
      await storage.save(CONFIG_SEAL_KEY, new Uint8Array([1]));
      expect(await refusal(openOrCreateVault(storage, opts, hooks))).toContain(`it has a sealed config (${CONFIG_SEAL_KEY})`);
      await storage.save("keys/k1", new Uint8Array([1]));
      expect(await refusal(openOrCreateVault(storage, opts, hooks))).toContain("it has key files");
      expect(unlocked).toEqual([]);
    });
  });
});
