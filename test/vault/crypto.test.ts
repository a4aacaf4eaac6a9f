import { describe, expect, test } from "bun:test";
import { createDecipheriv, hkdfSync } from "node:crypto";
import { SEAL_OVERHEAD, SEAL_V2_OVERHEAD, seal, sealIntoV2, sealV2, unseal, unsealV2 } from "../../src/vault/crypto.ts";
import { mutations, sameBytes, testKeys } from "./fuzz.ts";
import { randomBytes } from "../support/random.ts";

const KEYS = testKeys(7);
const AAD = new TextEncoder().encode("rps/");

describe("crypto", () => {
  for (const n of [0, 1, 15, 16, 17, 1000, 100_000]) {
    test(`${n} bytes: unseal(seal(x)) equals x; nonce ‖ ciphertext ‖ tag`, () => {
      const plain = randomBytes(n, n);
      const sealed = seal(KEYS, plain, AAD);
      expect(sealed.length).toBe(n + SEAL_OVERHEAD);
      expect(SEAL_OVERHEAD).toBe(12 + 16);
      expect(sameBytes(unseal(KEYS, sealed, AAD), plain)).toBe(true);
      if (n >= 16) expect(sameBytes(sealed.subarray(12, 12 + n), plain)).toBe(false);
    });
  }

  test("without keys, seal and unseal are the identity", () => {
    const plain = randomBytes(100, 1);
    expect(seal(null, plain, AAD)).toBe(plain);
    expect(unseal(null, plain, AAD)).toBe(plain);
  });

  test("a fresh nonce for every seal", () => {
    const plain = randomBytes(64, 2);
    const a = seal(KEYS, plain);
    const b = seal(KEYS, plain);
    expect(sameBytes(a.subarray(0, 12), b.subarray(0, 12))).toBe(false);
  });

  const refusals: { name: string; run: (sealed: Uint8Array) => unknown }[] = [
    { name: "another key", run: (s) => unseal(testKeys(70), s, AAD) },
    { name: "other additional data", run: (s) => unseal(KEYS, s, new TextEncoder().encode("index/")) },
    { name: "no additional data", run: (s) => unseal(KEYS, s) },
    { name: "a flipped tag bit", run: (s) => { s[s.length - 1] ^= 1; return unseal(KEYS, s, AAD); } },
    { name: "a flipped nonce bit", run: (s) => { s[0] ^= 1; return unseal(KEYS, s, AAD); } },
    { name: "less than nonce and tag", run: (s) => unseal(KEYS, s.subarray(0, 27), AAD) },
  ];
  for (const r of refusals) {
    test(`refuses ${r.name} with "authentication failed"`, () => {
      expect(() => r.run(seal(KEYS, randomBytes(200, 3), AAD))).toThrow(/authentication failed/);
    });
  }

  test("fuzz: every changed input fails authentication, never returns other bytes", () => {
    const plain = randomBytes(300, 4);
    const sealed = seal(KEYS, plain, AAD);
    let refused = 0;
    for (const { data, how } of mutations(sealed, 71, 4000)) {
      let out: Uint8Array;
      try {
        out = unseal(KEYS, data, AAD);
      } catch (err) {
        expect((err as Error).message).toMatch(/^authentication failed/);
        refused++;
        continue;
      }
      if (!sameBytes(data, sealed) || !sameBytes(out, plain)) throw new Error(`mutation ${how} was accepted`);
    }
    expect(refused).toBeGreaterThan(3900);
  });
});

// Attack 8 of "Vaults under attack": every seal drew a random 96-bit nonce under one key, so
// the 2^32 guideline counted objects. The v2 envelope seals each object under its own key.
describe("v2 envelope: a key per sealed object", () => {
  test("2 ‖ salt ‖ nonce ‖ ciphertext ‖ tag, under HKDF-SHA256(encryptKey, salt, info) — checked with node:crypto directly", () => {
    const plain = randomBytes(1000, 3);
    const sealed = sealV2(KEYS, "object", plain, AAD);
    expect(SEAL_V2_OVERHEAD).toBe(1 + 16 + 12 + 16);
    expect(sealed.length).toBe(1000 + SEAL_V2_OVERHEAD);
    expect(sealed[0]).toBe(2);
    const key = new Uint8Array(hkdfSync("sha256", KEYS.encryptKey, sealed.subarray(1, 17), "efsbak seal v2/object", 32));
    const d = createDecipheriv("aes-256-gcm", key, sealed.subarray(17, 29));
    d.setAAD(AAD);
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    const out = Buffer.concat([d.update(sealed.subarray(29, sealed.length - 16)), d.final()]);
    expect(sameBytes(out, plain)).toBe(true);
    // the vault key itself does not open it (it is never used to encrypt in format 2)
    expect(() => unseal(KEYS, sealed.subarray(17), AAD)).toThrow(/authentication failed/);
  });

  test("fresh salt per seal; the domain, the AAD, the salt and every byte are authenticated", () => {
    const plain = randomBytes(300, 4);
    const a = sealV2(KEYS, "blob", plain, AAD);
    const b = sealV2(KEYS, "blob", plain, AAD);
    expect(sameBytes(a.subarray(1, 17), b.subarray(1, 17))).toBe(false);
    expect(sameBytes(unsealV2(KEYS, "blob", a, AAD), plain)).toBe(true);
    expect(() => unsealV2(KEYS, "object", a, AAD)).toThrow(/authentication failed/);
    expect(() => unsealV2(KEYS, "blob", a, new TextEncoder().encode("rps/x"))).toThrow(/authentication failed/);
    for (const at of [0, 1, 16, 17, 28, 29, a.length - 1]) {
      const m = a.slice();
      m[at] ^= 1;
      expect(() => unsealV2(KEYS, "blob", m, AAD)).toThrow(/authentication failed/);
    }
    expect(() => unsealV2(KEYS, "blob", a.subarray(0, 44), AAD)).toThrow(/too short/);
  });

  test("sealIntoV2 writes the same envelope in place; without keys it copies", () => {
    const plain = randomBytes(3 * 1024 * 1024 + 5, 5); // more than one cipher step
    const out = new Uint8Array(plain.length + SEAL_V2_OVERHEAD + 10);
    const n = sealIntoV2(KEYS, "blob", plain, AAD, out, 10);
    expect(n).toBe(plain.length + SEAL_V2_OVERHEAD);
    expect(sameBytes(unsealV2(KEYS, "blob", out.subarray(10, 10 + n), AAD), plain)).toBe(true);
    const copy = new Uint8Array(20);
    expect(sealIntoV2(null, "blob", plain.subarray(0, 20), AAD, copy, 0)).toBe(20);
    expect(sameBytes(copy, plain.subarray(0, 20))).toBe(true);
  });
});
