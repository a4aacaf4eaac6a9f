import { describe, expect, test } from "bun:test";
import { faulty } from "./faulty.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import { NotFoundError, StorageError } from "../../src/storage/storage.ts";
import { rejectionOf } from "../support/errors.ts";

const data = new Uint8Array(64).map((_, i) => i);

describe("faulty", () => {
  test("without rules it passes everything through and counts calls", async () => {
    const f = faulty(memoryStorage());
    await f.save("a", data);
    expect(await f.load("a")).toEqual(data);
    expect((await f.stat("a"))?.size).toBe(64);
    for await (const _ of f.list("")) { /* drain */ }
    await f.remove("a");
    expect(f.calls).toEqual({ save: 1, load: 1, stat: 1, list: 1, remove: 1 });
    expect(f.hits).toEqual({ save: 0, load: 0, stat: 0, list: 0, remove: 0 });
  });

  test("nth and times pick which calls fail", async () => {
    const f = faulty(memoryStorage());
    await f.save("a", data);
    f.on("load", { nth: 2, times: 2, error: "transient" });
    const results = [];
    for (let i = 0; i < 5; i++) results.push((await rejectionOf(f.load("a"))) === undefined);
    expect(results).toEqual([true, false, false, true, true]);
  });

  test("times alone fails the first calls; no nth/times fails every call", async () => {
    const f = faulty(memoryStorage());
    f.on("save", { times: 1, error: "permanent" });
    const first = await rejectionOf(f.save("a", data));
    expect((first as StorageError).permanent).toBe(true);
    await f.save("a", data);
    f.on("stat", { error: "transient" });
    for (let i = 0; i < 3; i++) expect((await rejectionOf(f.stat("a"))) as StorageError).toBeInstanceOf(StorageError);
  });

  test("key filters by exact key or pattern, and counts only matching calls", async () => {
    const f = faulty(memoryStorage());
    await f.save("packs/1", data);
    await f.save("index/1", data);
    f.on("load", { key: /^packs\//, nth: 2, error: "transient" });
    await f.load("index/1");
    await f.load("packs/1");
    await f.load("index/1");
    expect(await rejectionOf(f.load("packs/1"))).toBeInstanceOf(StorageError);
    f.clear().on("load", { key: "index/1", error: "notfound" });
    expect(await rejectionOf(f.load("index/1"))).toBeInstanceOf(NotFoundError);
    expect(await f.load("packs/1")).toEqual(data);
  });

  test("flipBit corrupts exactly one bit of a load, and of a save", async () => {
    const inner = memoryStorage();
    const f = faulty(inner, { seed: 3 });
    await inner.save("a", data);
    f.on("load", { nth: 1, flipBit: true });
    const got = await f.load("a");
    let bits = 0;
    for (let i = 0; i < data.length; i++) bits += popcount(got[i]! ^ data[i]!);
    expect(bits).toBe(1);
    expect(await f.load("a")).toEqual(data);
    f.on("save", { flipBit: true });
    await f.save("b", data);
    expect(await inner.load("b")).not.toEqual(data);
  });

  test("truncate keeps the first bytes", async () => {
    const inner = memoryStorage();
    const f = faulty(inner);
    await inner.save("a", data);
    f.on("load", { truncate: 10 });
    expect(await f.load("a")).toEqual(data.slice(0, 10));
    f.on("save", { truncate: 3 });
    await f.save("b", data);
    expect((await inner.stat("b"))?.size).toBe(3);
  });

  test("delayMs waits through the injected sleep", async () => {
    const waits: number[] = [];
    const f = faulty(memoryStorage(), { sleep: async (ms) => { waits.push(ms); } });
    f.on("stat", { delayMs: 250 });
    expect(await f.stat("x")).toBeNull();
    expect(waits).toEqual([250]);
  });

  test("notfound makes stat null and list empty", async () => {
    const f = faulty(memoryStorage());
    await f.save("a/1", data);
    f.on("stat", { error: "notfound" }).on("list", { error: "notfound" });
    expect(await f.stat("a/1")).toBeNull();
    const keys: string[] = [];
    for await (const o of f.list("a/")) keys.push(o.key);
    expect(keys).toEqual([]);
  });

  test("rate hits about that share of calls, the same way for the same seed", async () => {
    async function run(seed: number): Promise<boolean[]> {
      const f = faulty(memoryStorage(), { seed });
      f.on("stat", { rate: 0.25, error: "transient" });
      const out: boolean[] = [];
      for (let i = 0; i < 400; i++) out.push((await rejectionOf(f.stat("k"))) !== undefined);
      return out;
    }
    const a = await run(11);
    expect(a).toEqual(await run(11));
    const share = a.filter(Boolean).length / a.length;
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.35);
  });
});

function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}
