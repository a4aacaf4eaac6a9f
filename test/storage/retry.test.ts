import { describe, expect, test } from "bun:test";
import { storageContract } from "./contract.ts";
import { faulty } from "./faulty.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import { type RetryInfo, backoffDelay, isRetryable, withRetry } from "../../src/storage/retry.ts";
import { NotFoundError, StorageError, type Storage } from "../../src/storage/storage.ts";
import { caught } from "../support/errors.ts";
import { rng } from "../support/random.ts";
import { listKeys } from "../support/storage.ts";

storageContract("memory under faulty and withRetry (no faults)", async () => ({
  storage: withRetry(faulty(memoryStorage())),
}));

storageContract("memory under withRetry with 30% of saves, loads and stats failing transiently", async () => {
  const f = faulty(memoryStorage({ location: "memory:flaky" }), { seed: 7 });
  f.on("save", { rate: 0.3, error: "transient" }).on("load", { rate: 0.3, error: "transient" }).on("stat", { rate: 0.3, error: "transient" });
  return { storage: withRetry(f, { attempts: 30, sleep: async () => {} }) };
});

const data = new Uint8Array([1, 2, 3, 4, 5]);

function setup(retry: Parameters<typeof withRetry>[1] = {}) {
  const inner = memoryStorage({ location: "memory:test" });
  const f = faulty(inner);
  const delays: number[] = [];
  const retried: RetryInfo[] = [];
  const s = withRetry(f, {
    sleep: async (ms) => { delays.push(ms); },
    random: () => 0.5,
    onRetry: (i) => retried.push(i),
    ...retry,
  });
  return { inner, f, s, delays, retried };
}

describe("withRetry", () => {
  const ops = [
    { op: "save" as const, call: (s: Storage) => s.save("k/1", data) },
    { op: "load" as const, call: (s: Storage) => s.load("k/1") },
    { op: "stat" as const, call: (s: Storage) => s.stat("k/1") },
    { op: "remove" as const, call: (s: Storage) => s.remove("k/1") },
    { op: "list" as const, call: (s: Storage) => listKeys(s, "k/") },
  ];

  for (const c of ops) {
    test(`${c.op}: transient failures are retried and the call succeeds`, async () => {
      const { inner, f, s, retried } = setup();
      await inner.save("k/1", data);
      f.on(c.op, { times: 3, error: "transient" });
      await c.call(s);
      expect(f.calls[c.op]).toBe(4);
      expect(retried.map((r) => r.attempt)).toEqual([1, 2, 3]);
      expect(retried.every((r) => r.op === c.op)).toBe(true);
    });

    test(`${c.op}: permanent failures are not retried`, async () => {
      const { inner, f, s, delays } = setup();
      await inner.save("k/1", data);
      f.on(c.op, { error: "permanent" });
      const err = await caught(c.call(s));
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).message).toContain("injected permanent fault");
      expect(f.calls[c.op]).toBe(1);
      expect(delays).toEqual([]);
    });
  }

  test("NotFoundError passes straight through", async () => {
    const { f, s, delays } = setup();
    const err = await caught(s.load("missing/x"));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(f.calls.load).toBe(1);
    expect(delays).toEqual([]);
  });

  test("the nth call fails once and only that call is retried", async () => {
    const { inner, f, s } = setup();
    await inner.save("a", data);
    f.on("load", { nth: 3, error: "transient" });
    for (let i = 0; i < 5; i++) expect(await s.load("a")).toEqual(data);
    expect(f.calls.load).toBe(6);
    expect(f.hits.load).toBe(1);
  });

  test("giving up says what, where, why and how often", async () => {
    const { f, s } = setup({ attempts: 4 });
    f.on("save", { error: "transient" });
    const err = await caught(s.save("packs/ab/abcd", data));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).permanent).toBe(true);
    expect((err as StorageError).key).toBe("packs/ab/abcd");
    expect((err as Error).message).toBe('Cannot save "packs/ab/abcd" in "memory:test": injected transient fault (gave up after 4 attempts)');
    expect(f.calls.save).toBe(4);
  });

  test("giving up on a raw network error names its code", async () => {
    const inner = memoryStorage({ location: "memory:net" });
    const broken: Storage = { ...inner, load: async () => { throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }); } };
    const err = await caught(withRetry(broken, { attempts: 2, sleep: async () => {} }).load("x"));
    expect((err as Error).message).toBe('Cannot load "x" in "memory:net": socket hang up (ECONNRESET) (gave up after 2 attempts)');
  });

  test("unknown errors (bugs) are not retried", async () => {
    let calls = 0;
    const inner = memoryStorage();
    const buggy: Storage = { ...inner, stat: async () => { calls++; throw new TypeError("x is undefined"); } };
    const err = await caught(withRetry(buggy, { sleep: async () => {} }).stat("k"));
    expect(err).toBeInstanceOf(TypeError);
    expect(calls).toBe(1);
  });

  test("delays grow exponentially up to the cap (random fixed at 0.5)", async () => {
    const { f, s, delays } = setup({ attempts: 9, baseMs: 100, maxMs: 2_000 });
    f.on("load", { error: "transient" });
    await caught(s.load("x"));
    expect(delays).toEqual([50, 100, 200, 400, 800, 1000, 1000, 1000]);
  });

  test("default policy: 6 attempts, 200 ms base, 10 s cap", async () => {
    const { f, s, delays } = setup({ random: () => 0.999999 });
    f.on("stat", { error: "transient" });
    await caught(s.stat("x"));
    expect(f.calls.stat).toBe(6);
    expect(delays).toEqual([199, 399, 799, 1599, 3199]);
  });

  test("jitter stays within [0, cap) for any random value", () => {
    const rnd = rng(42);
    for (let attempt = 1; attempt <= 12; attempt++) {
      const cap = Math.min(10_000, 200 * 2 ** (attempt - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(attempt, { baseMs: 200, maxMs: 10_000, random: rnd });
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(cap);
      }
      expect(backoffDelay(attempt, { baseMs: 200, maxMs: 10_000, random: () => 0 })).toBe(0);
    }
  });

  test("list is restarted while nothing was yielded", async () => {
    const { inner, f, s } = setup();
    for (const k of ["l/a", "l/b", "l/c"]) await inner.save(k, data);
    f.on("list", { times: 2, error: "transient" });
    expect(await listKeys(s, "l/")).toEqual(["l/a", "l/b", "l/c"]);
    expect(f.calls.list).toBe(3);
  });

  test("list fails as it is once keys were yielded (no duplicates)", async () => {
    const { inner, f, s, delays } = setup();
    for (const k of ["l/a", "l/b", "l/c"]) await inner.save(k, data);
    f.on("list", { afterItems: 2, error: "transient" });
    const seen: string[] = [];
    const err = await caught((async () => { for await (const o of s.list("l/")) seen.push(o.key); })());
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).permanent).toBe(false);
    expect(seen.length).toBe(2);
    expect(f.calls.list).toBe(1);
    expect(delays).toEqual([]);
  });

  test("a sorted listing is resumed after the last key at each failed page, every page with its own attempts", async () => {
    // A listing in key order (like S3's) that fails at every 3rd key, 5 times in a row at key 7:
    // more failures in all than `attempts`, but never more than attempts - 1 on one page.
    const keys = Array.from({ length: 10 }, (_, i) => `l/${i}`);
    const failures = new Map<number, number>([[3, 2], [6, 1], [7, 5], [9, 2]]);
    const calls: (string | undefined)[] = [];
    const sorted: Storage = {
      ...memoryStorage({ location: "memory:sorted" }),
      sortedList: true,
      async *list(_prefix, options) {
        calls.push(options?.startAfter);
        for (const [i, k] of keys.entries()) {
          const after = options?.startAfter;
          // Every other call honours startAfter; the others start over (the wrapper passes over those keys).
          if (after !== undefined && k <= after) {
            if (calls.length % 2 === 0) continue;
            yield { key: k, size: 1, mtimeMs: 0 };
            continue;
          }
          const left = failures.get(i) ?? 0;
          if (left > 0) {
            failures.set(i, left - 1);
            throw new StorageError("Cannot list: 503", { permanent: false });
          }
          yield { key: k, size: 1, mtimeMs: 0 };
        }
      },
    };
    const retried: RetryInfo[] = [];
    const s = withRetry(sorted, { sleep: async () => {}, onRetry: (i) => retried.push(i) });
    expect(s.sortedList).toBe(true);
    expect(await listKeys(s, "l/")).toEqual(keys);
    expect(retried.length).toBe(10);
    expect(retried.map((r) => r.attempt)).toEqual([1, 2, 1, 1, 2, 3, 4, 5, 1, 2]);
    expect(calls.slice(1).every((c) => c !== undefined)).toBe(true);
  });

  test("a sorted listing still gives up after `attempts` failures on one page", async () => {
    const sorted: Storage = {
      ...memoryStorage({ location: "memory:sorted" }),
      sortedList: true,
      async *list() {
        yield { key: "l/0", size: 1, mtimeMs: 0 };
        throw new StorageError("Cannot list: 503", { permanent: false });
      },
    };
    const s = withRetry(sorted, { sleep: async () => {}, attempts: 3 });
    const err = await caught(listKeys(s, "l/"));
    expect((err as StorageError).message).toContain("gave up after 3 attempts");
  });

  test("a load the caller says must exist is retried on NotFound, a bounded number of times", async () => {
    const { inner, f, s, retried } = setup({ mustExist: (k) => k.startsWith("packs/") });
    await inner.save("packs/ab", data);
    f.on("load", { key: "packs/ab", times: 2, error: "notfound" });
    expect(await s.load("packs/ab")).toEqual(data);
    expect(retried.map((r) => [r.op, r.attempt])).toEqual([["load", 1], ["load", 2]]);
    // Still missing after notFoundRetries: the NotFoundError itself.
    const gone = await caught(s.load("packs/none"));
    expect(gone).toBeInstanceOf(NotFoundError);
    expect(retried.length).toBe(4);
    // Keys not named by the vault are not retried.
    expect(await caught(s.load("config"))).toBeInstanceOf(NotFoundError);
    expect(retried.length).toBe(4);
  });

  test("nothing is retried once the signal is aborted, and a wait ends at once", async () => {
    const stop = new AbortController();
    const inner = faulty(memoryStorage({ location: "memory:stop" }));
    inner.on("save", { times: 10, error: "transient" });
    let waits = 0;
    const s = withRetry(inner, {
      signal: stop.signal,
      sleep: (ms) => { waits++; stop.abort(); return new Promise((r) => setTimeout(r, ms * 1000)); },
      random: () => 0.9,
    });
    const started = performance.now();
    const err = await caught(s.save("k", data));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(err).toBeInstanceOf(StorageError);
    expect(waits).toBe(1);
    expect(inner.calls.save).toBe(1);
  });

  test("isRetryable: which errors are worth another try", () => {
    const cases: [unknown, boolean][] = [
      [new StorageError("x", { permanent: false }), true],
      [new StorageError("x", { permanent: true }), false],
      [new NotFoundError("k", "memory:"), false],
      [Object.assign(new Error("reset"), { code: "ECONNRESET" }), true],
      [Object.assign(new Error("timeout"), { code: "ETIMEDOUT" }), true],
      [new TypeError("fetch failed"), true],
      [Object.assign(new Error("t"), { name: "TimeoutError" }), true],
      [Object.assign(new Error("aborted"), { name: "AbortError" }), false],
      [new Error("plain"), false],
      ["string", false],
      [null, false],
    ];
    for (const [err, want] of cases) expect(isRetryable(err)).toBe(want);
  });

  test("the wrapper keeps the location", () => {
    expect(withRetry(memoryStorage({ location: "memory:loc" })).location).toBe("memory:loc");
  });
});

