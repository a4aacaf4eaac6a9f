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
