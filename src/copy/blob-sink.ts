/**
 * Where a copy puts blobs: the destination vault's packs and index. A blob the destination
 * already has (in its index, or on its way in this copy) is not stored again; the others are
 * compressed and sealed with the destination's keys into data or tree packs, saved whole
 * (at most MAX_PENDING_SAVES at a time) and indexed as backup's are (backup/pack-store.ts).
 *
 *   has(id)              in the destination, or already put by this copy
 *   put(type, id, raw)   stored unless has(id); false when it was there already
 *   flush()              closes both packs, waits for every write, writes the index file
 *   salvage()            after a failure: indexes what reached the destination
 */
import { PackStore } from "../backup/pack-store.ts";
import { toHex } from "../vault/id.ts";
import { BLOB_DATA, BLOB_TREE, PACK_TARGET_BYTES, PackWriter } from "../vault/pack.ts";
import type { Vault } from "../vault/vault.ts";

const MAX_PENDING_SAVES = 3;

/** What a sink stored. */
export interface SinkStats {
  /** Blobs stored into the destination. */
  blobsCopied: number;
  /** Blobs the destination had already (not sent). */
  blobsPresent: number;
  /** Raw bytes of the blobs stored. */
  bytesNew: number;
  /** Pack bytes written to the destination (what travelled). */
  bytesSent: number;
  packs: number;
}

/** The destination side of a copy. */
export class BlobSink {
  readonly stats: SinkStats = { blobsCopied: 0, blobsPresent: 0, bytesNew: 0, bytesSent: 0, packs: 0 };
  readonly #vault: Vault;
  readonly #store: PackStore;
  readonly #writers: Record<number, PackWriter>;
  readonly #put = new Set<string>();
  readonly #saves = new Set<Promise<void>>();
  readonly #wakers = new Set<() => void>();
  #failure: unknown = null;

  constructor(vault: Vault) {
    this.#vault = vault;
    this.#store = new PackStore(vault, {
      indexed: () => {},
      stored: (bytes) => {
        this.stats.bytesSent += bytes;
        this.stats.packs++;
      },
      settled: () => {},
      failed: (err) => {
        this.#failure ??= err;
        for (const wake of this.#wakers) wake(); // a failed save never calls its `done`
      },
    });
    const writer = (packType: number) => new PackWriter(new Uint8Array(1024 * 1024), { keys: vault.keys, packType, growTo: PACK_TARGET_BYTES + 1024 * 1024 });
    this.#writers = { [BLOB_DATA]: writer(BLOB_DATA), [BLOB_TREE]: writer(BLOB_TREE) };
  }

  /** True when the destination has the blob, or this copy already put it. */
  has(id: Uint8Array): boolean {
    return this.#vault.index.has(id) || this.#put.has(toHex(id));
  }

  /** Stores a blob unless the destination has it; false when it was there already. */
  async put(type: number, id: Uint8Array, raw: Uint8Array): Promise<boolean> {
    this.#check();
    if (this.has(id)) {
      this.stats.blobsPresent++;
      return false;
    }
    this.#put.add(toHex(id));
    const w = this.#writers[type];
    if (!w.add(type, id, raw)) {
      await this.#close(type);
      w.add(type, id, raw);
    }
    this.stats.blobsCopied++;
    this.stats.bytesNew += raw.length;
    if (w.size >= PACK_TARGET_BYTES) await this.#close(type);
    return true;
  }

  /** Closes both packs, waits for every write and writes the index file. */
  async flush(): Promise<void> {
    await this.#close(BLOB_DATA);
    await this.#close(BLOB_TREE);
    await this.#store.flushIndex();
    this.#check();
  }

  /** After a failure: indexes the packs that reached the destination (best effort). */
  async salvage(): Promise<void> {
    await this.#store.salvage().catch(() => false);
  }

  async #close(type: number): Promise<void> {
    const w = this.#writers[type];
    if (w.count === 0) return;
    while (this.#saves.size >= MAX_PENDING_SAVES) await Promise.race(this.#saves);
    this.#check();
    const { bytes, entries, packId } = w.finish();
    let wake!: () => void;
    const save: Promise<void> = new Promise<void>((resolve) => {
      wake = resolve;
    }).then(() => {
      this.#wakers.delete(wake);
      this.#saves.delete(save);
    });
    this.#wakers.add(wake);
    this.#saves.add(save);
    this.#store.save(packId, bytes.slice(), entries, type, wake);
  }

  #check(): void {
    if (this.#failure) throw this.#failure;
  }
}
