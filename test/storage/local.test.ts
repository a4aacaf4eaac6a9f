import { describe, expect, test } from "bun:test";
import { lstat, mkdir, mkdtemp, readFile, rm, stat, readdir, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { storageContract } from "./contract.ts";
import { localStorage } from "../../src/storage/local.ts";
import { UnsafeObjectError } from "../../src/storage/storage.ts";

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

// Attack 4 of "Vaults under attack": a local vault must never follow a link below its root.
// A pack replaced by a link to a file the attacker cannot read, plus an index of 1-byte
// blobs, made the CRC check an oracle on that file; packs/ and index/ as links made a backup
// write into another directory.
describe("local storage follows no symbolic link below its root", () => {
  async function setup() {
    const dir = await mkdtemp(join(tmpdir(), "efsbak-links-"));
    const root = join(dir, "vault");
    const elsewhere = join(dir, "elsewhere");
    await mkdir(elsewhere);
    await writeFile(join(elsewhere, "secret"), "root-only secret bytes");
    const s = localStorage(root);
    await s.save("packs/ab/abcdef", new Uint8Array([1, 2, 3]));
    await s.save("index/00", new Uint8Array([4]));
    return { dir, root, elsewhere, s, cleanup: () => rm(dir, { recursive: true, force: true }) };
  }

  async function refusal(p: Promise<unknown>): Promise<UnsafeObjectError> {
    const err = await p.then(() => null, (e) => e);
    expect(err).toBeInstanceOf(UnsafeObjectError);
    expect((err as UnsafeObjectError).permanent).toBe(true);
    return err as UnsafeObjectError;
  }

  test("an object that is a link: load, ranged load, stat, remove and list refuse it by key", async () => {
    const t = await setup();
    try {
      await symlink(join(t.elsewhere, "secret"), join(t.root, "packs/ab/ab0001"));
      // One at a time: a call started before its rejection is awaited would be an unhandled rejection.
      for (const call of [() => t.s.load("packs/ab/ab0001"), () => t.s.load("packs/ab/ab0001", { offset: 0, length: 1 }), () => t.s.stat("packs/ab/ab0001"), () => t.s.remove("packs/ab/ab0001")]) {
        const err = await refusal(call());
        expect(err.key).toBe("packs/ab/ab0001");
        expect(err.message).toContain('"packs/ab/ab0001" is a symbolic link');
      }
      // list yields every real object first, then refuses, naming the link
      const seen: string[] = [];
      const err = await refusal((async () => { for await (const o of t.s.list("packs/")) seen.push(o.key); })());
      expect(seen).toEqual(["packs/ab/abcdef"]);
      expect(err.keys).toEqual(["packs/ab/ab0001"]);
      expect(await readFile(join(t.elsewhere, "secret"), "utf8")).toBe("root-only secret bytes");
      // saving over the link is refused too (the link is neither followed nor replaced)
      await refusal(t.s.save("packs/ab/ab0001", new Uint8Array([9])));
      expect((await lstat(join(t.root, "packs/ab/ab0001"))).isSymbolicLink()).toBe(true);
      expect(await readdir(join(t.root, "packs/ab"))).toEqual(expect.arrayContaining(["abcdef", "ab0001"]));
      expect((await readdir(join(t.root, "packs/ab"))).length).toBe(2); // no temp file left
    } finally {
      await t.cleanup();
    }
  });

  test("folders that are links (packs/, index/, packs/xx/): nothing is written, read or removed through them", async () => {
    const t = await setup();
    try {
      await rm(join(t.root, "packs"), { recursive: true });
      await rm(join(t.root, "index"), { recursive: true });
      await mkdir(join(t.elsewhere, "packs/cd"), { recursive: true });
      await writeFile(join(t.elsewhere, "packs/cd/cd01"), "x");
      await symlink(join(t.elsewhere, "packs"), join(t.root, "packs"));
      await symlink(t.elsewhere, join(t.root, "index"));
      const big = new Uint8Array(2 * 1024 * 1024); // the streamed O_DIRECT path too
      for (const call of [() => t.s.save("packs/ef/ef01", new Uint8Array([1])), () => t.s.save("packs/ef/ef02", big), () => t.s.save("index/01", new Uint8Array([1]))]) {
        const err = await refusal(call());
        expect(["packs", "index"]).toContain(err.key!);
      }
      const w = await t.s.create!("packs/ef/ef03");
      await refusal((async () => { await w.write(big); await w.commit(); })());
      await refusal(t.s.load("packs/cd/cd01"));
      await refusal(t.s.stat("packs/cd/cd01"));
      await refusal(t.s.remove("packs/cd/cd01"));
      await refusal((async () => { for await (const _ of t.s.list("packs/")) { /* */ } })());
      await refusal((async () => { for await (const _ of t.s.list("index/")) { /* */ } })());
      expect((await readdir(t.elsewhere)).sort()).toEqual(["packs", "secret"]);
      expect(await readdir(join(t.elsewhere, "packs"))).toEqual(["cd"]);
      expect(await readdir(join(t.elsewhere, "packs/cd"))).toEqual(["cd01"]);
      // a link one level down
      await rm(join(t.root, "packs"));
      await mkdir(join(t.root, "packs"));
      await symlink(join(t.elsewhere, "packs/cd"), join(t.root, "packs/cd"));
      expect((await refusal(t.s.load("packs/cd/cd01"))).key).toBe("packs/cd");
      expect((await refusal(t.s.save("packs/cd/cd02", new Uint8Array([1])))).key).toBe("packs/cd");
      expect(await readdir(join(t.elsewhere, "packs/cd"))).toEqual(["cd01"]);
    } finally {
      await t.cleanup();
    }
  });

  test("a FIFO in an object's place is refused at once, not waited on", async () => {
    const t = await setup();
    try {
      const fifo = Bun.spawnSync(["mkfifo", join(t.root, "packs/ab/ab0002")]);
      expect(fifo.exitCode).toBe(0);
      const err = await refusal(t.s.load("packs/ab/ab0002"));
      expect(err.message).toContain("not a plain file");
    } finally {
      await t.cleanup();
    }
  });

  test("the root itself may be a link (the user's choice)", async () => {
    const t = await setup();
    try {
      const alias = join(t.dir, "alias");
      await symlink(t.root, alias);
      const s = localStorage(alias);
      expect(Array.from(await s.load("packs/ab/abcdef"))).toEqual([1, 2, 3]);
      await s.save("packs/ab/abcd02", new Uint8Array([7]));
      expect(Array.from(await readFile(join(t.root, "packs/ab/abcd02")))).toEqual([7]);
    } finally {
      await t.cleanup();
    }
  });
});

test("a cold tier at VAULT/cold: VAULT/cold itself must not be a link (only the vault root may be)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "efsbak-coldlink-"));
  try {
    const root = join(dir, "vault");
    await mkdir(join(dir, "elsewhere"), { recursive: true });
    await mkdir(root);
    const { openStorage } = await import("../../src/storage/open.ts");
    const { cold } = openStorage(root, { baseDir: dir, env: {} });
    await cold.save("packs/ab/ab01", new Uint8Array([1]));
    expect(Array.from(await readFile(join(root, "cold/packs/ab/ab01")))).toEqual([1]);
    await rm(join(root, "cold"), { recursive: true });
    await symlink(join(dir, "elsewhere"), join(root, "cold"));
    const err = await cold.save("packs/ab/ab02", new Uint8Array([1])).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(UnsafeObjectError);
    expect((err as UnsafeObjectError).key).toBe("cold");
    expect(await readdir(join(dir, "elsewhere"))).toEqual([]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe("O_DIRECT writes are the caller's setting (cli: EFSBAK_DIRECT_IO=0 turns them off)", () => {
  test("localStorage and openStorage pass direct=false on to every large write; the default asks for it where the platform has it", async () => {
    const { FileWriter } = await import("../../src/storage/file-writer.ts");
    const { directIoSupported } = await import("../../src/fs/direct-io.ts");
    const { openStorage } = await import("../../src/storage/open.ts");
    const dir = await mkdtemp(join(tmpdir(), "efsbak-direct-"));
    const asked: boolean[] = [];
    const create = FileWriter.create;
    FileWriter.create = (path: string, direct: boolean, onRefused: () => void) => (asked.push(direct), create.call(FileWriter, path, direct, onRefused));
    try {
      const big = new Uint8Array(2 * 1024 * 1024).fill(7);
      await localStorage(join(dir, "a"), { direct: false }).save("packs/aa/aa01", big);
      await openStorage(join(dir, "b"), { baseDir: dir, env: {}, directIo: false }).storage.save("packs/bb/bb01", big);
      await openStorage(join(dir, "b"), { baseDir: dir, env: {}, directIo: false }).cold.save("packs/cc/cc01", big);
      expect(asked).toEqual([false, false, false]);
      await localStorage(join(dir, "c")).save("packs/dd/dd01", big);
      expect(asked[3]).toBe(directIoSupported());
      expect(await readFile(join(dir, "b/packs/bb/bb01"))).toEqual(Buffer.from(big));
    } finally {
      FileWriter.create = create;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
