/**
 * Argon2id on the SIMD kernel: RFC 9106's test vector, and bit-identical output to hash-wasm's
 * argon2id over a table of parameters (odd memory sizes, 1–8 lanes, 1–4 passes, short and
 * long tags), on one thread and on two, and once at the real 64 MiB, t=3, p=4. The lane
 * schedule is checked on its own with a stand-in kernel.
 */
import { describe, expect, test } from "bun:test";
import { argon2id as portableArgon2id } from "hash-wasm";
import { BLOCKS_AT, failLanes, fillLanes, openLanes } from "../../src/vault/_argon2-lanes.ts";
import { THREAD_MIN_WORK_KIB, argon2id } from "../../src/vault/argon2.ts";
import { argon2ModuleBytes } from "../../src/vault/argon2-wasm.ts";
import { DEFAULT_KDF } from "../../src/vault/keys.ts";
import { prng, randomBytes } from "./fuzz.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

interface Case {
  memoryKib: number;
  iterations: number;
  parallelism: number;
  hashLength: number;
  passwordLength: number;
}

async function reference(c: Case, password: Uint8Array, salt: Uint8Array): Promise<string> {
  return portableArgon2id({ password, salt, memorySize: c.memoryKib, iterations: c.iterations, parallelism: c.parallelism, hashLength: c.hashLength, outputType: "hex" });
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
  { memoryKib: 3000, iterations: 3, parallelism: 2, hashLength: 16, passwordLength: 7 },
  { memoryKib: 3333, iterations: 4, parallelism: 5, hashLength: 64, passwordLength: 40 },
  // at the two-thread default's threshold of memory × passes
  { memoryKib: THREAD_MIN_WORK_KIB, iterations: 1, parallelism: 4, hashLength: 32, passwordLength: 16 },
  { memoryKib: THREAD_MIN_WORK_KIB / 2, iterations: 2, parallelism: 2, hashLength: 32, passwordLength: 16 },
  { memoryKib: 5000, iterations: 2, parallelism: 3, hashLength: 100, passwordLength: 9 },
  { memoryKib: 6150, iterations: 3, parallelism: 8, hashLength: 4, passwordLength: 2 },
];

/** More combinations, seeded: memory from 8 × lanes to 1 MiB, any length, hash-wasm's limits. */
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

describe("argon2id", () => {
  test("the kernel compiles here (the suite would otherwise test hash-wasm against itself)", () => {
    expect(WebAssembly.validate(argon2ModuleBytes({ shared: false }))).toBe(true);
    expect(WebAssembly.validate(argon2ModuleBytes({ shared: true }))).toBe(true);
  });

  test("RFC 9106 section 5.3 test vector (secret and associated data)", async () => {
    const tag = await argon2id({
      password: new Uint8Array(32).fill(1),
      salt: new Uint8Array(16).fill(2),
      secret: new Uint8Array(8).fill(3),
      associatedData: new Uint8Array(12).fill(4),
      memoryKib: 32,
      iterations: 3,
      parallelism: 4,
      hashLength: 32,
    });
    expect(hex(tag)).toBe("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
  });

  for (const [i, c] of [...CASES, ...seededCases(9106, 24)].entries()) {
    test(`m=${c.memoryKib} KiB t=${c.iterations} p=${c.parallelism} T=${c.hashLength} |P|=${c.passwordLength}: same as hash-wasm, on 1 and 2 threads`, async () => {
      const password = randomBytes(100 + i, c.passwordLength);
      const salt = randomBytes(200 + i, 8 + (i % 3) * 12);
      const want = await reference(c, password, salt);
      for (const threads of [undefined, 1, 2]) {
        expect(hex(await argon2id({ ...c, password, salt, threads }))).toBe(want);
      }
    });
  }

  test("a string password is its UTF-8 bytes", async () => {
    const salt = randomBytes(7, 16);
    const params = { memoryKib: 64, iterations: 1, parallelism: 2, hashLength: 32 };
    const fromString = await argon2id({ ...params, password: "pässwörd ✓", salt });
    expect(hex(fromString)).toBe(hex(await argon2id({ ...params, password: new TextEncoder().encode("pässwörd ✓"), salt })));
    expect(hex(fromString)).toBe(await portableArgon2id({ ...params, memorySize: 64, password: "pässwörd ✓", salt, outputType: "hex" }));
  });

  test("a secret changes the output as hash-wasm's does", async () => {
    const c = { memoryKib: 256, iterations: 2, parallelism: 2, hashLength: 32 };
    const password = randomBytes(1, 10);
    const salt = randomBytes(2, 16);
    const secret = randomBytes(3, 32);
    const want = await portableArgon2id({ ...c, memorySize: c.memoryKib, password, salt, secret, outputType: "hex" });
    expect(hex(await argon2id({ ...c, password, salt, secret }))).toBe(want);
  });

  test("calls in flight at once do not disturb each other", async () => {
    const salt = randomBytes(9, 16);
    const c = { memoryKib: THREAD_MIN_WORK_KIB, iterations: 1, parallelism: 2, hashLength: 32 };
    const outs = await Promise.all(["a", "b", "a", "c"].map((password) => argon2id({ ...c, password, salt })));
    const want = await Promise.all(["a", "b", "a", "c"].map((password) => portableArgon2id({ ...c, memorySize: c.memoryKib, password, salt, outputType: "hex" })));
    expect(outs.map(hex)).toEqual(want);
  });

  test("the real parameters (64 MiB, t=3, p=4): same as hash-wasm", async () => {
    const password = "correct horse battery staple";
    const salt = randomBytes(64, 32);
    const c = { memoryKib: DEFAULT_KDF.memoryKib, iterations: DEFAULT_KDF.iterations, parallelism: DEFAULT_KDF.parallelism, hashLength: 32 };
    const want = await portableArgon2id({ ...c, memorySize: c.memoryKib, password, salt, outputType: "hex" });
    expect(hex(await argon2id({ ...c, password, salt }))).toBe(want);
  });

  for (const job of [{ lanes: 1, laneLength: 8, passes: 1 }, { lanes: 4, laneLength: 16, passes: 3 }, { lanes: 7, laneLength: 12, passes: 2 }]) {
    test(`lane schedule, p=${job.lanes} t=${job.passes}: every segment once, slice after slice`, () => {
      const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
      const seen: string[] = [];
      openLanes(memory);
      fillLanes((base, lanes, laneLength, passes, pass, slice, lane) => {
        expect([base, lanes, laneLength, passes]).toEqual([BLOCKS_AT, job.lanes, job.laneLength, job.passes]);
        seen.push(`${pass}/${slice}/${lane}`);
      }, { memory, job, thread: 0, all: true });
      const want = Array.from({ length: job.passes * 4 * job.lanes }, (_, k) => `${Math.floor(k / (4 * job.lanes))}/${Math.floor(k / job.lanes) % 4}/${k % job.lanes}`);
      expect(seen).toEqual(want);
    });
  }

  test("lane schedule: a thread's failure stops the others with an error, not a hang", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    failLanes(memory);
    expect(() => fillLanes(() => {}, { memory, job: { lanes: 2, laneLength: 8, passes: 1 }, thread: 0, all: true })).toThrow("an Argon2id thread failed");
  });

  const invalid: [string, Partial<Case>][] = [
    ["no lanes", { parallelism: 0 }],
    ["less than 8 KiB per lane", { memoryKib: 31, parallelism: 4 }],
    ["no passes", { iterations: 0 }],
    ["a tag under 4 bytes", { hashLength: 3 }],
    ["a fractional memory size", { memoryKib: 64.5 }],
  ];
  for (const [name, bad] of invalid) {
    test(`rejects ${name}`, async () => {
      const o = { password: "x", salt: new Uint8Array(16), memoryKib: 64, iterations: 1, parallelism: 1, hashLength: 32, ...bad };
      await expect(argon2id(o)).rejects.toBeInstanceOf(RangeError);
    });
  }
});
