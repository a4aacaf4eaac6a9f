/**
 * Fuzzing key files (keys/<id>), the one vault decoder that test/vault/*.test.ts checks with
 * hand-made cases but not with the mutation engine of test/vault/fuzz.ts (which fuzzes config,
 * index files, objects, packs, blobs, trees and sealed data). Mutated bytes and odd field
 * values must decode or give VaultDamageError naming the key file, and never unlock: a key
 * file that still decodes is tried with the password and must give the same master key or a
 * "wrong password" EfsbakError.
 */
import { afterAll, expect, test } from "bun:test";
import { EfsbakError } from "../../src/errors.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import { toHex } from "../../src/vault/id.ts";
import { TEST_KDF, decodeKeyFile, encodeKeyFile, initEncryptedVault, unlockVault } from "../../src/vault/keys.ts";
import { fuzz } from "../vault/fuzz.ts";
import { TEST_CHUNKER } from "../support/vault.ts";
import { SEED, record, setting } from "../support/soak.ts";
import { between, rng } from "../support/random.ts";

const CASES = setting("KEY_FUZZ", 4000, 50_000);
const ODD = [null, true, 0, -1, 1e308, 2 ** 53, "", "x", "argon2id", "aes-256-gcm", [], {}, { algorithm: "argon2id" }, "A".repeat(10_000)];
const figures: Record<string, number> = {};
afterAll(() => record("key-file-fuzz", figures));

async function sample() {
  const storage = memoryStorage();
  const { unlocked } = await initEncryptedVault(storage, "pw", { cold: memoryStorage({ location: "memory:cold" }), now: new Date("2026-01-01T00:00:00Z"), chunker: TEST_CHUNKER, kdf: TEST_KDF });
  let key = "";
  for await (const o of storage.list("keys/")) key = o.key;
  return { storage, key, bytes: await storage.load(key), master: toHex(unlocked.keys.encryptKey) };
}

test(`${CASES} mutated key files decode or give VaultDamageError naming the key file`, async () => {
  const { key, bytes } = await sample();
  const out = fuzz(bytes, { seed: SEED, count: CASES, key, decode: (d) => decodeKeyFile(key, d) });
  expect(out.damaged).toBeGreaterThan(0);
  figures.byte_mutants = CASES;
  figures.byte_decoded = out.decoded;
  figures.byte_damaged = out.damaged;
});

test("odd values in every field: damage named, or a key file that still cannot unlock anything else", async () => {
  const { storage, key, bytes, master } = await sample();
  const base = JSON.parse(new TextDecoder().decode(bytes));
  const random = rng(SEED + 3);
  const paths: string[][] = [];
  for (const k of Object.keys(base)) {
    paths.push([k]);
    if (base[k] && typeof base[k] === "object") for (const k2 of Object.keys(base[k])) paths.push([k, k2]);
  }
  let damaged = 0;
  let unlockTried = 0;
  const cases = Math.min(400, CASES);
  for (let i = 0; i < cases; i++) {
    const doc = structuredClone(base);
    const path = paths[between(random, 0, paths.length - 1)];
    const value = ODD[between(random, 0, ODD.length - 1)];
    let at = doc;
    for (const p of path.slice(0, -1)) at = at[p];
    at[path.at(-1)!] = value;
    const data = encodeKeyFile(doc);
    try {
      decodeKeyFile(key, data);
    } catch (err) {
      expect(err).toBeInstanceOf(EfsbakError);
      expect((err as Error).message).toStartWith(`Cannot read "${key}": `);
      damaged++;
      continue;
    }
    // Still a well-formed key file: it may unlock (the field did not matter) or be refused.
    await storage.save(key, data);
    unlockTried++;
    try {
      const u = await unlockVault(storage, "pw");
      expect(toHex(u.keys.encryptKey)).toBe(master);
    } catch (err) {
      expect(err).toBeInstanceOf(EfsbakError);
    } finally {
      await storage.save(key, bytes);
    }
  }
  figures.field_cases = cases;
  figures.field_damaged = damaged;
  figures.field_unlock_tried = unlockTried;
  expect(damaged).toBeGreaterThan(0);
}, 60_000);
