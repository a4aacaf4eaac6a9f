import { describe, expect, test } from "bun:test";
import { type VaultConfig, FORMAT_VERSION, PLAIN_FORMAT_VERSION, decodeConfig, encodeConfig } from "../../src/vault/config.ts";
import { expectDamage, fuzz } from "./fuzz.ts";
import { prng } from "../support/random.ts";

const BASE: VaultConfig = {
  format: "efsbak-vault",
  version: PLAIN_FORMAT_VERSION,
  id: "0123456789abcdef0123456789abcdef",
  created_at: "2026-03-01T05:00:00.000Z",
  chunker: { min_size: 256 * 1024, avg_size: 1024 * 1024, max_size: 4 * 1024 * 1024, seed: 0 },
  hash: "blake3",
  compression: "zstd",
  pack_size: 16 * 1024 * 1024,
  encryption: null,
};

function withFields(patch: Record<string, unknown>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ ...BASE, ...patch }));
}

describe("config", () => {
  test("decode(encode(x)) equals x, plain and encrypted", () => {
    expect(decodeConfig("config", encodeConfig(BASE))).toEqual(BASE);
    const enc: VaultConfig = { ...BASE, version: FORMAT_VERSION, hash: "blake3-keyed", encryption: { cipher: "aes-256-gcm", kdf: "argon2id" } };
    expect(decodeConfig("config", encodeConfig(enc))).toEqual(enc);
    // format 1 encrypted vaults (made by earlier releases) still decode, and upgraded ones
    const old: VaultConfig = { ...enc, version: 1 };
    expect(decodeConfig("config", encodeConfig(old))).toEqual(old);
    const upgraded: VaultConfig = { ...enc, upgraded_from: 1 };
    expect(decodeConfig("config", encodeConfig(upgraded))).toEqual(upgraded);
  });

  test("is pretty, plaintext JSON ending in a newline", () => {
    const text = new TextDecoder().decode(encodeConfig(BASE));
    expect(text.endsWith("}\n")).toBe(true);
    expect(text).toContain('\n  "version": 1,\n');
  });

  const bad: { name: string; data: Uint8Array; message: RegExp }[] = [
    { name: "a newer version", data: withFields({ version: 3 }), message: /vault format version 3 is not supported \(this efsbak reads versions 1 and 2\)/ },
    { name: "format 2 without encryption", data: withFields({ version: 2 }), message: /format version 2, which only encrypted vaults have/ },
    { name: "upgraded_from on format 1", data: withFields({ upgraded_from: 1 }), message: /invalid upgraded_from/ },
    { name: "a version as a string", data: withFields({ version: "1" }), message: /version "1" is not supported/ },
    { name: "no version", data: withFields({ version: undefined }), message: /version undefined is not supported/ },
    { name: "another format", data: withFields({ format: "restic" }), message: /not an efsbak vault config/ },
    { name: "not JSON", data: new TextEncoder().encode("{\"format\":"), message: /config is not valid JSON/ },
    { name: "invalid UTF-8", data: Uint8Array.from([0x7b, 0xff, 0x7d]), message: /config is not valid JSON/ },
    { name: "JSON null", data: new TextEncoder().encode("null"), message: /not an efsbak vault config/ },
    { name: "a JSON array", data: new TextEncoder().encode("[1]"), message: /not an efsbak vault config/ },
    { name: "empty", data: new Uint8Array(0), message: /config is not valid JSON/ },
    { name: "no chunker", data: withFields({ chunker: undefined }), message: /invalid chunker or pack parameters/ },
    { name: "min above avg", data: withFields({ chunker: { ...BASE.chunker, min_size: 2 * 1024 * 1024 } }), message: /invalid chunker or pack parameters/ },
    { name: "fractional sizes", data: withFields({ chunker: { ...BASE.chunker, max_size: 5e6 + 0.5 } }), message: /invalid chunker or pack parameters/ },
    { name: "avg not a power of two", data: withFields({ chunker: { ...BASE.chunker, avg_size: 1000 * 1000 } }), message: /invalid chunker parameters: avgSize must be a power of two/ },
    { name: "max above 16 MiB", data: withFields({ chunker: { ...BASE.chunker, max_size: 32 * 1024 * 1024 } }), message: /invalid chunker parameters: maxSize must be <= 16777216/ },
    { name: "seed of 2^32", data: withFields({ chunker: { ...BASE.chunker, seed: 2 ** 32 } }), message: /invalid chunker parameters: seed/ },
    { name: "pack size 0", data: withFields({ pack_size: 0 }), message: /invalid chunker or pack parameters/ },
    { name: "unknown cipher", data: withFields({ encryption: { cipher: "rot13", kdf: "argon2id" } }), message: /unknown encryption/ },
    { name: "encryption left out", data: withFields({ encryption: undefined }), message: /unknown encryption/ },
    { name: "unknown hash", data: withFields({ hash: "sha256" }), message: /unknown hash "sha256"/ },
    { name: "unknown compression", data: withFields({ compression: "lz4" }), message: /unknown compression "lz4"/ },
  ];
  for (const c of bad) {
    test(`refuses ${c.name} with a VaultDamageError naming the key`, () => {
      expectDamage(() => decodeConfig("config", c.data), "config", c.message);
    });
  }

  test("the version error tells what to do", () => {
    const err = expectDamage(() => decodeConfig("config", withFields({ version: 9 })), "config");
    expect(err.hint).toContain("newer");
    expect(err.exitCode).toBe(1);
  });

  test("fuzz: mutated bytes decode or give VaultDamageError(config)", () => {
    const out = fuzz(encodeConfig(BASE), { seed: 11, count: 4000, key: "config", decode: (d) => decodeConfig("config", d) });
    expect(out.damaged).toBeGreaterThan(2000);
    expect(out.decoded).toBeGreaterThan(0); // whitespace and value bytes may change harmlessly
  });

  test("fuzz: any JSON value in any field decodes or gives VaultDamageError(config)", () => {
    const next = prng(5);
    const values: unknown[] = [null, true, 0, -1, 1.5, 2 ** 53, "", "x", [], [1], {}, { cipher: "aes-256-gcm" }, "blake3", "zstd", 1024, 4096];
    const fields = [...Object.keys(BASE), "chunker.min_size", "chunker.avg_size", "chunker.max_size", "chunker.seed", "encryption.cipher"];
    let damaged = 0;
    for (let i = 0; i < 2000; i++) {
      const doc = structuredClone(BASE) as unknown as Record<string, Record<string, unknown>>;
      for (let k = 0; k < 1 + (next() % 3); k++) {
        const [a, b] = fields[next() % fields.length].split(".");
        const v = values[next() % values.length];
        if (b === undefined) (doc as Record<string, unknown>)[a] = v;
        else if (doc[a] && typeof doc[a] === "object") doc[a][b] = v;
      }
      const data = new TextEncoder().encode(JSON.stringify(doc));
      try {
        decodeConfig("config", data);
      } catch (err) {
        expectDamage(() => { throw err; }, "config");
        damaged++;
      }
    }
    expect(damaged).toBeGreaterThan(1000);
  });
});
