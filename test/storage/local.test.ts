import { expect, test } from "bun:test";
import { mkdtemp, rm, stat, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { storageContract } from "./contract.ts";
import { localStorage } from "../../src/storage/local.ts";

storageContract("local", async () => {
  const dir = await mkdtemp(join(tmpdir(), "efsbak-local-"));
  return { storage: localStorage(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

test("local files are 0600, folders 0700, and no temp files remain", async () => {
  const dir = await mkdtemp(join(tmpdir(), "efsbak-perm-"));
  try {
    const s = localStorage(join(dir, "vault"));
    await s.save("packs/ab/abcdef", new Uint8Array([1, 2, 3]));
    expect((await stat(join(dir, "vault/packs/ab/abcdef"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "vault/packs/ab"))).mode & 0o777).toBe(0o700);
    expect(await readdir(join(dir, "vault/packs/ab"))).toEqual(["abcdef"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("large objects are written with O_DIRECT where it works, buffered where the file system refuses it", async () => {
  // /dev/shm is tmpfs, which answers O_DIRECT with EINVAL: the save must still land whole.
  const dirs = [await mkdtemp(join(tmpdir(), "efsbak-direct-"))];
  if (await stat("/dev/shm").then((st) => st.isDirectory(), () => false)) dirs.push(await mkdtemp("/dev/shm/efsbak-direct-"));
  try {
    for (const dir of dirs) {
      const s = localStorage(join(dir, "vault"));
      const data = new Uint8Array(3 * 1024 * 1024 + 777);
      for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
      await s.save("packs/aa/big", data);
      await s.save("packs/aa/big2", data.subarray(1)); // unaligned view
      const w = await s.create!("packs/aa/big3");
      await w.write(data.subarray(0, 4096 * 300));
      await w.write(data.subarray(4096 * 300));
      await w.commit();
      expect(Buffer.from(await s.load("packs/aa/big3")).equals(Buffer.from(data))).toBe(true);
      expect(Buffer.from(await s.load("packs/aa/big")).equals(Buffer.from(data))).toBe(true);
      expect(Buffer.from(await s.load("packs/aa/big2")).equals(Buffer.from(data.subarray(1)))).toBe(true);
      expect((await stat(join(dir, "vault/packs/aa/big"))).mode & 0o777).toBe(0o600);
      expect((await readdir(join(dir, "vault/packs/aa"))).sort()).toEqual(["big", "big2", "big3"]);
    }
  } finally {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
});
