import { afterEach, beforeEach, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { createBlobHasher } from "../../src/chunk/hash.ts";
import { restore } from "../../src/restore/restore.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { packKey } from "../../src/vault/layout.ts";
import { type Vault, initVault, openVault } from "../../src/vault/vault.ts";
import { bytes } from "../support/tree.ts";

let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-sparse-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const MiB = 1024 * 1024;
const T0 = new Date("2026-03-01T10:00:00.000Z");

/** Storage that records every ranged load: [key, offset, end). */
function recording(inner: Storage, loads: [string, number, number][]): Storage {
  return {
    ...inner,
    load: async (key, range) => {
      const data = await inner.load(key, range);
      loads.push([key, range?.offset ?? 0, (range?.offset ?? 0) + data.length]);
      return data;
    },
  };
}

/** A vault with the default chunker (4 MiB zero chunks), encrypted or not, whose loads are recorded. */
async function vaultWith(encrypted: boolean, loads: [string, number, number][]): Promise<Vault> {
  const storage = recording(memoryStorage(), loads);
  const cold = memoryStorage({ location: "memory:cold" });
  const keys = encrypted ? { encryptKey: new Uint8Array(randomBytes(32)), idKey: new Uint8Array(randomBytes(32)) } : undefined;
  await initVault(storage, { cold, now: T0, keys, encryption: encrypted ? { cipher: "aes-256-gcm", kdf: "argon2id" } : undefined });
  return openVault(storage, { cold, keys });
}

/** Whether two files hold the same bytes (read in 8 MiB blocks). */
function sameBytes(a: string, b: string): boolean {
  const fa = openSync(a, "r");
  const fb = openSync(b, "r");
  try {
    const ba = Buffer.alloc(8 * MiB);
    const bb = Buffer.alloc(8 * MiB);
    for (let at = 0; ; at += ba.length) {
      const na = readSync(fa, ba, 0, ba.length, at);
      const nb = readSync(fb, bb, 0, bb.length, at);
      if (na !== nb || ba.compare(bb, 0, nb, 0, na) !== 0) return false;
      if (na === 0) return true;
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

for (const [name, encrypted, hole] of [["plain", false, 64 * MiB], ["encrypted", true, 256 * MiB]] as const) {
  test(`a file with a ${hole / MiB} MiB hole restores identical and sparse; its zero chunks are never loaded (${name} vault)`, async () => {
    const src = join(tmp, "src");
    mkdirSync(src);
    const path = join(src, "disk.img");
    const size = hole + 3 * MiB;
    const fd = openSync(path, "w");
    ftruncateSync(fd, size);
    // Data at the start, in the middle of the hole and at the end.
    for (const [at, seed] of [[0, 1], [Math.floor(hole / 2) + 4099, 2], [size - MiB, 3]]) writeSync(fd, bytes(MiB, seed), 0, MiB, at);
    closeSync(fd);

    const loads: [string, number, number][] = [];
    const vault = await vaultWith(encrypted, loads);
    const { rp } = await backup(vault, src, { resource: "r", now: T0, jobId: "j" });
    const zeroId = (await createBlobHasher(vault.keys?.idKey)).hash(new Uint8Array(vault.config.chunker.max_size));
    const zero = vault.index.get(zeroId);
    expect(zero).not.toBeNull(); // the hole was backed up as the chunker's zero chunk

    loads.length = 0;
    const r = await restore(vault, rp, join(tmp, "out"), { now: T0 });
    expect(r.fragments).toEqual([]);
    const restored = join(r.restoreDir, "disk.img");
    const st = statSync(restored);
    expect(st.size).toBe(size);
    expect(sameBytes(path, restored)).toBe(true);
    // 3 MiB of data plus what shares a chunk with it; the hole stays a hole.
    expect(st.blocks * 512).toBeLessThan(16 * MiB);
    expect(st.blocks * 512).toBeLessThan(size / 4);
    // The zero chunk was never loaded (so never decoded).
    const zeroPack = packKey(zero!.packId);
    expect(loads.filter(([key, start, end]) => key === zeroPack && start <= zero!.offset && zero!.offset < end)).toEqual([]);
  }, 120_000);
}
