import { expect, test } from "bun:test";
import { storageContract } from "./contract.ts";
import { memoryStorage } from "../../src/storage/memory.ts";

storageContract("memory", async () => ({ storage: memoryStorage() }));

test("memory storage copies on save, write and load: callers may reuse their buffers", async () => {
  const s = memoryStorage();
  const buf = new Uint8Array([1, 2, 3, 4]);
  await s.save("a", buf);
  const w = await s.create!("b");
  await w.write(buf);
  buf.fill(9); // a pack buffer goes back to its worker once written
  await w.commit();
  expect([...(await s.load("a"))]).toEqual([1, 2, 3, 4]);
  expect([...(await s.load("b"))]).toEqual([1, 2, 3, 4]); // written before the fill
  const loaded = await s.load("a");
  loaded.fill(0);
  expect([...(await s.load("a"))]).toEqual([1, 2, 3, 4]);
});
