/**
 * Argon2id (src/vault/argon2.ts) on both engines, the native addon and the hash-wasm fallback:
 * the reference implementation's vectors, vectors computed by the WebAssembly kernel efsbak
 * used before (so key files it wrote still open), key files that kernel wrote, and the two
 * engines against each other over a table of parameters (odd memory sizes, 1–8 lanes, 1–4
 * passes, short and long tags, a secret).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { memoryStorage } from "../../src/storage/memory.ts";
import { argon2Engine, argon2id } from "../../src/vault/argon2.ts";
import { toHex } from "../../src/vault/id.ts";
import { DEFAULT_KDF, unlockVault } from "../../src/vault/keys.ts";
import { prng, randomBytes } from "../support/random.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const utf8 = (s: string) => new TextEncoder().encode(s);
const ENGINES = [{ name: "native", native: true }, { name: "hash-wasm", native: false }] as const;

interface Case {
  memoryKib: number;
  iterations: number;
  parallelism: number;
  hashLength: number;
  passwordLength: number;
}

const CASES: Case[] = [
  // the least memory (8 KiB per lane: 2 blocks per segment, the first slice has none to fill)
  { memoryKib: 8, iterations: 1, parallelism: 1, hashLength: 32, passwordLength: 3 },
  { memoryKib: 16, iterations: 2, parallelism: 2, hashLength: 4, passwordLength: 1 },
  { memoryKib: 64, iterations: 3, parallelism: 8, hashLength: 16, passwordLength: 8 },
  // memory not a multiple of 4 × lanes (rounded down, but H0 takes it as given)
  { memoryKib: 9, iterations: 1, parallelism: 1, hashLength: 64, passwordLength: 13 },
  { memoryKib: 37, iterations: 4, parallelism: 3, hashLength: 100, passwordLength: 32 },
  { memoryKib: 301, iterations: 3, parallelism: 4, hashLength: 32, passwordLength: 64 },
  { memoryKib: 1000, iterations: 2, parallelism: 6, hashLength: 65, passwordLength: 100 },
  { memoryKib: 1029, iterations: 1, parallelism: 7, hashLength: 31, passwordLength: 5 },
  // more than 128 blocks per segment: several address blocks per segment
  { memoryKib: 2048, iterations: 2, parallelism: 1, hashLength: 32, passwordLength: 20 },
  { memoryKib: 3333, iterations: 4, parallelism: 5, hashLength: 64, passwordLength: 40 },
  { memoryKib: 6150, iterations: 3, parallelism: 8, hashLength: 4, passwordLength: 2 },
];

/** More combinations, seeded: memory from 8 × lanes to 1 MiB, any length. */
function seededCases(seed: number, n: number): Case[] {
  const next = prng(seed);
  const pick = <T>(xs: T[]) => xs[next() % xs.length];
  return Array.from({ length: n }, () => {
    const parallelism = 1 + (next() % 8);
    return {
      memoryKib: 8 * parallelism + (next() % 1024),
      iterations: 1 + (next() % 4),
      parallelism,
      hashLength: pick([4, 16, 32, 64, 100]),
      passwordLength: 1 + (next() % 80),
    };
  });
}

/** A memory storage holding the files under dir (keys relative to it). */
function storageFrom(dir: string) {
  const storage = memoryStorage();
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name !== "README.md");
  return Promise.all(files.map((e) => storage.save(join(e.parentPath, e.name).slice(dir.length + 1), readFileSync(join(e.parentPath, e.name))))).then(() => storage);
}

describe("argon2id", () => {
  const savedNative = process.env.EFSBAK_NATIVE;
  afterEach(() => {
    if (savedNative === undefined) delete process.env.EFSBAK_NATIVE;
    else process.env.EFSBAK_NATIVE = savedNative;
  });

  test("the native engine loads here (the table would otherwise test hash-wasm against itself)", () => {
    expect(argon2Engine()).toBe("native");
    expect(argon2Engine({ native: false })).toBe("hash-wasm");
    process.env.EFSBAK_NATIVE = "0";
    expect(argon2Engine()).toBe("hash-wasm");
  });

  for (const engine of ENGINES) {
    // phc-winner-argon2's src/test.c (version 0x13, argon2id, password "password", salt
    // "somesalt"). RFC 9106's own vector takes associated data, which neither library accepts.
    const reference: [number, number, number, string][] = [
      [65536, 2, 1, "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7"],
      [256, 2, 1, "9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe"],
      [256, 2, 2, "6d093c501fd5999645e0ea3bf620d7b8be7fd2db59c20d9fff9539da2bf57037"],
    ];
    for (const [memoryKib, iterations, parallelism, want] of reference) {
      test(`${engine.name}: reference vector m=${memoryKib} t=${iterations} p=${parallelism}`, async () => {
        const tag = await argon2id({ password: "password", salt: utf8("somesalt"), memoryKib, iterations, parallelism, hashLength: 32, native: engine.native });
        expect(hex(tag)).toBe(want);
      });
    }

    // Computed at commit ac6b3b0 by the WebAssembly kernel (and equal to hash-wasm there).
    test(`${engine.name}: the retired kernel's vectors (defaults; a secret, a UTF-8 password, a 64-byte tag)`, async () => {
      const defaults = { password: "correct horse battery staple", salt: Uint8Array.from({ length: 32 }, (_, i) => i), ...DEFAULT_KDF, hashLength: 32 };
      expect(DEFAULT_KDF).toEqual({ memoryKib: 65536, iterations: 3, parallelism: 4 });
      expect(hex(await argon2id({ ...defaults, native: engine.native }))).toBe("0b220637b2f1ea0425e3c3e4ea5c5c14fd91b0f26b5726839a04f2e387f75f73");
      const withSecret = {
        password: "pässwörd ✓",
        salt: Uint8Array.from({ length: 16 }, (_, i) => 255 - i),
        secret: Uint8Array.from({ length: 32 }, (_, i) => i * 7),
        memoryKib: 1000,
        iterations: 2,
        parallelism: 3,
        hashLength: 64,
      };
      expect(hex(await argon2id({ ...withSecret, native: engine.native }))).toBe(
        "c44f65e874c251765aafcbedc83531aac8c49fc19445dfff9f937622b5329247dea6ca297ff8c44bfadc4fa9deaba943a46f02877f702aaa93a91efb34c469a8",
      );
      expect(hex(await argon2id({ ...withSecret, password: utf8(withSecret.password), native: engine.native }))).toStartWith("c44f65e874c25176");
    });
  }

  for (const [nativeEnv, name] of [[undefined, "native"], ["0", "hash-wasm"]] as const) {
    test(`key files the retired kernel wrote still unlock (${name})`, async () => {
      if (nativeEnv) process.env.EFSBAK_NATIVE = nativeEnv;
      expect(argon2Engine()).toBe(name);
      const storage = await storageFrom(join(import.meta.dir, "fixtures/kernel-keys"));
      const tried: string[] = [];
      for (const [password, keyId] of [["kernel-era password", "76978dd9b22e3db856f7f2178b164446"], ["second pässwörd", "706761ad1a5376bee0d880fdc31f5660"]]) {
        const u = await unlockVault(storage, password, { onAttempt: (id) => tried.push(id) });
        expect([u.keyId, u.vaultId, toHex(u.keys.encryptKey), toHex(u.keys.idKey)]).toEqual([
          keyId,
          "77ae6ccf6eb5bf6e431500aef330a895",
          "844cc69c2f17f78b14d402bba687e89203e181463ba6d29d7062b678c3fff3a9",
          "95716e3011a53eb8663d093f498588c2e9fbd96baef9eab458c01cf32b090b47",
        ]);
      }
      await expect(unlockVault(storage, "kernel-era passwore")).rejects.toThrow("wrong password");
      expect(tried.length).toBeGreaterThanOrEqual(2);
    });
  }

  for (const [i, c] of [...CASES, ...seededCases(9106, 24)].entries()) {
    test(`m=${c.memoryKib} KiB t=${c.iterations} p=${c.parallelism} T=${c.hashLength} |P|=${c.passwordLength}: native = hash-wasm`, async () => {
      const password = randomBytes(c.passwordLength, 100 + i);
      const salt = randomBytes(8 + (i % 3) * 12, 200 + i);
      const secret = i % 4 === 0 ? randomBytes(32, 300 + i) : undefined;
      const want = hex(await argon2id({ ...c, password, salt, secret, native: false }));
      expect(hex(await argon2id({ ...c, password, salt, secret }))).toBe(want);
    });
  }

  test("calls in flight at once do not disturb each other", async () => {
    const salt = randomBytes(16, 9);
    const c = { memoryKib: 8192, iterations: 1, parallelism: 2, hashLength: 32 };
    const outs = await Promise.all(["a", "b", "a", "c"].map((password) => argon2id({ ...c, password, salt })));
    const want = await Promise.all(["a", "b", "a", "c"].map((password) => argon2id({ ...c, password, salt, native: false })));
    expect(outs.map(hex)).toEqual(want.map(hex));
    expect(hex(outs[0])).toBe(hex(outs[2]));
    expect(hex(outs[0])).not.toBe(hex(outs[1]));
  });

  const invalid: [string, Partial<Case & { salt: Uint8Array }>][] = [
    ["no lanes", { parallelism: 0 }],
    ["more lanes than the native library takes", { parallelism: 256, memoryKib: 8 * 256 }],
    ["less than 8 KiB per lane", { memoryKib: 31, parallelism: 4 }],
    ["no passes", { iterations: 0 }],
    ["a tag under 4 bytes", { hashLength: 3 }],
    ["a fractional memory size", { memoryKib: 64.5 }],
    ["a salt under 8 bytes", { salt: new Uint8Array(7) }],
  ];
  for (const engine of ENGINES) {
    for (const [name, bad] of invalid) {
      test(`${engine.name}: rejects ${name}`, async () => {
        const o = { password: "x", salt: new Uint8Array(16), memoryKib: 64, iterations: 1, parallelism: 1, hashLength: 32, native: engine.native, ...bad };
        await expect(argon2id(o)).rejects.toBeInstanceOf(RangeError);
      });
    }
  }
});
