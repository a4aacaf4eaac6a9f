/**
 * Index files: which blobs each pack holds, so readers need not open packs.
 *   u32 version (1) | u32 pack count | u32 superseded count | superseded index ids (16 B each)
 *   per pack: 16-byte pack id | u8 tier (0 warm, 1 cold) | u8 pack type | u16 0
 *             | u32 pack size | u32 blob count | blob count × (48-byte entry | u32 offset)
 * The whole is stored as a vault object (zstd, sealed when encrypted). An index that names
 * superseded index files replaces them (prune writes one and then deletes those).
 */
import { VaultDamageError } from "../errors.ts";
import type { Tier } from "./blob-index.ts";
import { OBJECT_ID_BYTES, fromHex, toHex } from "./id.ts";
import { ENTRY_BYTES, type PackEntry, readEntry, writeEntry } from "./pack.ts";

/** One pack as an index file records it. */
export interface IndexedPack {
  packId: string;
  tier: Tier;
  packType: number;
  size: number;
  entries: PackEntry[];
}

/** The content of an index file. */
export interface IndexFile {
  packs: IndexedPack[];
  supersedes: string[];
}

const VERSION = 1;

/** Encodes an index file's content (before object encoding). */
export function encodeIndexFile(doc: IndexFile): Uint8Array {
  let size = 12 + doc.supersedes.length * OBJECT_ID_BYTES;
  for (const p of doc.packs) size += 28 + p.entries.length * (ENTRY_BYTES + 4);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, VERSION, true);
  v.setUint32(4, doc.packs.length, true);
  v.setUint32(8, doc.supersedes.length, true);
  let at = 12;
  for (const id of doc.supersedes) {
    out.set(hexId(id), at);
    at += OBJECT_ID_BYTES;
  }
  for (const p of doc.packs) {
    out.set(hexId(p.packId), at);
    v.setUint8(at + 16, p.tier === "cold" ? 1 : 0);
    v.setUint8(at + 17, p.packType);
    v.setUint32(at + 20, p.size, true);
    v.setUint32(at + 24, p.entries.length, true);
    at += 28;
    for (const e of p.entries) {
      writeEntry(out, at, e);
      v.setUint32(at + ENTRY_BYTES, e.offset, true);
      at += ENTRY_BYTES + 4;
    }
  }
  return out;
}

/** Decodes an index file; throws VaultDamageError(key) on any inconsistency. */
export function decodeIndexFile(key: string, data: Uint8Array): IndexFile {
  const v = new DataView(data.buffer, data.byteOffset, data.length);
  const need = (n: number, at: number) => {
    if (at + n > data.length) throw new VaultDamageError(key, "index file truncated");
  };
  need(12, 0);
  if (v.getUint32(0, true) !== VERSION) throw new VaultDamageError(key, `unknown index version ${v.getUint32(0, true)}`, "upgrade efsbak to read this vault");
  const packCount = v.getUint32(4, true);
  const supCount = v.getUint32(8, true);
  let at = 12;
  need(supCount * OBJECT_ID_BYTES, at);
  const supersedes: string[] = [];
  for (let i = 0; i < supCount; i++, at += OBJECT_ID_BYTES) supersedes.push(toHex(data, at, OBJECT_ID_BYTES));
  const packs: IndexedPack[] = [];
  for (let p = 0; p < packCount; p++) {
    need(28, at);
    const packId = toHex(data, at, OBJECT_ID_BYTES);
    const tier: Tier = v.getUint8(at + 16) === 1 ? "cold" : "warm";
    const packType = v.getUint8(at + 17);
    const size = v.getUint32(at + 20, true);
    const count = v.getUint32(at + 24, true);
    at += 28;
    need(count * (ENTRY_BYTES + 4), at);
    const entries: PackEntry[] = [];
    for (let i = 0; i < count; i++, at += ENTRY_BYTES + 4) {
      const e = readEntry(data, at, v.getUint32(at + ENTRY_BYTES, true));
      if (e.offset + e.storedLength > size) throw new VaultDamageError(key, `index entry points past the end of pack "${packId}"`);
      entries.push(e);
    }
    packs.push({ packId, tier, packType, size, entries });
  }
  if (at !== data.length) throw new VaultDamageError(key, "index file has trailing bytes");
  return { packs, supersedes };
}

function hexId(id: string): Uint8Array {
  const b = fromHex(id, OBJECT_ID_BYTES);
  if (!b) throw new Error(`invalid object id "${id}"`);
  return b;
}
