import { describe, expect, test } from "bun:test";
import { SEAL_OVERHEAD, seal, unseal } from "../../src/vault/crypto.ts";
import { mutations, randomBytes, sameBytes, testKeys } from "./fuzz.ts";

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
    const plain = randomBytes(1, 100);
    expect(seal(null, plain, AAD)).toBe(plain);
    expect(unseal(null, plain, AAD)).toBe(plain);
  });

  test("a fresh nonce for every seal", () => {
    const plain = randomBytes(2, 64);
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
      expect(() => r.run(seal(KEYS, randomBytes(3, 200), AAD))).toThrow(/authentication failed/);
    });
  }

  test("fuzz: every changed input fails authentication, never returns other bytes", () => {
    const plain = randomBytes(4, 300);
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
