/**
 * Leases and vault locks: the protocol (_lease.ts: exclusive/shared, dead and stale claims, a
 * claim that shows up late, a claim that cannot be read) and the one way to take them
 * (lock.ts: sealed in encrypted vaults, a drill against a prune, read-only use).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { LockedError } from "../../src/errors.ts";
import { runDrill } from "../../src/jobs/drill.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import { type Storage, StorageError } from "../../src/storage/storage.ts";
import { acquireLease, liveLeases } from "../../src/vault/_lease.ts";
import { TEST_KDF, initEncryptedVault } from "../../src/vault/keys.ts";
import { acquireResourceLease, acquireVaultLock } from "../../src/vault/lock.ts";
import { type Vault, openVault } from "../../src/vault/vault.ts";
import { bytes, makeTree } from "../support/tree.ts";
import { TEST_CHUNKER, testVault } from "../support/vault.ts";

let tmp: string;
beforeAll(() => void (tmp = mkdtempSync(join(tmpdir(), "efsbak-lock-"))));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

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

describe("claims that cannot be read", () => {
  const cases = [
    { name: "plaintext JSON in an encrypted vault's folder", sealed: true, bytes: () => new TextEncoder().encode(JSON.stringify({ id: "0000", purpose: "a drill", exclusive: false, host: "h", pid: 1, job_id: null, started_at: "x", refreshed_at: "x" })) },
    { name: "garbage in a plaintext vault's folder", sealed: false, bytes: () => new Uint8Array([0x45, 0x46, 0x53, 0x4f, 1, 2, 3]) },
    { name: "JSON that is not a claim", sealed: false, bytes: () => new TextEncoder().encode("[1,2,3]") },
  ];
  for (const c of cases) {
    test(`${c.name}: held by an unknown holder until stale by storage time, for shared and exclusive alike`, async () => {
      const { storage, clock, advance } = clockedStorage();
      const keys = c.sealed ? (await encryptedVault()).keys : null;
      await storage.save("locks/0000", c.bytes());
      advance(1_000);
      const opts = { clock, host: "me", pid: 2, isAlive: () => true, keys, ttlMs: 60_000 };
      for (const exclusive of [true, false]) {
        const err = await acquireLease(storage, "locks/", { ...opts, purpose: "a prune", exclusive }).catch((e) => e);
        expect(err).toBeInstanceOf(LockedError);
        expect(err.message).toContain('an unknown holder holds the lease (its claim "locks/0000"');
        expect(err.message).toContain("cannot be read");
      }
      advance(60_000); // 61 s since it was stored: stale
      const lease = await acquireLease(storage, "locks/", { ...opts, purpose: "a prune", exclusive: true });
      expect(lease.recovered).toBe(true);
      await lease.release();
    });
  }

  test("an unreadable claim newer than mine does not block me", async () => {
    const { storage, clock, advance } = clockedStorage();
    const first = await acquireLease(storage, "locks/", { purpose: "a prune", exclusive: true, keys: null, clock, host: "me", pid: 2, isAlive: () => true });
    advance(10);
    await storage.save("locks/ffff", new TextEncoder().encode("not json"));
    // Seen from a second taker, the prune (older) holds it, and the unreadable one is behind.
    const err = await acquireLease(storage, "locks/", { purpose: "a restore", exclusive: false, keys: null, clock, host: "me", pid: 3, isAlive: () => true }).catch((e) => e);
    expect(err.message).toContain("a prune holds the lease");
    await first.release();
  });
});

describe("vault locks through lock.ts", () => {
  test("encrypted vault: a drill's shared claim and a prune's exclusive one conflict, both ways; no claim shows a resource name", async () => {
    const vault = await encryptedVault();
    const src = join(tmp, "drill-src");
    makeTree(src, { "a.bin": bytes(50_000, 9), "b.txt": "bee\n" });
    await backup(vault, src, { resource: "fs-secret-home", now: new Date("2026-11-01T00:00:00Z"), jobId: "j1" });
    const scratch = join(tmp, "scratch");
    const drillOptions = { vaultName: "v", now: () => new Date("2026-11-02T00:00:00Z"), scratch, random: () => 0, clock: () => performance.now(), settleMs: 0 };

    // The drill holds its claim while it restores: the prune that tries then is refused, and
    // the claims under locks/ are sealed (no resource name, purpose, host or job in them).
    let pruneErr: unknown = null;
    let seen: { key: string; raw: Buffer }[] = [];
    const hooked: Storage = {
      ...vault.storage,
      location: vault.storage.location,
      async load(key, range) {
        if (key.startsWith("packs/") && pruneErr === null) {
          seen = [];
          for await (const o of vault.storage.list("locks/")) seen.push({ key: o.key, raw: Buffer.from(await vault.storage.load(o.key)) });
          pruneErr = await acquireVaultLock(vault, { purpose: "a prune", exclusive: true, settleMs: 0 }).then((l) => l.release().then(() => "taken"), (e) => e);
        }
        return vault.storage.load(key, range);
      },
    };
    const drilled = await runDrill(await openVault(hooked, { cold: vault.cold, keys: vault.keys }), "fs-secret-home", drillOptions);
    expect(drilled.state).toBe("COMPLETED");
    expect(pruneErr).toBeInstanceOf(LockedError);
    expect((pruneErr as Error).message).toContain('Cannot start a prune: a drill of "fs-secret-home" holds the lease');
    expect(seen.length).toBe(1);
    for (const word of ["fs-secret-home", "drill", "purpose", "host"]) expect(seen[0].raw.includes(word)).toBe(false);
    expect((await liveLeases(vault.storage, "locks/", { keys: vault.keys })).length).toBe(0); // released

    // A prune holds the vault: the drill is refused, naming it (it read the prune's sealed claim).
    const prune = await acquireVaultLock(vault, { purpose: "a prune", exclusive: true, settleMs: 0 });
    await Bun.sleep(5); // a later storage time: claims in the same millisecond are ordered by id
    const err = await runDrill(vault, "fs-secret-home", drillOptions).catch((e) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect(err.message).toContain('Cannot start a drill of "fs-secret-home": a prune holds the lease');
    await prune.release();
  });

  test("the resource lease lives under the keyed folder and is sealed; a second one is refused", async () => {
    const vault = await encryptedVault();
    const a = await acquireResourceLease(vault, "fs-secret-home", { purpose: 'a backup of "fs-secret-home"', host: "host-a", pid: 1, isAlive: () => true });
    const keys: string[] = [];
    for await (const o of vault.storage.list("leases/")) keys.push(o.key);
    expect(keys.length).toBe(1);
    expect(keys[0]).toMatch(/^leases\/[0-9a-f]{32}\/[0-9a-f]{32}$/);
    await Bun.sleep(5); // a later storage time: claims in the same millisecond are ordered by id
    const err = await acquireResourceLease(vault, "fs-secret-home", { purpose: "another", host: "host-b", pid: 2, isAlive: () => true }).catch((e) => e);
    expect(err.message).toContain('a backup of "fs-secret-home" holds the lease (host "host-a", pid 1');
    await a.release();
  });

  test("read-only use: a claim refused for lack of permission goes on without a lock, with one warning", async () => {
    for (const code of ["EACCES", "EROFS", "AccessDenied"]) {
      const vault = await testVault({ storage: refusing(new StorageError(`Cannot save "locks/x" in "memory": ${code}`, { permanent: true, denied: code })) });
      const warnings: string[] = [];
      const lock = await acquireVaultLock(vault, { purpose: "a restore", exclusive: false, settleMs: 0, onReadOnly: (m) => warnings.push(m) });
      expect(lock.held).toBe(false);
      expect(warnings).toEqual([`Cannot lock vault "${vault.location}": writing to "locks/" was refused (${code}); going on without a lock (read-only use)`]);
      await lock.release();
      // Without onReadOnly (backup, prune, drill) the refusal is an error, as before.
      expect(await acquireVaultLock(vault, { purpose: "a prune", exclusive: true, settleMs: 0 }).catch((e) => e)).toBeInstanceOf(StorageError);
    }
  });

  test("read-only use: any other failure to save the claim fails as before", async () => {
    const vault = await testVault({ storage: refusing(new StorageError('Cannot save "locks/x" in "memory": ENOSPC', { permanent: true })) });
    const warnings: string[] = [];
    const err = await acquireVaultLock(vault, { purpose: "a restore", exclusive: false, settleMs: 0, onReadOnly: (m) => warnings.push(m) }).catch((e) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err.message).toContain("ENOSPC");
    expect(warnings).toEqual([]);
  });

  test("an aborted signal while the claim settles removes the claim", async () => {
    const vault = await testVault();
    const stop = new AbortController();
    const taking = acquireVaultLock(vault, { purpose: "a restore", exclusive: false, settleMs: 5_000, signal: stop.signal });
    setTimeout(() => stop.abort(), 20);
    const err = await taking.catch((e) => e);
    expect(err.message).toBe("Cannot start a restore: interrupted while taking the lease");
    const left: string[] = [];
    for await (const o of vault.storage.list("locks/")) left.push(o.key);
    expect(left).toEqual([]);
  });
});

/** An encrypted in-memory vault with cheap Argon2id. */
async function encryptedVault(): Promise<Vault> {
  const storage = memoryStorage();
  const cold = memoryStorage({ location: "memory:cold" });
  const { unlocked } = await initEncryptedVault(storage, "pw", { cold, now: new Date("2026-11-01T00:00:00Z"), chunker: TEST_CHUNKER, kdf: TEST_KDF });
  return openVault(storage, { cold, keys: unlocked.keys });
}

/** Memory storage that refuses every save under locks/ with `error`. */
function refusing(error: Error): Storage {
  const inner = memoryStorage();
  return {
    ...inner,
    location: inner.location,
    async save(key, data) {
      if (key.startsWith("locks/")) throw error;
      return inner.save(key, data);
    },
  };
}
