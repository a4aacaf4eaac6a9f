import { describe, expect, test } from "bun:test";
import { seal } from "../../src/vault/crypto.ts";
import { decodeJson, decodeObject, encodeJson, encodeObject } from "../../src/vault/object.ts";
import { expectDamage, fuzz, sameBytes, testKeys } from "./fuzz.ts";
import { randomBytes } from "../support/random.ts";

const KEYS = testKeys(1);

/** An object as the format-1 code (commit 569a579) sealed it: v1 envelope, the folder as AAD. */
function legacyObject(key: string, plain: Uint8Array): Uint8Array {
  const body = new Uint8Array(4 + plain.length);
  new DataView(body.buffer).setUint32(0, plain.length, true);
  body.set(plain, 4);
  const sealed = seal(KEYS, body, new TextEncoder().encode(key.slice(0, key.indexOf("/") + 1) || key));
  return new Uint8Array([0x45, 0x46, 0x53, 0x4f, 1, 0, ...sealed]);
}
const KEY = "rps/0190a1b2c3d4e5f60718293a4b5c6d7e";
const text = (s: string) => new TextEncoder().encode(s);
const compressible = text(JSON.stringify({ entries: Array.from({ length: 200 }, (_, i) => ({ name: `file-${i}`, size: i })) }));

describe("object envelope", () => {
  const payloads: { name: string; data: Uint8Array; zstd: boolean }[] = [
    { name: "empty", data: new Uint8Array(0), zstd: false },
    { name: "short (never compressed)", data: text("{}"), zstd: false },
    { name: "compressible", data: compressible, zstd: true },
    { name: "incompressible", data: randomBytes(5000, 3), zstd: false },
  ];
  for (const p of payloads) {
    for (const keys of [null, KEYS]) {
      test(`${p.name}, ${keys ? "encrypted" : "plain"}: decode(encode(x)) equals x`, () => {
        const obj = encodeObject(keys, KEY, p.data);
        expect(sameBytes(decodeObject(keys, KEY, obj), p.data)).toBe(true);
        expect([...obj.subarray(0, 4)]).toEqual([...text("EFSO")]);
        expect(obj[4]).toBe(keys ? 2 : 1);
        expect(obj[5]).toBe(p.zstd ? 1 : 0);
        if (!p.zstd) expect(obj.length).toBe(6 + 4 + p.data.length + (keys ? 45 : 0));
        if (!keys) expect(new DataView(obj.buffer).getUint32(6, true)).toBe(p.data.length);
      });
    }
  }

  test("JSON documents round trip", () => {
    const doc = { id: "x", n: 3, list: [1, "two", null], nested: { a: true } };
    expect(decodeJson(null, KEY, encodeJson(null, KEY, doc))).toEqual(doc);
    expect(decodeJson(KEYS, KEY, encodeJson(KEYS, KEY, doc))).toEqual(doc);
  });

  test("encrypted objects hide their content and differ on every write", () => {
    const a = encodeObject(KEYS, KEY, compressible);
    const b = encodeObject(KEYS, KEY, compressible);
    expect(sameBytes(a, b)).toBe(false);
    expect(new TextDecoder().decode(a).includes("file-1")).toBe(false);
  });

  const bad: { name: string; data: () => Uint8Array; keys?: typeof KEYS; message: RegExp }[] = [
    { name: "bad magic", data: () => { const o = encodeObject(null, KEY, compressible); o[0] = 0x41; return o; }, message: /not an efsbak object \(bad magic\)/ },
    { name: "a newer version", data: () => { const o = encodeObject(null, KEY, compressible); o[4] = 3; return o; }, message: /unknown object version 3/ },
    { name: "a sealed object in an unencrypted vault", data: () => { const o = encodeObject(null, KEY, compressible); o[4] = 2; return o; }, message: /sealed \(version 2\) object in an unencrypted vault/ },
    { name: "its flags changed (authenticated in version 2)", data: () => { const o = encodeObject(KEYS, KEY, randomBytes(300, 4)); o[5] = 1; return o; }, keys: KEYS, message: /authentication failed/ },
    { name: "a version-1 object in a format-2 vault", data: () => legacyObject(KEY, compressible), keys: KEYS, message: /version-1 object .* in a vault created in format 2/ },
    { name: "too short", data: () => text("EFSO\x01\x00"), message: /bad magic/ },
    { name: "truncated body", data: () => encodeObject(null, KEY, randomBytes(500, 1)).subarray(0, 300), message: /truncated: 290 of 500 bytes/ },
    { name: "corrupt zstd", data: () => { const o = encodeObject(null, KEY, compressible); o[20] ^= 0xff; o[21] ^= 0xff; return o; }, message: /corrupt compressed data|not valid|truncated/ },
    { name: "zstd flag on raw data", data: () => { const o = encodeObject(null, KEY, randomBytes(300, 2)); o[5] = 1; return o; }, message: /corrupt compressed data/ },
    { name: "another key", data: () => encodeObject(testKeys(9), KEY, compressible), keys: KEYS, message: /authentication failed/ },
    { name: "moved to another kind", data: () => encodeObject(KEYS, "index/0123", compressible), keys: KEYS, message: /authentication failed/ },
    { name: "a flipped ciphertext bit", data: () => { const o = encodeObject(KEYS, KEY, compressible); o[30] ^= 4; return o; }, keys: KEYS, message: /authentication failed/ },
    { name: "encrypted and cut short", data: () => encodeObject(KEYS, KEY, compressible).subarray(0, 30), keys: KEYS, message: /authentication failed/ },
  ];
  for (const c of bad) {
    test(`refuses ${c.name} with a VaultDamageError naming the key`, () => {
      expectDamage(() => decodeObject(c.keys ?? null, KEY, c.data()), KEY, c.message);
    });
  }

  test("the version error tells what to do", () => {
    const o = encodeObject(null, KEY, compressible);
    o[4] = 7;
    expect(expectDamage(() => decodeObject(null, KEY, o), KEY).hint).toContain("upgrade");
  });

  // Attack 6 of "Vaults under attack": with the folder as AAD, job 1's record copied over job
  // 2's key made `jobs` show job 1 twice, and a copied recovery point was listed twice.
  test("an encrypted object binds its full key: a copy under another key of the same kind is damage of that key", () => {
    const o = encodeObject(KEYS, "jobs/a/0001", compressible);
    expect(sameBytes(decodeObject(KEYS, "jobs/a/0001", o), compressible)).toBe(true);
    expectDamage(() => decodeObject(KEYS, "jobs/b/0001", o), "jobs/b/0001", /authentication failed/);
    expectDamage(() => decodeObject(KEYS, "jobs/a/0002", o), "jobs/a/0002", /authentication failed/);
    expectDamage(() => decodeObject(KEYS, "locks/a", o), "locks/a", /authentication failed/);
    const rp = encodeJson(KEYS, "rps/0190a1b2c3d4e5f60718293a4b5c6d7e", { id: "0190a1b2c3d4e5f60718293a4b5c6d7e" });
    expectDamage(() => decodeJson(KEYS, "rps/0190a1b2c3d4e5f60718293a4b5c6d7f", rp), "rps/0190a1b2c3d4e5f60718293a4b5c6d7f", /authentication failed/);
  });

  test("version-1 objects (format-1 vaults, folder AAD) decode where the vault may hold them, and only there", () => {
    const o = legacyObject("jobs/a/0001", compressible);
    expect(sameBytes(decodeObject({ ...KEYS, legacy: true }, "jobs/a/0001", o), compressible)).toBe(true);
    // the old binding, kept for those: a copy within the folder still reads (documented)
    expect(sameBytes(decodeObject({ ...KEYS, legacy: true }, "jobs/b/0002", o), compressible)).toBe(true);
    expectDamage(() => decodeObject({ ...KEYS, legacy: true }, "rps/x", o), "rps/x", /authentication failed/);
    expectDamage(() => decodeObject(KEYS, "jobs/a/0001", o), "jobs/a/0001", /created in format 2/);
    // a new object cannot be turned into an old one: the v1 path fails to authenticate it
    const n = encodeObject(KEYS, "jobs/a/0001", compressible);
    n[4] = 1;
    expectDamage(() => decodeObject({ ...KEYS, legacy: true }, "jobs/a/0001", n), "jobs/a/0001", /authentication failed/);
  });

  test("invalid JSON in a sound envelope is named", () => {
    expectDamage(() => decodeJson(null, KEY, encodeObject(null, KEY, text("{nope"))), KEY, /not valid JSON/);
    expectDamage(() => decodeJson(null, KEY, encodeObject(null, KEY, Uint8Array.from([0x22, 0xc3, 0x28, 0x22]))), KEY, /not valid JSON/);
  });

  for (const [name, data] of [["compressed", compressible], ["raw", randomBytes(400, 8)]] as const) {
    test(`fuzz ${name}, plain: decodes or gives VaultDamageError(key)`, () => {
      const out = fuzz(encodeObject(null, KEY, data), { seed: 21, count: 4000, key: KEY, decode: (d) => decodeObject(null, KEY, d) });
      expect(out.damaged).toBeGreaterThan(1000);
    });
    test(`fuzz ${name}, encrypted: gives the original bytes or VaultDamageError(key)`, () => {
      const out = fuzz(encodeObject(KEYS, KEY, data), {
        seed: 22,
        count: 4000,
        key: KEY,
        decode: (d) => decodeObject(KEYS, KEY, d),
        onDecoded: (value, _d, how) => {
          if (!sameBytes(value, data)) throw new Error(`mutation ${how} decoded to other bytes`);
        },
      });
      expect(out.damaged).toBeGreaterThan(3000);
    });
  }

  test("fuzz JSON objects: decode or VaultDamageError(key)", () => {
    const base = encodeJson(null, KEY, { id: "abc", tree: "00".repeat(32), tags: { a: "b" }, files: 12 });
    const out = fuzz(base, { seed: 23, count: 3000, key: KEY, decode: (d) => decodeJson(null, KEY, d) });
    expect(out.damaged).toBeGreaterThan(1000);
  });
});
