/**
 * The in-memory index of every blob in a vault: id -> pack, offset, lengths.
 * Compact by design (no object per blob): ids live in one Uint8Array, fields in a Uint32Array,
 * and an open-addressing table of u32 entry numbers finds them. About 60–90 bytes per blob
 * (memoryBytes() reports the exact figure), so a vault of 10 million blobs fits in < 1 GiB.
 * Ids are BLAKE3 outputs, uniform, so their first four bytes are a good hash.
 */
import { BLOB_ID_BYTES } from "./id.ts";
import type { PackEntry } from "./pack.ts";

const FIELDS = 6; // packNo, offset, storedLength, rawLength, crc, meta (type | compressed << 8)

/** Where a blob lives. */
export interface BlobLocation {
  packId: string;
  tier: Tier;
  type: number;
  compressed: boolean;
  offset: number;
  storedLength: number;
  rawLength: number;
  crc: number;
  id: Uint8Array;
}

/** Storage tier of a pack. */
export type Tier = "warm" | "cold";

/** A growable, compact blob index. */
export class BlobIndex {
  #ids = new Uint8Array(1024 * BLOB_ID_BYTES);
  #vals = new Uint32Array(1024 * FIELDS);
  #count = 0;
  #slots = new Uint32Array(2048); // entry number + 1; 0 = empty
  #mask = 2047;
  #packs: string[] = [];
  #tiers: Tier[] = [];
  #packSizes: number[] = [];
  #packNo = new Map<string, number>();

  /** Number of distinct blobs. */
  get size(): number {
    return this.#count;
  }

  /** Registers a pack (idempotent) and returns its number. */
  addPack(packId: string, tier: Tier, packSize: number): number {
    let no = this.#packNo.get(packId);
    if (no === undefined) {
      no = this.#packs.length;
      this.#packs.push(packId);
      this.#tiers.push(tier);
      this.#packSizes.push(packSize);
      this.#packNo.set(packId, no);
    }
    return no;
  }

  /** Adds a blob; a blob already present keeps its first location. Returns true if new. */
  add(packNo: number, e: PackEntry): boolean {
    if (this.find(e.id) >= 0) return false;
    if (this.#count === this.#ids.length / BLOB_ID_BYTES) this.#growEntries();
    if ((this.#count + 1) * 4 > this.#slots.length * 3) this.#growSlots();
    const n = this.#count++;
    this.#ids.set(e.id.subarray(0, BLOB_ID_BYTES), n * BLOB_ID_BYTES);
    const v = this.#vals;
    const o = n * FIELDS;
    v[o] = packNo;
    v[o + 1] = e.offset;
    v[o + 2] = e.storedLength;
    v[o + 3] = e.rawLength;
    v[o + 4] = e.crc >>> 0;
    v[o + 5] = e.type | (e.compressed ? 256 : 0);
    this.#insertSlot(n);
    return true;
  }

  /** Entry number of id (32 bytes at id[at..]), or -1. */
  find(id: Uint8Array, at = 0): number {
    const ids = this.#ids;
    let s = hashOf(id, at) & this.#mask;
    for (;;) {
      const slot = this.#slots[s];
      if (slot === 0) return -1;
      const n = slot - 1;
      const base = n * BLOB_ID_BYTES;
      let same = true;
      for (let i = 0; i < BLOB_ID_BYTES; i++) {
        if (ids[base + i] !== id[at + i]) {
          same = false;
          break;
        }
      }
      if (same) return n;
      s = (s + 1) & this.#mask;
    }
  }

  /** True when the blob is indexed. */
  has(id: Uint8Array, at = 0): boolean {
    return this.find(id, at) >= 0;
  }

  /** The location of a blob, or null. */
  get(id: Uint8Array): BlobLocation | null {
    const n = this.find(id);
    return n < 0 ? null : this.entry(n);
  }

  /** The location of entry number n. */
  entry(n: number): BlobLocation {
    const v = this.#vals;
    const o = n * FIELDS;
    return {
      packId: this.#packs[v[o]],
      tier: this.#tiers[v[o]],
      offset: v[o + 1],
      storedLength: v[o + 2],
      rawLength: v[o + 3],
      crc: v[o + 4],
      type: v[o + 5] & 255,
      compressed: (v[o + 5] & 256) !== 0,
      id: this.#ids.slice(n * BLOB_ID_BYTES, (n + 1) * BLOB_ID_BYTES),
    };
  }

  /** Every pack the index knows, with its tier and size. */
  packList(): { packId: string; tier: Tier; size: number }[] {
    return this.#packs.map((packId, i) => ({ packId, tier: this.#tiers[i], size: this.#packSizes[i] }));
  }

  /** Bytes held by the index's arrays (what "index memory per blob" measures). */
  memoryBytes(): number {
    return this.#ids.byteLength + this.#vals.byteLength + this.#slots.byteLength;
  }

  #insertSlot(n: number): void {
    let s = hashOf(this.#ids, n * BLOB_ID_BYTES) & this.#mask;
    while (this.#slots[s] !== 0) s = (s + 1) & this.#mask;
    this.#slots[s] = n + 1;
  }

  #growEntries(): void {
    const cap = Math.ceil((this.#ids.length / BLOB_ID_BYTES) * 1.5);
    const ids = new Uint8Array(cap * BLOB_ID_BYTES);
    ids.set(this.#ids);
    const vals = new Uint32Array(cap * FIELDS);
    vals.set(this.#vals);
    this.#ids = ids;
    this.#vals = vals;
  }

  #growSlots(): void {
    this.#slots = new Uint32Array(this.#slots.length * 2);
    this.#mask = this.#slots.length - 1;
    for (let n = 0; n < this.#count; n++) this.#insertSlot(n);
  }
}

function hashOf(id: Uint8Array, at: number): number {
  return (id[at] | (id[at + 1] << 8) | (id[at + 2] << 16) | (id[at + 3] << 24)) >>> 0;
}
