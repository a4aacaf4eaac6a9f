/**
 * Writes files' content from their chunks. One writer per restore, shared by all files, so
 * that what is asked for ahead of the writes is bounded in bytes overall; the asking ahead is
 * what lets blob-reader.ts load runs of neighbouring blobs with one load.
 *
 *   layout(node)        chunk i -> [offset, offset + rawLength) from the index, before any load
 *                       (layout.ts: unknown lengths, short or long chunk lists)
 *   for each chunk:     known zero chunk (options.zeroChunks, or one seen to be all zero) ->
 *                       a hole, never loaded; blob not in the index -> missing
 *                       else take its decoded length (rawLength, from the index) from the
 *                       budget (FIFO, shared by all files; write() resolves once the first is
 *                       taken, so the walker goes no further ahead than the budget, nor than
 *                       maxFiles files), then reader.read(blob)
 *   each blob as it arrives (in any order):
 *     the file is created (sink.open) when its first data is ready, or at the end when there
 *     is none: a one-chunk file is created, written and finished in one go
 *     all zero -> leave a hole; else each piece of it that is not all zeros
 *     (ZERO_PIECE_BYTES: zeros at the edges of a hole stay holes too) written positionally at
 *     its offset from a copy, on the thread pool (many files' writes in flight); once written,
 *     its decoded length goes back to the budget: what is decoded and not yet written is at
 *     most budgetBytes, whatever the chunks compress to
 *     damage (missing or corrupt blob) -> leave a hole, record [offset, end) as missing
 *   after the last:     ftruncate(size) only when the writes did not reach it (holes at the end
 *                       stay holes: sparse files restored sparse)
 *   EFBIG               (a size the file system cannot hold) the file only: what fits is written
 *   sink.finish()       exactly once, after the last write; the caller sets metadata and
 *                       closes
 *
 * Writes are positional, so they land in place in whatever order loads end. Damage (a missing
 * or corrupt blob) is per chunk and never fatal; anything else (the vault is unreachable, the
 * disk is full) ends the file with a fatal error, stops the reader, and ends the restore.
 */
import { fstat, ftruncate, write } from "node:fs";
import type { FileNode } from "../tree/node.ts";
import type { BlobLocation } from "../vault/blob-index.ts";
import type { Vault } from "../vault/vault.ts";
import type { BlobReader } from "./blob-reader.ts";
import { dataPieces, decodedCost, isZero, mergeRanges } from "./bytes.ts";
import { type FileLayout, type PlacedChunk, layout } from "./layout.ts";
import { createSlots } from "./slots.ts";

/** What writing a file's content found. */
export interface ContentResult {
  /** [start, end) ranges that could not be restored, sorted and merged. */
  missing: [number, number][];
  /** Some chunk could not be loaded (missing or corrupt). */
  damaged: boolean;
  /** The chunk lengths do not add up to the recorded size. */
  sizeMismatch: boolean;
  /** The target file system cannot hold a file this large (EFBIG): what fits was written. */
  tooLarge: boolean;
}

/** Where one file's content goes. */
export interface FileSink {
  /** Creates the file (new and empty, or already open and empty) and gives its descriptor; may throw or reject. Called at most once. */
  open(): number | Promise<number>;
  /** Called exactly once: with the result, or with the fatal error that ended the file. MUST NOT throw. */
  finish(result: ContentResult | null, fatal: unknown): void;
}

/** Writes file content; one per restore. */
export interface ContentWriter {
  /**
   * Starts restoring a file's content into `sink`; resolves once its first blob is asked for
   * (so awaiting it bounds how far ahead the walker gets), long before the content is written.
   */
  write(node: FileNode, sink: FileSink): Promise<void>;
  /** See BlobReader.isDamage. */
  isDamage(err: unknown, id: Uint8Array): Promise<boolean>;
}

/** Options of a content writer. */
export interface ContentWriterOptions {
  /**
   * Decoded bytes (the blobs' raw lengths) of blobs asked for and not yet written, over all
   * files: what the restore holds in memory for content, whatever the blobs compress to. A
   * single blob larger than this is let through alone.
   */
  budgetBytes: number;
  /** Ids (hex) of chunks known to be all zeros (the chunker's zero chunk): holes, never loaded. */
  zeroChunks?: Iterable<string>;
  /** Files started and not yet finished, at most (bounds what small files hold in memory). */
  maxFiles: number;
  signal?: AbortSignal;
  /** Called with the byte count of each chunk as it is done (written, hole or missing). */
  onBytes?: (n: number) => void;
}

/** Creates the content writer of one restore. */
export function createContentWriter(vault: Pick<Vault, "index">, reader: BlobReader, options: ContentWriterOptions): ContentWriter {
  const budget = createSlots(Math.max(1, options.budgetBytes));
  const fileSlots = createSlots(Math.max(1, options.maxFiles));
  // Hex ids known or seen to be all zero: never loaded (again).
  const zeroChunks = new Set<string>([...(options.zeroChunks ?? [])].map((h) => h.toLowerCase()));
  const onBytes = options.onBytes ?? (() => {});

  /** One file being written: its chunks in flight and what they found. */
  class FileWrite {
    readonly #node: FileNode;
    readonly #sink: FileSink;
    readonly #missing: [number, number][];
    readonly #sizeMismatch: boolean;
    #damaged: boolean;
    #tooLarge = false;
    #fatal: unknown = null;
    #fd = -1;
    #opening: Promise<number> | null = null;
    /** Where the writes reached: the file's length, since it was created empty. */
    #end = 0;
    /** Chunks asked for and not yet done, plus one while chunks are still being asked for. */
    #pending = 1;

    constructor(node: FileNode, sink: FileSink, missing: [number, number][], sizeMismatch: boolean) {
      this.#node = node;
      this.#sink = sink;
      this.#missing = missing;
      this.#sizeMismatch = sizeMismatch;
      this.#damaged = missing.length > 0 && !sizeMismatch;
    }

    /** Asks for every chunk; `started` is called once the first is asked for (or none is left). */
    async request(placed: PlacedChunk[], started: () => void): Promise<void> {
      const size = this.#node.size;
      try {
        await fileSlots.take();
        for (const p of placed) {
          if (this.#fatal) break;
          if (options.signal?.aborted) {
            this.#fail(options.signal.reason ?? new Error("aborted"));
            break;
          }
          if (p.length === 0) continue;
          const end = Math.min(p.offset + p.length, size);
          if (zeroChunks.has(p.hex)) {
            onBytes(end - p.offset);
            continue;
          }
          const loc = p.loc;
          if (!p.id || !loc) {
            // Not a blob id, or in no index: what loading it would have found.
            this.#lose(p.offset, end);
            continue;
          }
          const cost = decodedCost(loc);
          await budget.take(cost);
          started();
          this.#pending++;
          // The cost goes back to the budget once the blob is written (or dropped): see #arrive.
          reader.read(loc, (data, err) => this.#arrive(p, loc, end, data, err, cost));
        }
      } catch (err) {
        this.#fail(err);
      }
      started();
      this.#settle();
    }

    #arrive(p: PlacedChunk, loc: BlobLocation, end: number, data: Uint8Array | null, err: unknown, cost: number): void {
      if (data === null) {
        budget.give(cost);
        reader.isDamage(err, loc.id).then(
          (damage) => (damage ? this.#lose(p.offset, end) : this.#fail(err)),
          (e: unknown) => this.#fail(e),
        ).finally(() => this.#settle());
        return;
      }
      let writing = false;
      try {
        if (this.#fatal) return;
        if (data.length !== p.length) {
          this.#lose(p.offset, end); // a blob of another length than the index says: damage
          return;
        }
        if (isZero(data)) zeroChunks.add(p.hex);
        else {
          // The decoder reuses its buffers once this returns: the write gets its own copy,
          // charged to the budget until it is written, so many files' writes can be in flight.
          writing = true;
          const length = end - p.offset;
          const copy = Buffer.allocUnsafe(length);
          copy.set(data.subarray(0, length));
          this.#pending++;
          void this.#write(copy, p.offset).then(
            () => onBytes(length),
            (e: unknown) => this.#fail(e),
          ).finally(() => {
            budget.give(cost); // written: its bytes are no longer held
            this.#settle();
          });
          return;
        }
        onBytes(end - p.offset);
      } catch (e) {
        this.#fail(e);
      } finally {
        if (!writing) budget.give(cost);
        this.#settle();
      }
    }

    async #write(data: Buffer, offset: number): Promise<void> {
      const fd = await this.#open();
      const length = data.length;
      try {
        for (const [from, to] of dataPieces(data, length, offset)) {
          let done = from;
          while (done < to) done += await writeAt(fd, data, done, to - done, offset + done);
          if (offset + to > this.#end) this.#end = offset + to;
        }
      } catch (err) {
        // Past what the file system allows in one file: a problem of this file only.
        if ((err as NodeJS.ErrnoException).code !== "EFBIG") throw err;
        this.#tooLarge = true;
        this.#missing.push([offset, offset + length]);
        return;
      }
    }

    #open(): Promise<number> {
      if (!this.#opening) {
        const signal = options.signal;
        this.#opening = signal?.aborted ? Promise.reject(signal.reason ?? new Error("aborted")) : Promise.resolve().then(() => this.#sink.open());
        this.#opening.then((fd) => (this.#fd = fd), () => {});
      }
      return this.#opening;
    }

    #lose(start: number, end: number): void {
      this.#damaged = true;
      this.#missing.push([start, end]);
      onBytes(end - start);
    }

    #fail(err: unknown): void {
      if (this.#fatal) return;
      this.#fatal = err;
      reader.stop(err);
    }

    /** One pending step is done; after the last, the file is finished. */
    #settle(): void {
      if (--this.#pending > 0) return;
      void this.#finish();
    }

    async #finish(): Promise<void> {
      const size = this.#node.size;
      if (!this.#fatal) {
        try {
          const fd = await this.#open();
          if (this.#end !== size) await truncateTo(fd, size);
        } catch (err) {
          // A declared size no file here can have (a hostile vault, or a small target file system).
          const code = (err as NodeJS.ErrnoException).code;
          if (this.#fd >= 0 && (code === "EFBIG" || code === "EINVAL" || code === "ERR_OUT_OF_RANGE")) {
            this.#tooLarge = true;
            this.#missing.push([await sizeOf(this.#fd), size]);
          } else {
            this.#fatal = err;
            reader.stop(err);
          }
        }
      }
      fileSlots.give();
      if (this.#fatal) return this.#sink.finish(null, this.#fatal);
      this.#sink.finish({ missing: mergeRanges(this.#missing), damaged: this.#damaged, sizeMismatch: this.#sizeMismatch, tooLarge: this.#tooLarge }, null);
    }
  }

  return {
    isDamage: reader.isDamage,
    write(node, sink) {
      let plan: FileLayout;
      try {
        plan = layout(node, vault.index);
      } catch (err) {
        sink.finish(null, err); // a node no index lookup can make sense of: as fatal as ever
        return Promise.resolve();
      }
      const file = new FileWrite(node, sink, plan.missing, plan.sizeMismatch);
      return new Promise<void>((started) => void file.request(plan.placed, started));
    },
  };
}

function writeAt(fd: number, data: Buffer, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, data, at, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

function truncateTo(fd: number, size: number): Promise<void> {
  return new Promise((resolve, reject) => ftruncate(fd, size, (err) => (err ? reject(err) : resolve())));
}

function sizeOf(fd: number): Promise<number> {
  return new Promise((resolve, reject) => fstat(fd, (err, st) => (err ? reject(err) : resolve(st.size))));
}
