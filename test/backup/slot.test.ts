import { expect, test } from "bun:test";
import { createExclusiveQueue } from "../../src/backup/exclusive.ts";
import { SlotPool } from "../../src/backup/slot.ts";

test("SlotPool hands out each slot once, at its base, and takes it back reset", async () => {
  const pool = new SlotPool(3, 1000);
  const taken = [pool.pop(), pool.pop(), pool.pop()];
  expect(taken.map((s) => s?.base).sort()).toEqual([0, 1000, 2000]);
  expect(taken.map((s) => s?.no).sort()).toEqual([0, 1, 2]);
  expect(pool.empty).toBe(true);
  expect(pool.pop()).toBeNull();

  const s = taken[1]!;
  s.used = 10;
  s.ranges.push(1000, 10);
  s.reading = 2;
  s.sendWhenRead = true;
  let woken = 0;
  const waits = [pool.changed().then(() => woken++), pool.changed().then(() => woken++)];
  await Promise.resolve();
  expect(woken).toBe(0);
  pool.release(s);
  await Promise.all(waits);
  expect(woken).toBe(2); // every waiter, once
  expect(pool.empty).toBe(false);
  const again = pool.pop()!;
  expect(again).toBe(s);
  expect(again).toMatchObject({ base: 1000, used: 0, ranges: [], sinks: [], sinkIndex: [], files: [], reading: 0, sendWhenRead: false });
});

test("the exclusive queue runs tasks one at a time, in order, and counts them until settled", async () => {
  const q = createExclusiveQueue();
  const log: string[] = [];
  let release!: () => void;
  const first = q.run(async () => {
    log.push("first start");
    await new Promise<void>((r) => (release = r));
    log.push("first end");
    return 1;
  });
  const second = q.run(async () => {
    log.push("second");
    throw new Error("second failed");
  });
  const third = q.run(async () => {
    log.push("third");
    return 3;
  });
  expect(q.pending).toBe(3);
  await Bun.sleep(5);
  expect(log).toEqual(["first start"]); // the others wait for it
  release();
  expect(await first).toBe(1);
  await expect(second).rejects.toThrow("second failed");
  expect(await third).toBe(3); // a failed task does not stop the queue
  expect(log).toEqual(["first start", "first end", "second", "third"]);
  expect(q.pending).toBe(0);
});
