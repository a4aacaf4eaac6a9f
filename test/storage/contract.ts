/**
 * The storage contract suite: every backend runs it with one line,
 * storageContract("local", async () => ({ storage, cleanup })).
 */
import { describe, expect, test, beforeAll, afterAll } from "bun:test";
import { NotFoundError, StorageError, type Storage } from "../../src/storage/storage.ts";
import { randomBytes } from "../support/random.ts";
import { listKeys } from "../support/storage.ts";

export interface OpenedStorage {
  storage: Storage;
  cleanup?: () => Promise<void>;
}

export function storageContract(name: string, open: () => Promise<OpenedStorage>): void {
  describe(`storage contract: ${name}`, () => {
    let opened: OpenedStorage;
    let s: Storage;
    beforeAll(async () => {
      opened = await open();
      s = opened.storage;
    });
    afterAll(async () => {
      await opened?.cleanup?.();
    });

    test("save then load returns the same bytes", async () => {
      const data = randomBytes(100_000, 7);
      await s.save("a/one", data);
      expect(Buffer.from(await s.load("a/one")).equals(Buffer.from(data))).toBe(true);
    });

    test("large objects and views into larger buffers round trip exactly", async () => {
      // Sizes around the direct-write threshold and block size; views at odd and aligned
      // offsets (pack buffers are views), so only the view's bytes may be stored.
      const backing = randomBytes(9 * 1024 * 1024 + 8192, 11);
      for (const [offset, length] of [[0, 1024 * 1024], [4097, 2 * 1024 * 1024 + 1], [0, 4 * 1024 * 1024 + 4096], [13, 9 * 1024 * 1024 - 5], [8192, 1024 * 1024 + 4095]]) {
        const view = backing.subarray(offset, offset + length);
        await s.save("big/obj", view);
        const back = await s.load("big/obj");
        expect(back.length).toBe(length);
        expect(Buffer.from(back).equals(Buffer.from(view))).toBe(true);
        expect((await s.stat("big/obj"))?.size).toBe(length);
      }
    });

    test("create: parts land in order, visible only after commit; abort leaves nothing", async () => {
      if (!s.create) return; // optional capability: backends without it are written with save()
      const backing = randomBytes(6 * 1024 * 1024 + 8192, 5);
      // Aligned and unaligned views, parts shorter than a block, a part longer than 4 MiB.
      const cuts = [[0, 4096], [4096, 100], [4196, 1024 * 1024], [8192 * 129, 3], [8192 * 200, 4 * 1024 * 1024 + 17], [1, 5000], [0, 0]];
      const w = await s.create("streamed/obj");
      const parts = cuts.map(([o, l]) => backing.subarray(o, o + l));
      for (const part of parts) await w.write(part);
      expect(await s.stat("streamed/obj")).toBeNull();
      await w.commit();
      const expected = Buffer.concat(parts);
      const back = await s.load("streamed/obj");
      expect(back.length).toBe(expected.length);
      expect(Buffer.from(back).equals(expected)).toBe(true);
      expect(Buffer.from(await s.load("streamed/obj", { offset: 4097, length: 9000 })).equals(expected.subarray(4097, 13097))).toBe(true);

      const gone = await s.create("streamed/aborted");
      await gone.write(backing.subarray(0, 2 * 1024 * 1024));
      await gone.abort();
      expect(await s.stat("streamed/aborted")).toBeNull();
      const keys: string[] = [];
      for await (const o of s.list("streamed/")) keys.push(o.key);
      expect(keys).toEqual(["streamed/obj"]);
    });

    test("empty objects round trip", async () => {
      await s.save("a/empty", new Uint8Array(0));
      expect((await s.load("a/empty")).length).toBe(0);
      expect((await s.stat("a/empty"))?.size).toBe(0);
    });

    test("range loads return exactly the range", async () => {
      const data = randomBytes(5000, 3);
      await s.save("r/obj", data);
      const part = await s.load("r/obj", { offset: 1000, length: 1234 });
      expect(Buffer.from(part).equals(Buffer.from(data.subarray(1000, 2234)))).toBe(true);
      const tail = await s.load("r/obj", { offset: 4990, length: 10 });
      expect(Buffer.from(tail).equals(Buffer.from(data.subarray(4990)))).toBe(true);
    });

    test("a range past the end throws a permanent StorageError", async () => {
      await s.save("r/short", randomBytes(100));
      let err: unknown;
      try {
        await s.load("r/short", { offset: 90, length: 20 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).permanent).toBe(true);
    });

    test("a missing key throws NotFoundError and stats as null", async () => {
      let err: unknown;
      try {
        await s.load("nope/missing");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NotFoundError);
      expect(await s.stat("nope/missing")).toBeNull();
    });

    test("stat reports size and a recent mtime", async () => {
      await s.save("st/x", randomBytes(321));
      const info = await s.stat("st/x");
      expect(info?.size).toBe(321);
      expect(Math.abs((info?.mtimeMs ?? 0) - Date.now())).toBeLessThan(10 * 60_000);
    });

    test("saving an existing key replaces it whole", async () => {
      await s.save("rep/k", randomBytes(1000, 1));
      await s.save("rep/k", randomBytes(10, 2));
      expect(Buffer.from(await s.load("rep/k")).equals(Buffer.from(randomBytes(10, 2)))).toBe(true);
    });

    test("list yields every key under a prefix exactly once", async () => {
      const want: string[] = [];
      for (let i = 0; i < 25; i++) {
        const key = `l/${(i % 5).toString(16)}/${i.toString().padStart(4, "0")}`;
        want.push(key);
        await s.save(key, randomBytes(i + 1, i + 1));
      }
      await s.save("lx/other", randomBytes(1));
      expect(await listKeys(s, "l/")).toEqual(want.sort());
      expect(await listKeys(s, "l/3/")).toEqual(want.filter((k) => k.startsWith("l/3/")).sort());
      expect(await listKeys(s, "does-not-exist/")).toEqual([]);
      for await (const o of s.list("l/1/")) expect(o.size).toBeGreaterThan(0);
    });

    test("remove deletes, and removing a missing key is fine", async () => {
      await s.save("rm/k", randomBytes(5));
      await s.remove("rm/k");
      expect(await s.stat("rm/k")).toBeNull();
      await s.remove("rm/k");
      expect(await listKeys(s, "rm/")).toEqual([]);
    });

    test("keys that escape are refused", async () => {
      for (const bad of ["../x", "/abs", "a//b", "a/./b", "a/../b", ""]) {
        let err: unknown;
        try {
          await s.save(bad, randomBytes(1));
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(StorageError);
      }
    });

    test("parallel saves of many keys all land", async () => {
      await Promise.all(Array.from({ length: 40 }, (_, i) => s.save(`par/${i}`, randomBytes(64, i + 1))));
      expect((await listKeys(s, "par/")).length).toBe(40);
    });
  });
}
