import { describe, expect, test } from "bun:test";
import { acquireLease, liveLeases } from "../../src/vault/_lease.ts";
import { LockedError } from "../../src/errors.ts";
import { memoryStorage } from "../../src/storage/memory.ts";

function clockedStorage() {
  let t = 1_000_000;
  const storage = memoryStorage({ now: () => t });
  return { storage, clock: () => t, advance(ms: number) { t += ms; } };
}

describe("leases", () => {
  test("a second exclusive claim is refused, naming the holder; free again after release", async () => {
    const { storage, clock, advance } = clockedStorage();
    const a = await acquireLease(storage, "leases/r/", { purpose: 'a backup of "r"', exclusive: true, keys: null, clock, host: "hostA", pid: 111, isAlive: () => true });
    advance(10);
    const err = await acquireLease(storage, "leases/r/", { purpose: 'a backup of "r"', exclusive: true, keys: null, clock, host: "hostB", pid: 222, isAlive: () => true }).catch((e) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect(err.exitCode).toBe(4);
    expect(err.message).toContain('host "hostA", pid 111');
    // the refused claim left nothing behind
    expect((await liveLeases(storage, "leases/r/", { keys: null, clock, isAlive: () => true })).length).toBe(1);
    await a.release();
    advance(10);
    const b = await acquireLease(storage, "leases/r/", { purpose: "x", exclusive: true, keys: null, clock, host: "hostB", pid: 222, isAlive: () => true });
    expect(b.info.host).toBe("hostB");
    expect(a.recovered || b.recovered).toBe(false); // released claims are no sign of a crash
    await b.release();
    const keys: string[] = [];
    for await (const o of storage.list("leases/")) keys.push(o.key);
    expect(keys).toEqual([]);
  });

  test("shared claims coexist; exclusive waits for them; shared is refused by an older exclusive", async () => {
    const { storage, clock, advance } = clockedStorage();
    const opts = { clock, host: "h", pid: 1, isAlive: () => true, keys: null };
    const s1 = await acquireLease(storage, "locks/", { ...opts, purpose: "backup 1", exclusive: false });
    advance(1);
    const s2 = await acquireLease(storage, "locks/", { ...opts, purpose: "backup 2", exclusive: false });
    advance(1);
    expect(await acquireLease(storage, "locks/", { ...opts, purpose: "prune", exclusive: true }).catch((e) => e)).toBeInstanceOf(LockedError);
    await s1.release();
    await s2.release();
    advance(1);
    const ex = await acquireLease(storage, "locks/", { ...opts, purpose: "prune", exclusive: true });
    advance(1);
    const err = await acquireLease(storage, "locks/", { ...opts, purpose: "backup 3", exclusive: false }).catch((e) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect(err.message).toContain("prune holds the lease");
    await ex.release();
  });

  test("a claim of a dead process on this host is freed at once", async () => {
    const { storage, clock, advance } = clockedStorage();
    await acquireLease(storage, "leases/r/", { purpose: "old", exclusive: true, keys: null, clock, host: "me", pid: 999_999, isAlive: () => true });
    advance(5);
    const b = await acquireLease(storage, "leases/r/", { purpose: "new", exclusive: true, keys: null, clock, host: "me", pid: 5, isAlive: (pid) => pid !== 999_999 });
    expect(b.info.purpose).toBe("new");
    expect(b.recovered).toBe(true); // a crash may have left work behind
    const live = await liveLeases(storage, "leases/r/", { keys: null, clock, host: "me", isAlive: () => true });
    expect(live.map((l) => l.info?.purpose)).toEqual(["new"]);
  });

  test("a claim not refreshed within the ttl expires by itself (other host)", async () => {
    const { storage, clock, advance } = clockedStorage();
    await acquireLease(storage, "leases/r/", { purpose: "old", exclusive: true, keys: null, clock, host: "other", pid: 1, ttlMs: 60_000 });
    advance(30_000);
    expect(await acquireLease(storage, "leases/r/", { purpose: "new", exclusive: true, keys: null, clock, host: "me", pid: 2, ttlMs: 60_000 }).catch((e) => e)).toBeInstanceOf(LockedError);
    advance(31_000);
    const b = await acquireLease(storage, "leases/r/", { purpose: "new", exclusive: true, keys: null, clock, host: "me", pid: 2, ttlMs: 60_000 });
    expect(b.info.purpose).toBe("new");
  });

  test("the older claim wins even if it becomes visible only while the newer one settles", async () => {
    const { storage, clock } = clockedStorage();
    const other = { id: "0000", purpose: "the other backup", exclusive: true, host: "other", pid: 1, job_id: null, started_at: "x", refreshed_at: "x" };
    let lists = 0;
    // The other host's claim has an earlier storage time, but listing shows it only from the second look on.
    const racing = {
      ...storage,
      async *list(prefix: string) {
        lists++;
        for await (const o of storage.list(prefix)) yield o;
        if (lists > 1) yield { key: "leases/r/0000", size: 1, mtimeMs: clock() - 5 };
      },
      async load(key: string, range?: { offset: number; length: number }) {
        return key === "leases/r/0000" ? new TextEncoder().encode(JSON.stringify(other)) : storage.load(key, range);
      },
    };
    const err = await acquireLease(racing, "leases/r/", { purpose: "mine", exclusive: true, keys: null, clock, host: "me", pid: 2, settleMs: 1 }).catch((e) => e);
    expect(lists).toBe(2);
    expect(err).toBeInstanceOf(LockedError);
    expect(err.message).toContain("the other backup");
  });
});
