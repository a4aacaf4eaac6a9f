/**
 * Key files: an encrypted vault opens with each of its passwords and no other, key files
 * reveal nothing but parameters, and the last key is never removed. Cheap Argon2id (TEST_KDF)
 * everywhere but one test of the defaults.
 */
import { describe, expect, test } from "bun:test";
import { EfsbakError, VaultDamageError } from "../../src/errors.ts";
import { acquireLease, liveLeases } from "../../src/vault/_lease.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { toHex } from "../../src/vault/id.ts";
import {
  DEFAULT_KDF, TEST_KDF, addKey, changePassword, decodeKeyFile, deriveVaultKeys, encodeKeyFile, initEncryptedVault, listKeys, removeKey, unlockVault,
  type KeyFile, type UnlockedKeys,
} from "../../src/vault/keys.ts";
import { leasePrefix } from "../../src/vault/layout.ts";
import { initVault, openVault } from "../../src/vault/vault.ts";
import { TEST_CHUNKER } from "../support/vault.ts";

const NOW = new Date("2026-03-01T05:00:00Z");

async function encryptedVault(password = "correct horse", storage: Storage = memoryStorage()): Promise<{ storage: Storage; unlocked: UnlockedKeys }> {
  const { unlocked } = await initEncryptedVault(storage, password, { cold: memoryStorage({ location: "memory:cold" }), now: NOW, chunker: TEST_CHUNKER, kdf: TEST_KDF });
  return { storage, unlocked };
}

async function keyFiles(storage: Storage): Promise<{ key: string; text: string }[]> {
  const out: { key: string; text: string }[] = [];
  for await (const o of storage.list("keys/")) out.push({ key: o.key, text: new TextDecoder().decode(await storage.load(o.key)) });
  return out;
}

async function failure(p: Promise<unknown>): Promise<EfsbakError> {
  const err = await p.then(() => null, (e) => e);
  expect(err).toBeInstanceOf(EfsbakError);
  return err as EfsbakError;
}

const sameKeys = (a: UnlockedKeys, b: UnlockedKeys) => toHex(a.keys.encryptKey) === toHex(b.keys.encryptKey) && toHex(a.keys.idKey) === toHex(b.keys.idKey);

describe("key files", () => {
  test("init writes one key file and a config that says encrypted, keyed ids", async () => {
    const { storage, unlocked } = await encryptedVault();
    const files = await keyFiles(storage);
    expect(files.length).toBe(1);
    expect(files[0].key).toBe(`keys/${unlocked.keyId}`);
    const config = JSON.parse(new TextDecoder().decode(await storage.load("config")));
    expect(config.encryption).toEqual({ cipher: "aes-256-gcm", kdf: "argon2id" });
    expect(config.hash).toBe("blake3-keyed");
    expect(config.id).toBe(unlocked.vaultId);
    const f = JSON.parse(files[0].text) as KeyFile;
    expect(Object.keys(f).sort()).toEqual(["cipher", "created_at", "format", "id", "kdf", "label", "version", "wrapped"]);
    expect(f.kdf).toMatchObject({ algorithm: "argon2id", memory_kib: TEST_KDF.memoryKib, iterations: TEST_KDF.iterations, parallelism: TEST_KDF.parallelism });
    expect(Buffer.from(f.wrapped, "base64").length).toBe(1 + 16 + 32 + 28);
    // The master key and the derived keys appear nowhere in the vault, in any encoding.
    for (const secret of [unlocked.master, unlocked.keys.encryptKey, unlocked.keys.idKey]) {
      for (const text of [files[0].text, JSON.stringify(config)]) {
        expect(text.includes(toHex(secret))).toBe(false);
        expect(text.includes(Buffer.from(secret).toString("base64"))).toBe(false);
      }
    }
  });

  test("the vault keys are derived from the master key: two different keys, the same every time", () => {
    const master = new Uint8Array(32).fill(7);
    const a = deriveVaultKeys(master);
    const b = deriveVaultKeys(master);
    expect(toHex(a.encryptKey)).toBe(toHex(b.encryptKey));
    expect(toHex(a.encryptKey)).not.toBe(toHex(a.idKey));
    expect(a.encryptKey.length).toBe(32);
    expect(a.idKey.length).toBe(32);
  });

  test("the right password unlocks the same keys; a wrong one is \"wrong password\", exit 1", async () => {
    const { storage, unlocked } = await encryptedVault("pw-one");
    const again = await unlockVault(storage, "pw-one");
    expect(sameKeys(again, unlocked)).toBe(true);
    expect(again.keyId).toBe(unlocked.keyId);
    const err = await failure(unlockVault(storage, "pw-two", { name: "main" }));
    expect(err.message).toBe('Cannot unlock vault "main": wrong password');
    expect(err.exitCode).toBe(1);
    expect(`${err.message} ${err.hint}`).not.toContain("pw-");
  });

  test("an encrypted vault opens only with its keys", async () => {
    const { storage, unlocked } = await encryptedVault();
    const cold = memoryStorage();
    const err = await failure(openVault(storage, { cold }));
    expect(err.message).toContain("encrypted");
    const vault = await openVault(storage, { cold, keys: unlocked.keys });
    expect(vault.keys?.encryptKey).toBe(unlocked.keys.encryptKey);
    expect(vault.keys?.legacy).toBe(false); // created in format 2: no format-1 objects accepted
  });

  test("a second password unlocks the same master key; labels are readable only when unlocked", async () => {
    const { storage, unlocked } = await encryptedVault("first");
    const added = await addKey(storage, unlocked, { password: "second", now: NOW, kdf: TEST_KDF, label: "ci runner" });
    expect(added.current).toBe(false);
    expect(added.label).toBe("ci runner");
    const viaSecond = await unlockVault(storage, "second");
    expect(sameKeys(viaSecond, unlocked)).toBe(true);
    expect(viaSecond.keyId).toBe(added.id);
    const listed = await listKeys(storage, viaSecond);
    expect(listed.map((k) => [k.id, k.current, k.label])).toEqual(expect.arrayContaining([[unlocked.keyId, false, null], [added.id, true, "ci runner"]]));
    expect(listed.length).toBe(2);
    expect((await listKeys(storage)).every((k) => k.label === null && !k.current)).toBe(true);
    // The label is sealed: its text is not in the key file.
    expect((await keyFiles(storage)).some((f) => f.text.includes("ci runner"))).toBe(false);
  });

  test("the last key cannot be removed, nor the one in use; another one can, by prefix", async () => {
    const { storage, unlocked } = await encryptedVault("first");
    let err = await failure(removeKey(storage, unlocked, { id: unlocked.keyId }));
    expect(err.message).toContain("last key");
    const added = await addKey(storage, unlocked, { password: "second", now: NOW, kdf: TEST_KDF });
    err = await failure(removeKey(storage, unlocked, { id: unlocked.keyId }));
    expect(err.message).toContain("current password");
    err = await failure(removeKey(storage, unlocked, { id: "zzzz" }));
    expect(err.message).toContain('Cannot find key "zzzz"');
    const removed = await removeKey(storage, unlocked, { id: added.id.slice(0, 6) });
    expect(removed.id).toBe(added.id);
    expect((await listKeys(storage)).map((k) => k.id)).toEqual([unlocked.keyId]);
    expect(await failure(unlockVault(storage, "second"))).toBeInstanceOf(EfsbakError);
  });

  test("changing the password: the old one fails, the new one opens the same keys, the label stays", async () => {
    const { storage } = await encryptedVault("old pw");
    const unlocked = await unlockVault(storage, "old pw");
    const before = unlocked.keyId;
    await addKey(storage, unlocked, { password: "other", now: NOW, kdf: TEST_KDF });
    const { added, removed } = await changePassword(storage, unlocked, { password: "new pw", now: NOW, kdf: TEST_KDF, label: "laptop" });
    expect(removed).toBe(before);
    expect(unlocked.keyId).toBe(added.id);
    expect((await failure(unlockVault(storage, "old pw"))).message).toContain("wrong password");
    const viaNew = await unlockVault(storage, "new pw");
    expect(sameKeys(viaNew, unlocked)).toBe(true);
    expect((await listKeys(storage)).length).toBe(2);
    const again = await changePassword(storage, viaNew, { password: "newer pw", now: NOW, kdf: TEST_KDF });
    expect(again.added.label).toBe("laptop");
    expect(sameKeys(await unlockVault(storage, "newer pw"), unlocked)).toBe(true);
  });

  test("a key file of another vault with the same password does not unlock this one", async () => {
    const a = await encryptedVault("shared");
    const b = await encryptedVault("shared");
    for (const f of await keyFiles(b.storage)) await a.storage.save(f.key, new TextEncoder().encode(f.text));
    // Vault a still opens with its own key file...
    expect(sameKeys(await unlockVault(a.storage, "shared"), a.unlocked)).toBe(true);
    // ...and without it, b's key file is refused though the password fits.
    await a.storage.remove(`keys/${a.unlocked.keyId}`);
    const err = await failure(unlockVault(a.storage, "shared"));
    expect(err.message).toContain("wrong password");
    expect(err.hint).toContain("another vault");
  });

  test("a modified key file does not unlock; damaged ones are named, others still work", async () => {
    const { storage, unlocked } = await encryptedVault("pw");
    const key = `keys/${unlocked.keyId}`;
    const f = JSON.parse(new TextDecoder().decode(await storage.load(key))) as KeyFile;
    await addKey(storage, unlocked, { password: "pw", now: NOW, kdf: TEST_KDF });
    const wrapped = Buffer.from(f.wrapped, "base64");
    wrapped[20] ^= 1;
    await storage.save(key, encodeKeyFile({ ...f, wrapped: wrapped.toString("base64") }));
    expect((await unlockVault(storage, "pw")).keyId).not.toBe(unlocked.keyId);
    await storage.save("keys/0123456789abcdef0123456789abcdef", new TextEncoder().encode("not json"));
    const err = await failure(unlockVault(storage, "nope"));
    expect(err.message).toContain("wrong password");
    expect(err.hint).toContain('"keys/0123456789abcdef0123456789abcdef"');
  });

  const hostile: [string, (f: KeyFile) => unknown][] = [
    ["another format", (f) => ({ ...f, format: "x" })],
    ["an unknown version", (f) => ({ ...f, version: 2 })],
    ["an id that is not its name", (f) => ({ ...f, id: "00".repeat(16) })],
    ["another kdf", (f) => ({ ...f, kdf: { ...f.kdf, algorithm: "scrypt" } })],
    ["memory beyond 1 GiB", (f) => ({ ...f, kdf: { ...f.kdf, memory_kib: 4 * 1024 * 1024 } })],
    ["zero iterations", (f) => ({ ...f, kdf: { ...f.kdf, iterations: 0 } })],
    ["a short salt", (f) => ({ ...f, kdf: { ...f.kdf, salt: "AAAA" } })],
    ["a short wrapped key", (f) => ({ ...f, wrapped: "AAAA" })],
  ];
  for (const [name, change] of hostile) {
    test(`a key file with ${name} is refused as damage, naming it`, async () => {
      const { storage, unlocked } = await encryptedVault();
      const key = `keys/${unlocked.keyId}`;
      const f = JSON.parse(new TextDecoder().decode(await storage.load(key))) as KeyFile;
      const bad = new TextEncoder().encode(JSON.stringify(change(f)));
      expect(() => decodeKeyFile(key, bad)).toThrow(VaultDamageError);
      expect(() => decodeKeyFile(key, bad)).toThrow(key);
    });
  }

  test("an encrypted vault without key files is damage of keys/", async () => {
    const { storage, unlocked } = await encryptedVault();
    await storage.remove(`keys/${unlocked.keyId}`);
    const err = await failure(unlockVault(storage, "correct horse"));
    expect(err).toBeInstanceOf(VaultDamageError);
    expect(err.message).toContain('"keys/"');
  });

  test("an empty password is refused; init refuses an existing vault without leaving a key file", async () => {
    const storage = memoryStorage();
    await initVault(storage, { cold: memoryStorage(), now: NOW });
    expect((await failure(initEncryptedVault(storage, "pw", { cold: memoryStorage(), now: NOW, kdf: TEST_KDF }))).message).toContain("already exists");
    expect((await keyFiles(storage)).length).toBe(0);
    expect((await failure(initEncryptedVault(memoryStorage(), "", { cold: memoryStorage(), now: NOW, kdf: TEST_KDF }))).message).toContain("empty");
  });

  test("new key files use strong Argon2id parameters by default (64 MiB, t=3, p=4)", async () => {
    expect(DEFAULT_KDF).toEqual({ memoryKib: 65536, iterations: 3, parallelism: 4 });
    const storage = memoryStorage();
    const { unlocked } = await initEncryptedVault(storage, "pw", { cold: memoryStorage(), now: NOW });
    const f = JSON.parse(new TextDecoder().decode(await storage.load(`keys/${unlocked.keyId}`))) as KeyFile;
    expect(f.kdf).toMatchObject({ memory_kib: 65536, iterations: 3, parallelism: 4 });
    expect(sameKeys(await unlockVault(storage, "pw"), unlocked)).toBe(true);
  });
});

describe("leases in encrypted vaults", () => {
  test("a lease folder is a keyed hash of the resource name, and the claim is sealed", async () => {
    const { storage, unlocked } = await encryptedVault();
    const keys = unlocked.keys;
    const folder = leasePrefix("fs-secret-home", keys.idKey);
    expect(folder).toMatch(/^leases\/[0-9a-f]{32}\/$/);
    expect(folder).toBe(leasePrefix("fs-secret-home", keys.idKey));
    expect(folder).not.toBe(leasePrefix("fs-other", keys.idKey));
    expect(leasePrefix("fs-secret-home")).toBe(`leases/${Buffer.from("fs-secret-home").toString("base64url")}/`);
    const lease = await acquireLease(storage, folder, { purpose: 'a backup of "fs-secret-home"', exclusive: true, keys, host: "host-a", pid: 1, isAlive: () => true });
    for await (const o of storage.list("leases/")) {
      const raw = Buffer.from(await storage.load(o.key));
      for (const word of ["fs-secret-home", "host-a", "purpose"]) expect(raw.includes(word)).toBe(false);
    }
    const live = await liveLeases(storage, folder, { keys, isAlive: () => true });
    expect(live.map((l) => l.info?.purpose)).toEqual(['a backup of "fs-secret-home"']);
    // A second claim sees the first one through the seal, and names its holder. (Claims stored in
    // the same millisecond are ordered by their random ids: give the first its own moment.)
    await Bun.sleep(5);
    const err = await acquireLease(storage, folder, { purpose: "another", exclusive: true, keys, host: "host-b", pid: 2, isAlive: () => true }).catch((e) => e);
    expect(String(err.message)).toContain('a backup of "fs-secret-home" holds the lease');
    await lease.release();
  });
});

// Attack 7 of "Vaults under attack": hostile key files asking for 1 GiB and 64 passes each
// (~77 s and 1 GiB per file) were tried before the real one.
describe("hostile key files cost a bounded time", () => {
  /** A key file of another password with the given Argon2id parameters, as raw JSON (never run). */
  async function hostileFile(storage: Storage, template: KeyFile, id: string, kdf: Partial<KeyFile["kdf"]>): Promise<string> {
    const key = `keys/${id}`;
    await storage.save(key, new TextEncoder().encode(JSON.stringify({ ...template, id, kdf: { ...template.kdf, ...kdf } })));
    return key;
  }

  test("key files asking for 1 GiB x 64 passes are refused before any Argon2id work, by name; the real one opens at once", async () => {
    const { storage, unlocked } = await encryptedVault();
    const template = JSON.parse(new TextDecoder().decode(await storage.load(`keys/${unlocked.keyId}`))) as KeyFile;
    const keys: string[] = [];
    for (let i = 0; i < 5; i++) keys.push(await hostileFile(storage, template, `0${i}`.padEnd(32, "0"), { memory_kib: 1024 * 1024, iterations: 64, parallelism: 4 }));
    // one within each limit but over the work cap per key file (256 MiB x 16 passes)
    keys.push(await hostileFile(storage, template, "1".repeat(32), { memory_kib: 256 * 1024, iterations: 16 }));
    for (const k of keys) expect(() => decodeKeyFile(k, new Uint8Array(0))).toThrow(k);
    for (const k of keys) {
      const data = await storage.load(k);
      expect(() => decodeKeyFile(k, data)).toThrow(VaultDamageError);
    }
    const tried: string[] = [];
    const started = performance.now();
    const got = await unlockVault(storage, "correct horse", { onAttempt: (id) => tried.push(id) });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(tried).toEqual([unlocked.keyId]);
    expect(sameKeys(got, unlocked)).toBe(true);
    expect(got.refused!.map((e) => (e as VaultDamageError).key).sort()).toEqual(keys.sort());
    expect(got.refused!.find((e) => (e as VaultDamageError).key === keys[0])!.message).toMatch(/invalid memory_kib \(1048576; accepted 8 to 262144\)/);
    expect(got.refused!.find((e) => (e as VaultDamageError).key === "keys/" + "1".repeat(32))!.message).toMatch(/256 MiB x 16 passes .* more than efsbak spends on one key file/);
    // with a wrong password the message names them too, still without any Argon2id run for them
    const err = await failure(unlockVault(storage, "wrong", { onAttempt: (id) => tried.push(id) }));
    expect(err.hint).toContain(keys[0]);
    expect(tried).toEqual([unlocked.keyId, unlocked.keyId]);
  });

  test("key files are tried cheapest first, and one unlock spends at most its work budget", async () => {
    const { storage, unlocked } = await encryptedVault();
    const template = JSON.parse(new TextDecoder().decode(await storage.load(`keys/${unlocked.keyId}`))) as KeyFile;
    // Valid but expensive key files of another password (ids sort before the real one): tried after it.
    await hostileFile(storage, template, "0".repeat(32), { memory_kib: 2048, iterations: 2 });
    await hostileFile(storage, template, "00".padEnd(32, "1"), { memory_kib: 1024, iterations: 3 });
    const order: string[] = [];
    await unlockVault(storage, "correct horse", { onAttempt: (id) => order.push(id) });
    expect(order).toEqual([unlocked.keyId]);
    const all: string[] = [];
    const wrong = await failure(unlockVault(storage, "wrong", { onAttempt: (id) => all.push(id) }));
    expect(all).toEqual([unlocked.keyId, "00".padEnd(32, "1"), "0".repeat(32)]); // 64, 3072, 4096 KiB-passes
    expect(wrong.message).toContain("wrong password");
    // A budget of 3200 KiB-passes takes the first two and leaves the third untried, saying so.
    const some: string[] = [];
    const capped = await failure(unlockVault(storage, "wrong", { workBudgetKib: 3200, onAttempt: (id) => some.push(id) }));
    expect(some).toEqual([unlocked.keyId, "00".padEnd(32, "1")]);
    expect(capped.hint).toContain("1 key file(s) were not tried");
  });

  test("new key files beyond what readers accept are refused when written", async () => {
    const { storage, unlocked } = await encryptedVault();
    for (const kdf of [{ memoryKib: 512 * 1024, iterations: 1, parallelism: 1 }, { memoryKib: 64, iterations: 17, parallelism: 1 }, { memoryKib: 256 * 1024, iterations: 5, parallelism: 4 }]) {
      expect((await failure(addKey(storage, unlocked, { password: "x", now: NOW, kdf }))).message).toContain("outside what readers accept");
    }
  });
});
