/**
 * The backup data pipeline: main thread reads and chunks, workers hash and pack, main saves.
 *
 *   reader (main) --fills--> slot (SharedArrayBuffer region) --hash--> worker
 *   worker --ids--> main: dedup against index + in-flight set --store new--> worker
 *   worker --pack bytes (transferred)--> main: save to storage, add to index, recycle buffer
 *
 * Memory is bounded: SLOTS × SLOT_BYTES of shared memory, a few pack buffers per worker, and
 * at most MAX_PENDING_SAVES packs waiting for storage (slot hand-out waits on both).
 * Everything the pipeline stores is indexed once flush() returns; index files are written
 * every INDEX_EVERY packs and at flush, so a crash loses at most the packs in flight.
 */
import { EfsbakError } from "../errors.ts";
import type { Vault } from "../vault/vault.ts";
import { packKey } from "../vault/layout.ts";
import { randomId, toHex } from "../vault/id.ts";
import { PACK_TARGET_BYTES, type PackEntry } from "../vault/pack.ts";
import type { IndexedPack } from "../vault/index-file.ts";

/** Receives the id of one chunk (hex) once it is hashed and known to be stored or deduped. */
export interface ChunkSink {
  resolve(index: number, id: string, isNew: boolean, length: number): void;
}

interface Slot {
  no: number;
  base: number;
  used: number;
  ranges: number[];
  sinks: ChunkSink[];
  sinkIndex: number[];
}

/** Totals a pipeline reports. */
export interface PipelineStats {
  chunks: number;
  chunksNew: number;
  bytesNew: number;
  bytesStored: number;
  packs: number;
}

const INDEX_EVERY = 32;
const MAX_PENDING_SAVES = 4;

/** Where the worker lives: next to this file in source, under backup/ in the compiled binary. */
function workerUrl(): string {
  return import.meta.url.includes("$bunfs") ? new URL("./backup/_worker.ts", import.meta.url).href : new URL("./_worker.ts", import.meta.url).href;
}

/** The running pipeline (one per backup). */
export class Pipeline {
  readonly shared: Uint8Array;
  readonly slotBytes: number;
  readonly stats: PipelineStats = { chunks: 0, chunksNew: 0, bytesNew: 0, bytesStored: 0, packs: 0 };
  readonly #vault: Vault;
  readonly #workers: Worker[];
  readonly #free: Slot[] = [];
  readonly #waiters: (() => void)[] = [];
  readonly #inflight = new Set<string>();
  readonly #saves = new Set<Promise<void>>();
  #pendingIndex: IndexedPack[] = [];
  #indexWrites: Promise<unknown>[] = [];
  #flushWaits = new Map<number, () => void>();
  #failure: Error | null = null;
  #rr = 0;
  current: Slot | null = null;

  private constructor(vault: Vault, workers: Worker[], sab: SharedArrayBuffer, slots: number, slotBytes: number) {
    this.#vault = vault;
    this.#workers = workers;
    this.shared = new Uint8Array(sab);
    this.slotBytes = slotBytes;
    for (let i = 0; i < slots; i++) this.#free.push({ no: i, base: i * slotBytes, used: 0, ranges: [], sinks: [], sinkIndex: [] });
    workers.forEach((w, i) => {
      w.onmessage = (e) => this.#onMessage(i, e.data);
      w.onerror = (e) => this.#fail(new Error(`backup worker failed: ${e.message}`));
    });
  }

  /** Starts workers and allocates shared slots. */
  static async start(vault: Vault, options: { workers?: number; slots?: number; slotBytes?: number } = {}): Promise<Pipeline> {
    const maxChunk = vault.config.chunker.max_size;
    const slotBytes = options.slotBytes ?? Math.max(2 * maxChunk, 8 * 1024 * 1024);
    const slots = options.slots ?? 6;
    const sab = new SharedArrayBuffer(slots * slotBytes);
    const count = options.workers ?? 2;
    const workers: Worker[] = [];
    await Promise.all(Array.from({ length: count }, () => new Promise<void>((resolve, reject) => {
      const w = new Worker(workerUrl());
      workers.push(w);
      w.onmessage = (e) => (e.data?.t === "ready" ? resolve() : reject(new Error(e.data?.message ?? "worker failed to start")));
      w.onerror = (e) => reject(new Error(`cannot start backup worker: ${e.message}`));
      w.postMessage({ t: "init", sab, keys: vault.keys, packBytes: PACK_TARGET_BYTES + 2 * maxChunk });
    })));
    return new Pipeline(vault, workers, sab, slots, slotBytes);
  }

  /** The slot being filled, waiting for a free one if needed. */
  async slot(): Promise<Slot> {
    if (this.current) return this.current;
    this.#check();
    while (this.#free.length === 0 || this.#saves.size >= MAX_PENDING_SAVES) {
      await new Promise<void>((r) => this.#waiters.push(r));
      this.#check();
    }
    this.current = this.#free.pop()!;
    return this.current;
  }

  /** Records a chunk of the current slot at [slot.base + slot.used, +length). */
  addChunk(slot: Slot, length: number, sink: ChunkSink, index: number): void {
    slot.ranges.push(slot.base + slot.used, length);
    slot.sinks.push(sink);
    slot.sinkIndex.push(index);
    slot.used += length;
  }

  /** Sends the current slot to a worker for hashing (no-op when nothing is in it). */
  dispatch(): void {
    const s = this.current;
    this.current = null;
    if (!s) return;
    if (s.ranges.length === 0) {
      this.#release(s);
      return;
    }
    const w = this.#rr++ % this.#workers.length;
    this.#workers[w].postMessage({ t: "hash", slot: s.no, ranges: Int32Array.from(s.ranges) });
    this.#bySlot.set(s.no, { slot: s, worker: w });
  }

  readonly #bySlot = new Map<number, { slot: Slot; worker: number }>();

  /** Dispatches what is left, waits until every blob is stored and indexed, writes an index file. */
  async flush(): Promise<void> {
    this.dispatch();
    while (this.#bySlot.size > 0) {
      await new Promise<void>((r) => this.#waiters.push(r));
      this.#check();
    }
    await Promise.all(this.#workers.map((w, i) => new Promise<void>((resolve) => {
      this.#flushWaits.set(i, resolve);
      w.postMessage({ t: "flush" });
    })));
    this.#check();
    while (this.#saves.size > 0) await Promise.all([...this.#saves]);
    this.#check();
    await this.#writeIndex();
    await Promise.all(this.#indexWrites);
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
  }

  /** True when a blob is already stored or on its way (trees use this too). */
  known(id: Uint8Array, hex: string): boolean {
    return this.#inflight.has(hex) || this.#vault.index.has(id);
  }

  /** Saves a finished pack (from a worker or the tree packer) and indexes it. */
  savePack(bytes: Uint8Array, entries: PackEntry[], packType: number, done?: () => void): void {
    const packId = randomId();
    const p = (async () => {
      await this.#vault.storage.save(packKey(packId), bytes);
      const no = this.#vault.index.addPack(packId, "warm", bytes.length);
      for (const e of entries) {
        this.#vault.index.add(no, e);
        this.#inflight.delete(toHex(e.id));
      }
      this.stats.bytesStored += bytes.length;
      this.stats.packs++;
      this.#pendingIndex.push({ packId, tier: "warm", packType, size: bytes.length, entries });
      if (this.#pendingIndex.length >= INDEX_EVERY) this.#indexWrites.push(this.#writeIndex());
    })();
    this.#saves.add(p);
    p.then(() => {
      this.#saves.delete(p);
      done?.();
      this.#wake();
    }, (err) => {
      this.#saves.delete(p);
      this.#fail(err);
    });
  }

  /** Marks a blob as on its way (for blobs packed outside the workers). */
  markInflight(hex: string): void {
    this.#inflight.add(hex);
  }

  async #writeIndex(): Promise<void> {
    if (this.#pendingIndex.length === 0) return;
    const packs = this.#pendingIndex;
    this.#pendingIndex = [];
    await this.#vault.saveIndex({ packs, supersedes: [] });
  }

  #onMessage(worker: number, m: any): void {
    switch (m.t) {
      case "hashed": {
        const { slot: s } = this.#bySlot.get(m.slot)!;
        const ids: Uint8Array = m.ids;
        const store: number[] = [];
        const storeIds: number[] = [];
        for (let i = 0; i < s.sinks.length; i++) {
          const hex = toHex(ids, i * 32, 32);
          const length = s.ranges[i * 2 + 1];
          const isNew = !this.known(ids.subarray(i * 32, i * 32 + 32), hex);
          this.stats.chunks++;
          if (isNew) {
            this.#inflight.add(hex);
            store.push(s.ranges[i * 2], length);
            storeIds.push(i);
            this.stats.chunksNew++;
            this.stats.bytesNew += length;
          }
          s.sinks[i].resolve(s.sinkIndex[i], hex, isNew, length);
        }
        if (store.length === 0) {
          this.#bySlot.delete(s.no);
          this.#release(s);
          return;
        }
        const newIds = new Uint8Array(storeIds.length * 32);
        storeIds.forEach((i, k) => newIds.set(ids.subarray(i * 32, i * 32 + 32), k * 32));
        this.#workers[worker].postMessage({ t: "store", slot: s.no, ranges: Int32Array.from(store), ids: newIds }, [newIds.buffer]);
        break;
      }
      case "stored": {
        const { slot: s } = this.#bySlot.get(m.slot)!;
        this.#bySlot.delete(s.no);
        this.#release(s);
        break;
      }
      case "pack": {
        const buffer: ArrayBuffer = m.buffer;
        this.savePack(new Uint8Array(buffer, 0, m.length), m.entries, 0, () => {
          this.#workers[worker].postMessage({ t: "recycle", buffer }, [buffer]);
        });
        break;
      }
      case "flushed":
        this.#flushWaits.get(worker)?.();
        break;
      case "error":
        this.#fail(new Error(`backup worker failed: ${m.message}`));
        break;
    }
  }

  #release(s: Slot): void {
    s.used = 0;
    s.ranges = [];
    s.sinks = [];
    s.sinkIndex = [];
    this.#free.push(s);
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiters.splice(0);
    for (const r of w) r();
  }

  #fail(err: unknown): void {
    if (!this.#failure) this.#failure = err instanceof Error ? err : new Error(String(err));
    this.#wake();
    for (const r of this.#flushWaits.values()) r();
  }

  #check(): void {
    if (this.#failure) {
      if (this.#failure instanceof EfsbakError) throw this.#failure;
      throw this.#failure;
    }
  }
}
