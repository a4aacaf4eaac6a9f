/**
 * Getting a backup's packs into the vault and its index: whole packs (the tree packer's, and
 * every pack on storages without create()), and packs streamed in pieces (each worker's, on
 * local storage). Private to backup/ (the pipeline owns one).
 *
 *   save(bytes)                 one write of a whole pack, then indexed
 *   stream(key, piece, last?)   pieces appended in order to the open pack object of `key` (a
 *                               worker); the last one (with the header) commits it, then indexed
 *   pending                     writes under way (the pipeline stops handing out slots at a limit)
 *
 * Indexed means: in the vault's in-memory index at once, and in an index file written every
 * INDEX_EVERY packs and at flushIndex(), so a crash loses at most the packs in flight. After a
 * failure, salvage() indexes what did reach storage.
 */
import type { ObjectWriter } from "../storage/storage.ts";
import type { Vault } from "../vault/vault.ts";
import type { IndexedPack } from "../vault/index-file.ts";
import { packKey } from "../vault/layout.ts";
import type { PackEntry } from "../vault/pack.ts";

const INDEX_EVERY = 32;

/** What the owner hears of. */
export interface PackStoreEvents {
  /** A blob is now in the index (no longer merely on its way). */
  indexed(e: PackEntry): void;
  /** A pack of `bytes` was stored and indexed. */
  stored(bytes: number): void;
  /** A write settled (room for the next). */
  settled(): void;
  failed(err: unknown): void;
}

export class PackStore {
  readonly #vault: Vault;
  readonly #events: PackStoreEvents;
  readonly #writes = new Set<Promise<void>>();
  readonly #streams = new Map<number, { packId: string; writer: Promise<ObjectWriter>; chain: Promise<void> }>();
  #pendingIndex: IndexedPack[] = [];
  #indexWrites: Promise<unknown>[] = [];

  constructor(vault: Vault, events: PackStoreEvents) {
    this.#vault = vault;
    this.#events = events;
  }

  /** Writes under way: whole packs, and pieces of streamed ones. */
  get pending(): number {
    return this.#writes.size;
  }

  /** True when `key` has a streamed pack open (its next pieces must go to stream()). */
  streaming(key: number): boolean {
    return this.#streams.has(key);
  }

  /**
   * Saves a whole pack under packId (chosen by its PackWriter: the sealed header is bound to
   * it) and indexes it; `done` runs once it is written.
   */
  save(packId: string, bytes: Uint8Array, entries: PackEntry[], packType: number, done?: () => void): void {
    this.#track(this.#vault.storage.save(packKey(packId), bytes).then(() => this.#index(packId, bytes.length, entries, packType)), done);
  }

  /**
   * Appends a piece to the data pack `key` is streaming (opening one first); with `last` (the
   * piece holding the header), commits and indexes it. `done` runs once the piece is written.
   */
  stream(key: number, packId: string, bytes: Uint8Array, last: { size: number; entries: PackEntry[] } | null, done: () => void): void {
    let stream = this.#streams.get(key);
    if (stream && stream.packId !== packId) throw new Error(`PackStore.stream: piece of pack ${packId} while ${stream.packId} is open`);
    if (!stream) {
      const writer = this.#vault.storage.create!(packKey(packId));
      stream = { packId, writer, chain: writer.then(() => {}) };
      this.#streams.set(key, stream);
    }
    const { writer } = stream;
    stream.chain = stream.chain.then(async () => {
      const w = await writer;
      await w.write(bytes);
      if (!last) return;
      await w.commit();
      this.#index(packId, last.size, last.entries, 0);
    });
    if (last) this.#streams.delete(key);
    this.#track(stream.chain, done);
  }

  /** Waits for every write, then writes the index file for what is not in one yet. */
  async flushIndex(): Promise<void> {
    while (this.#writes.size > 0) await Promise.all([...this.#writes]);
    await this.#writeIndex();
    await Promise.all(this.#indexWrites);
  }

  /**
   * After a failure: waits for writes under way, then indexes the packs that reached storage
   * (best effort), so the next backup reuses their data without having to look for them.
   * False when some stored pack may have been left unindexed.
   */
  async salvage(): Promise<boolean> {
    await Promise.allSettled([...this.#writes]);
    const written = await Promise.allSettled([this.#writeIndex(), ...this.#indexWrites]);
    return written.every((r) => r.status === "fulfilled");
  }

  /** Drops packs still being streamed (a failed backup): their temporary objects go. */
  abortStreams(): void {
    for (const { writer, chain } of this.#streams.values()) void chain.finally(() => writer.then((w) => w.abort())).catch(() => {});
    this.#streams.clear();
  }

  /** Counts a write until it settles. */
  #track(p: Promise<void>, done?: () => void): void {
    this.#writes.add(p);
    p.then(() => {
      this.#writes.delete(p);
      done?.();
      this.#events.settled();
    }, (err) => {
      this.#writes.delete(p);
      this.#events.failed(err);
    });
  }

  /** Indexes a pack now in storage, and writes an index file every INDEX_EVERY packs. */
  #index(packId: string, size: number, entries: PackEntry[], packType: number): void {
    const no = this.#vault.index.addPack(packId, "warm", size);
    for (const e of entries) {
      this.#vault.index.add(no, e);
      this.#events.indexed(e);
    }
    this.#events.stored(size);
    this.#pendingIndex.push({ packId, tier: "warm", packType, size, entries });
    if (this.#pendingIndex.length >= INDEX_EVERY) this.#indexWrites.push(this.#writeIndex());
  }

  async #writeIndex(): Promise<void> {
    if (this.#pendingIndex.length === 0) return;
    const packs = this.#pendingIndex;
    this.#pendingIndex = [];
    try {
      await this.#vault.saveIndex({ packs, supersedes: [] });
    } catch (err) {
      this.#pendingIndex.unshift(...packs); // still to be indexed (salvage tries again)
      throw err;
    }
  }
}
