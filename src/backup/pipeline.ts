/**
 * The backup data pipeline: main thread walks, reads large files and chunks them; workers read
 * small files, hash, compress and pack; main saves (pack-store.ts).
 *
 *   large file: reader (main) --fills--> slot (SharedArrayBuffer region), chunked in place
 *   small file (<= minSize, one chunk): main reserves its bytes in a slot and reads it there
 *     asynchronously (small-read.ts: open, read, statx, close on the I/O thread pool), up to
 *     `concurrency` files in flight across slots; a slot goes to a worker once its reads are
 *     done; a file that changed under the read is read again on main (file-reader.ts)
 *   slot --hash--> worker --ids, read outcomes--> main: dedup against index + in-flight set
 *     --store new--> worker --pack, or 4 MiB pieces of it where storage can create() objects
 *     in parts (transferred)--> main: save or append, index, recycle the buffer
 *
 * Memory is bounded: SLOTS × SLOT_BYTES of shared memory, a few pack (or piece) buffers per
 * worker, and at most MAX_PENDING_SAVES writes waiting for storage (slot hand-out waits on
 * both). Everything the pipeline stores is indexed once flush() returns.
 * Slots are written by one party at a time: a writer take()s a slot and owns it until it
 * give()s it back as the current slot or send()s it; main-thread reads run under exclusive(),
 * and a small-file reservation takes the fast path only when no exclusive task is pending.
 * Free slots live in a SlotPool (slot.ts), exclusive tasks in an ExclusiveQueue (exclusive.ts),
 * and the messages to and from the workers are typed in worker-protocol.ts.
 */
import type { Vault } from "../vault/vault.ts";
import type { BigIntStats } from "node:fs";
import { PACK_TARGET_BYTES, type PackEntry } from "../vault/pack.ts";
import { PackStore } from "./pack-store.ts";
import { READ_STATUS, type ChunkSink, type Slot, type SlotFile, type SmallFileSink, SlotPool } from "./slot.ts";
import { createExclusiveQueue } from "./exclusive.ts";
import { Limiter } from "./limiter.ts";
import { SMALL_ERROR, readSmallFile } from "./small-read.ts";
import { type FromWorker, postToWorker } from "./worker-protocol.ts";

/** Small files read at once by default (each holds a descriptor while in flight). */
export const DEFAULT_CONCURRENCY = 64;

/** Larger files opened (each with one 1 MiB read) ahead of their turn at the chunker. */
const OPENS_AHEAD = 8;

/** Totals a pipeline reports. */
export interface PipelineStats {
  chunks: number;
  chunksNew: number;
  bytesNew: number;
  bytesStored: number;
  packs: number;
}

const MAX_PENDING_SAVES = 4;
/**
 * Bytes per piece of a streamed pack. Streaming keeps a few 4 MiB pieces in memory instead of
 * several whole 16 MiB packs (peak RSS: docs/performance.md, "Design notes from earlier
 * measurements").
 */
const PIECE_BYTES = 4 * 1024 * 1024;
/** Small files per slot at most: a slot goes to a worker sooner, and messages stay small. */
const MAX_FILES_PER_SLOT = 512;

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
  readonly #slots: SlotPool;
  readonly #exclusive = createExclusiveQueue();
  readonly #inflight = new Set<string>();
  readonly #packs: PackStore;
  /** Slots sent to a worker and not yet stored, by number. */
  readonly #bySlot = new Map<number, { slot: Slot; worker: number }>();
  readonly #flushWaits = new Map<number, () => void>();
  readonly #onFailure: ((err: Error) => void)[] = [];
  #failure: Error | null = null;
  #rr = 0;
  #current: Slot | null = null;
  /** Small-file reads in flight (open descriptors among them). */
  readonly reads: Limiter;
  /** Larger files opened ahead of their turn at the main thread's chunker (file-reader.ts). */
  readonly opensAhead = new Limiter(OPENS_AHEAD);
  /** Large files read with O_DIRECT where the file system takes it (direct-read.ts). */
  directReads = true;

  private constructor(vault: Vault, workers: Worker[], sab: SharedArrayBuffer, slots: number, slotBytes: number, concurrency: number) {
    this.#vault = vault;
    this.reads = new Limiter(concurrency);
    this.#workers = workers;
    this.shared = new Uint8Array(sab);
    this.slotBytes = slotBytes;
    this.#slots = new SlotPool(slots, slotBytes);
    this.#packs = new PackStore(vault, {
      indexed: (e) => this.#inflight.delete(Buffer.from(e.id.buffer, e.id.byteOffset, e.id.length).toString("hex")),
      stored: (bytes) => {
        this.stats.bytesStored += bytes;
        this.stats.packs++;
      },
      settled: () => this.#slots.wake(),
      failed: (err) => this.#fail(err),
    });
    workers.forEach((w, i) => {
      w.onmessage = (e) => this.#onMessage(i, e.data);
      w.onerror = (e) => this.#fail(new Error(`backup worker failed: ${e.message}`));
    });
  }

  /** Starts workers and allocates shared slots. */
  static async start(vault: Vault, options: { workers?: number; slots?: number; slotBytes?: number; concurrency?: number; directReads?: boolean } = {}): Promise<Pipeline> {
    const maxChunk = vault.config.chunker.max_size;
    const slotBytes = options.slotBytes ?? Math.max(2 * maxChunk, 8 * 1024 * 1024);
    const slots = options.slots ?? 4;
    const sab = new SharedArrayBuffer(slots * slotBytes);
    const count = options.workers ?? 2;
    // Streamed packs need a buffer for one piece plus the largest blob and the header; whole
    // packs need room for the whole pack.
    const pieceBytes = vault.storage.create ? PIECE_BYTES : 0;
    const packBytes = pieceBytes > 0 ? PIECE_BYTES + maxChunk + 1024 * 1024 : PACK_TARGET_BYTES + 2 * maxChunk;
    // Not waiting for the workers to be ready: they start (module, hasher) while main walks,
    // and a run that finds nothing new never waits for them at all. They take messages in order.
    const workers = Array.from({ length: count }, () => {
      const w = new Worker(workerUrl());
      postToWorker(w, { t: "init", sab, keys: vault.keys, packBytes, pieceBytes });
      return w;
    });
    const p = new Pipeline(vault, workers, sab, slots, slotBytes, options.concurrency ?? DEFAULT_CONCURRENCY);
    p.directReads = options.directReads ?? true;
    return p;
  }

  /**
   * Takes a slot to fill: the current one (with what is in it already) or a free one, waiting
   * for one if needed. The caller owns it until it gives it back or sends it: a slot being
   * filled is never current, so dispatch() at any moment cannot send it half-written.
   */
  async take(): Promise<Slot> {
    const cur = this.#current;
    if (cur) {
      this.#current = null;
      return cur;
    }
    this.#check();
    while (this.#slots.empty || this.#packs.pending >= MAX_PENDING_SAVES) {
      await this.#slots.changed();
      this.#check();
    }
    return this.#slots.pop()!;
  }

  /** Makes an owned slot the current one, so that later writers use its room first. */
  give(slot: Slot): void {
    if (this.#current) this.send(this.#current);
    this.#current = slot;
  }

  /** Records a chunk of the current slot at [slot.base + slot.used, +length). */
  addChunk(slot: Slot, length: number, sink: ChunkSink, index: number): void {
    slot.ranges.push(slot.base + slot.used, length);
    slot.sinks.push(sink);
    slot.sinkIndex.push(index);
    slot.used += length;
  }

  /**
   * Runs f with the slots to itself (main-thread reads); tasks run one after another. While
   * any is pending, small-file reservations queue behind it instead of taking the fast path.
   */
  exclusive<T>(f: () => Promise<T>): Promise<T> {
    return this.#exclusive.run(f);
  }

  /**
   * Reserves room for a small file (at most one chunk: size <= the chunker's minSize) and starts
   * reading it there (bounded by `reads`). Returns a promise only when it has to wait for room.
   */
  reserveFile(path: string, expected: BigIntStats, sink: SmallFileSink): Promise<void> | undefined {
    const size = Number(expected.size);
    const s = this.#current;
    if (this.#exclusive.pending === 0 && s && s.used + size <= this.slotBytes && s.files.length < MAX_FILES_PER_SLOT) {
      this.#reserve(s, path, size, expected, sink);
      return undefined;
    }
    return this.exclusive(async () => {
      let slot = await this.take();
      if (slot.used + size > this.slotBytes || slot.files.length >= MAX_FILES_PER_SLOT) {
        this.send(slot);
        slot = await this.take();
      }
      this.#reserve(slot, path, size, expected, sink);
      this.give(slot);
    });
  }

  #reserve(slot: Slot, path: string, size: number, expected: BigIntStats, sink: SmallFileSink): void {
    let range = -1;
    if (size > 0) {
      range = slot.ranges.length / 2;
      this.addChunk(slot, size, sink, 0);
    }
    const file: SlotFile = { path, range, expected, sink, status: SMALL_ERROR, got: 0, code: "" };
    slot.files.push(file);
    slot.reading++;
    const at = range >= 0 ? slot.ranges[range * 2] : 0;
    this.reads.run(() => readSmallFile(path, this.shared, at, expected)).then((r) => {
      file.status = r.status;
      file.got = r.got;
      file.code = r.code;
    }, (err) => {
      file.code = (err as Error).message;
    }).finally(() => {
      if (--slot.reading === 0 && slot.sendWhenRead) this.#post(slot);
    });
  }

  /** Sends the current slot, if there is one, to a worker. Safe at any moment. */
  dispatch(): void {
    const s = this.#current;
    this.#current = null;
    if (s) this.send(s);
  }

  /** Sends a slot to a worker for hashing (releases it when nothing is in it), once its reads are done. */
  send(s: Slot): void {
    if (s.ranges.length === 0 && s.files.length === 0) {
      this.#slots.release(s);
      return;
    }
    const w = this.#rr++ % this.#workers.length;
    this.#bySlot.set(s.no, { slot: s, worker: w });
    if (s.reading > 0) s.sendWhenRead = true;
    else this.#post(s);
  }

  /** Posts a sent slot to its worker; small files not read cleanly have their range skipped. */
  #post(s: Slot): void {
    s.sendWhenRead = false;
    const { worker } = this.#bySlot.get(s.no)!;
    const skip = new Uint8Array(s.ranges.length / 2);
    for (const f of s.files) {
      if (f.range < 0) continue;
      if (f.status !== 0 || f.got === 0) skip[f.range] = 1;
      else s.ranges[f.range * 2 + 1] = f.got;
    }
    postToWorker(this.#workers[worker], { t: "hash", slot: s.no, ranges: Int32Array.from(s.ranges), skip }, [skip.buffer]);
  }

  /** Dispatches what is left, waits until every blob is stored and indexed, writes an index file. */
  async flush(): Promise<void> {
    this.dispatch();
    while (this.#bySlot.size > 0) {
      await this.#slots.changed();
      this.#check();
    }
    await Promise.all(this.#workers.map((w, i) => new Promise<void>((resolve) => {
      this.#flushWaits.set(i, resolve);
      postToWorker(w, { t: "flush" });
    })));
    this.#check();
    await this.#packs.flushIndex();
  }

  /** Stops the workers, and drops packs still being streamed (a failed backup). */
  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#packs.abortStreams();
  }

  /** True when a blob is already stored or on its way (trees use this too). */
  known(id: Uint8Array, hex: string): boolean {
    return this.#inflight.has(hex) || this.#vault.index.has(id);
  }

  /** Saves a finished pack (from the tree packer) under the id its writer chose, and indexes it. */
  savePack(packId: string, bytes: Uint8Array, entries: PackEntry[], packType: number, done?: () => void): void {
    this.#packs.save(packId, bytes, entries, packType, done);
  }

  /** Marks a blob as on its way (for blobs packed outside the workers). */
  markInflight(hex: string): void {
    this.#inflight.add(hex);
  }

  /** After a failure: indexes what reached storage; false when some pack may be left unindexed. */
  salvage(): Promise<boolean> {
    return this.#packs.salvage();
  }

  #onMessage(worker: number, m: FromWorker): void {
    switch (m.t) {
      case "hashed": {
        const { slot: s } = this.#bySlot.get(m.slot)!;
        const ids = m.ids;
        const hexOf = Buffer.from(ids.buffer, ids.byteOffset, ids.length);
        const store: number[] = [];
        const storeIds: number[] = [];
        // Small files main could not read as lstat saw them have no chunk to resolve.
        let skip: Uint8Array | null = null;
        for (const f of s.files) if (f.range >= 0 && (f.status !== 0 || f.got === 0)) (skip ??= new Uint8Array(s.sinks.length))[f.range] = 1;
        for (let i = 0; i < s.sinks.length; i++) {
          if (skip?.[i]) continue;
          const hex = hexOf.toString("hex", i * 32, i * 32 + 32);
          const length = s.ranges[i * 2 + 1];
          const isNew = !this.#inflight.has(hex) && !this.#vault.index.has(ids, i * 32);
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
        for (const f of s.files) {
          const kind = READ_STATUS[f.status];
          f.sink.settled(kind === "ok" ? { status: "ok", size: f.got } : kind === "error" ? { status: "error", code: f.code } : { status: kind });
        }
        if (store.length === 0) {
          this.#bySlot.delete(s.no);
          this.#slots.release(s);
          return;
        }
        const newIds = new Uint8Array(storeIds.length * 32);
        storeIds.forEach((i, k) => newIds.set(ids.subarray(i * 32, i * 32 + 32), k * 32));
        postToWorker(this.#workers[worker], { t: "store", slot: s.no, ranges: Int32Array.from(store), ids: newIds }, [newIds.buffer]);
        break;
      }
      case "stored": {
        const { slot: s } = this.#bySlot.get(m.slot)!;
        this.#bySlot.delete(s.no);
        this.#slots.release(s);
        break;
      }
      case "piece":
      case "pack": {
        const { buffer, offset } = m;
        const bytes = new Uint8Array(buffer, offset, m.length);
        const recycle = () => postToWorker(this.#workers[worker], { t: "recycle", buffer, offset }, [buffer]);
        if (m.t === "pack" && !this.#packs.streaming(worker)) this.#packs.save(m.packId, bytes, m.entries, 0, recycle);
        else this.#packs.stream(worker, m.packId, bytes, m.t === "pack" ? { size: m.size, entries: m.entries } : null, recycle);
        break;
      }
      case "ready":
        break;
      case "flushed":
        this.#flushWaits.get(worker)?.();
        break;
      case "error":
        this.#fail(new Error(`backup worker failed: ${m.message}`));
        break;
    }
  }

  /** Resolves to what `work` resolves to, or rejects as soon as the pipeline fails. */
  until<T>(work: Promise<T>): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<T>((resolve, reject) => {
      this.#onFailure.push(reject);
      work.then(resolve, reject);
    });
  }

  #fail(err: unknown): void {
    if (!this.#failure) this.#failure = err instanceof Error ? err : new Error(String(err));
    for (const r of this.#onFailure.splice(0)) r(this.#failure);
    this.#slots.wake();
    for (const r of this.#flushWaits.values()) r();
  }

  /** Throws the pipeline's failure, if it has failed. */
  #check(): void {
    if (this.#failure) throw this.#failure;
  }
}
