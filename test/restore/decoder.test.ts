import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { type RunBlob, inlineDecoder, workerDecoder } from "../../src/restore/decoder.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import type { BlobLocation } from "../../src/vault/blob-index.ts";
import { fromHex } from "../../src/vault/id.ts";
import { packKey } from "../../src/vault/layout.ts";
import { DEFAULT_CHUNKER_CONFIG, type Vault, initVault, openVault } from "../../src/vault/vault.ts";
import { bytes } from "../support/tree.ts";
import { storeChunks } from "../support/vault.ts";

/** What a decoder handed to each blob of a run: its bytes (copied) or its error. */
type Got = { data: number[] } | { error: string; name: string; key?: string };

async function decodeAll(decode: (run: RunBlob[], data: Uint8Array, start: number) => Promise<void>, vault: Vault, ids: string[], damage?: (pack: Uint8Array, loc: BlobLocation) => void): Promise<Got[]> {
  const locs = ids.map((id) => vault.index.get(fromHex(id, 32)!)!);
  const start = Math.min(...locs.map((l) => l.offset));
  const end = Math.max(...locs.map((l) => l.offset + l.storedLength));
  const data = await vault.storage.load(packKey(locs[0].packId), { offset: start, length: end - start });
  if (damage) for (const l of locs) damage(data.subarray(l.offset - start), l);
  const got: Got[] = [];
  const run = locs.map((loc, i) => ({
    loc,
    done: (raw: Uint8Array | null, err: unknown) => {
      const e = err as (Error & { key?: string }) | null;
      got[i] = raw ? { data: [...raw] } : { error: e!.message, name: e!.name, key: e!.key };
    },
  }));
  await decode(run, data, start);
  return got;
}

/** A vault with the default chunker: chunks up to 4 MiB (larger ones are refused as damage). */
async function plainVault(): Promise<Vault> {
  const storage = memoryStorage();
  const cold = memoryStorage({ location: "memory:cold" });
  await initVault(storage, { cold, now: new Date("2026-01-01T00:00:00Z"), chunker: DEFAULT_CHUNKER_CONFIG });
  return openVault(storage, { cold });
}

async function encryptedVault(): Promise<Vault> {
  const keys = { encryptKey: new Uint8Array(randomBytes(32)), idKey: new Uint8Array(randomBytes(32)) };
  const storage = memoryStorage();
  const cold = memoryStorage({ location: "memory:cold" });
  await initVault(storage, { cold, now: new Date("2026-01-01T00:00:00Z"), chunker: DEFAULT_CHUNKER_CONFIG, keys, encryption: { cipher: "aes-256-gcm", kdf: "argon2id" } });
  return openVault(storage, { cold, keys });
}

const text = (n: number, seed: number) => new TextEncoder().encode(`line ${seed} `.repeat(n).slice(0, n));

for (const [name, make] of [["plain", plainVault], ["encrypted", encryptedVault]] as const) {
  test(`the worker decodes a run exactly as the main thread does, damage included (${name} vault)`, async () => {
    const vault = await make();
    // Compressible and incompressible, small and large (moved rather than copied), empty.
    const ids = await storeChunks(vault, [text(5000, 1), bytes(3000, 2), text(400_000, 3), bytes(300_000, 4), new Uint8Array(0), text(70, 5)]);
    const flip = (pack: Uint8Array, loc: BlobLocation) => {
      if (loc.rawLength === 3000 || loc.rawLength === 400_000) pack[loc.storedLength - 1] ^= 1; // the CRC no longer matches
    };
    const worker = workerDecoder(vault);
    try {
      expect(await worker.ready).toBe(true);
      for (const damage of [undefined, flip]) {
        const want = await decodeAll(inlineDecoder(vault).decode, vault, ids, damage);
        const got = await decodeAll(worker.decode, vault, ids, damage);
        expect(got).toEqual(want);
        if (!damage) expect(got.every((g) => "data" in g)).toBe(true);
        else expect(got.filter((g) => "error" in g).map((g) => "name" in g && g.name)).toEqual(["VaultDamageError", "VaultDamageError"]);
      }
    } finally {
      worker.close();
    }
  });
}
