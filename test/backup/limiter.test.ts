import { describe, expect, test } from "bun:test";
import { Limiter } from "../../src/backup/limiter.ts";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("Limiter", () => {
  test("runs at most `limit` tasks at once and all of them in the end", async () => {
    const l = new Limiter(3);
    let now = 0;
    let most = 0;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => l.run(async () => {
      now++;
      most = Math.max(most, now);
      await new Promise((r) => setTimeout(r, 1 + (i % 3)));
      now--;
      return i * 2;
    })));
    expect(most).toBe(3);
    expect(l.peak).toBe(3);
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(l.running).toBe(0);
    expect(l.queued).toBe(0);
  });

  test("FIFO by default, newest first with lifo", async () => {
    for (const lifo of [false, true]) {
      const l = new Limiter(1, { lifo });
      const gate = deferred();
      const order: number[] = [];
      const first = l.run(() => gate.promise);
      const rest = [1, 2, 3].map((i) => l.run(async () => void order.push(i)));
      expect(l.queued).toBe(3);
      gate.resolve();
      await Promise.all([first, ...rest]);
      expect(order).toEqual(lifo ? [3, 2, 1] : [1, 2, 3]);
    }
  });

  test("a failing task frees its place and rejects to its caller only", async () => {
    const l = new Limiter(1);
    const bad = l.run(async () => {
      throw new Error("EIO");
    });
    const good = l.run(async () => 7);
    await expect(bad).rejects.toThrow("EIO");
    expect(await good).toBe(7);
    expect(l.running).toBe(0);
  });

  test("refuses a limit below 1", () => {
    expect(() => new Limiter(0)).toThrow(RangeError);
  });
});
