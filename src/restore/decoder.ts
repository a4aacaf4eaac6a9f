/**
 * Decoding the blobs of a loaded run (blob-reader.ts), on a worker thread once it has started
 * (so that the main thread only creates and writes files), inline until then or if it cannot
 * start. Both call decodeStoredBlob, so a blob is checked and decoded exactly as
 * Vault.loadBlobAt does it (length, CRC-32, authentication, zstd with its size cap).
 *
 * Only runs with compressed blobs go to the worker: node:zlib sets up a zstd context per call,
 * whatever the size, which for small files costs as much as creating the file. Runs of
 * stored-as-is blobs (incompressible data: large files, mostly) cost little to decode (CRC-32
 * and AES-GCM at GB/s) and more to hand over, so they are decoded inline. Measurements:
 * docs/performance.md, "Design notes from earlier measurements".
 *
 *   decode(run, data, start)  inline: each blob decoded and handed to its done(), in order
 *                             worker: the run's bytes go to the worker (moved, not copied: they
 *                             are the reader's own, fresh from storage.load), which answers with
 *                             the raw blobs (small ones copied into one buffer, large ones
 *                             moved); they are handed out the same way, in order; errors come back as VaultDamageError (damage: same key,
 *                             message and hint) or Error (anything else, so fatal)
 *   the answer's buffer goes back to the worker with the next run, so once warm no run
 *   allocates fresh output memory (fresh pages are slow to touch)
 *   close()                   stops the worker (after the restore; nothing is pending then)
 *
 * A decoded blob is valid only during its done() call: its buffer is reused afterwards.
 */
import { VaultDamageError } from "../errors.ts";
import type { BlobLocation } from "../vault/blob-index.ts";
import { type BlobDecodeContext, decodeStoredBlob } from "../vault/vault.ts";
import { type DecodeError, type FromDecodeWorker, ITEM_FIELDS, type RunAnswer, SPAN_FIELDS, type ToDecodeWorker } from "./worker-protocol.ts";

/** Receives a blob's raw bytes (valid only during the call), or the error of loading it. */
export type BlobDone = (data: Uint8Array | null, err: unknown) => void;

/** A blob of a run and who waits for it. */
export interface RunBlob {
  loc: BlobLocation;
  done: BlobDone;
}

/** Decodes the blobs of loaded runs. */
export interface RunDecoder {
  /** Decodes each blob of `run` (data holds the pack's bytes from offset `start`) and calls its done, in order. */
  decode(run: RunBlob[], data: Uint8Array, start: number): Promise<void>;
  /** Stops the worker, if any. */
  close(): void;
}

/** Output buffers kept for reuse (each is touched memory: more costs RSS, fewer costs page faults). */
const SPARE_MAX = 2;
/**
 * Bytes of dropped buffers (loaded runs, decoded blobs once handed out) after which the main
 * thread asks for a collection: its JS heap is small next to them, so the engine would let
 * dead buffers pile up (peak RSS with and without: docs/performance.md, "Design notes from
 * earlier measurements").
 */
const GARBAGE_BEFORE_GC = 64 * 1024 * 1024;
let garbage = 0;

/** Counts bytes of buffers just dropped; asks for a collection now and then. */
function dropped(n: number): void {
  garbage += n;
  if (garbage < GARBAGE_BEFORE_GC) return;
  garbage = 0;
  Bun.gc(false);
}

/** Decodes inline, on the calling thread. */
export function inlineDecoder(vault: BlobDecodeContext): RunDecoder {
  return {
    async decode(run, data, start) {
      decodeInline(vault, run, data, start);
    },
    close() {},
  };
}

function decodeInline(vault: BlobDecodeContext, run: RunBlob[], data: Uint8Array, start: number): void {
  for (const w of run) {
    const at = w.loc.offset - start;
    let raw: Uint8Array | null = null;
    let error: unknown = null;
    try {
      raw = decodeStoredBlob(vault, w.loc, data.subarray(at, at + w.loc.storedLength));
    } catch (err) {
      error = err;
    }
    w.done(raw, error);
    if (raw && raw.buffer !== data.buffer) dropped(raw.length);
  }
  dropped(data.length);
}

/** Where the worker lives: next to this file in source, under restore/ in the compiled binary. */
function workerUrl(): string {
  return import.meta.url.includes("$bunfs") ? new URL("./restore/_decode-worker.ts", import.meta.url).href : new URL("./_decode-worker.ts", import.meta.url).href;
}

/** Decodes on a worker thread, started now; inline until it is ready, or for good if it fails. */
export function workerDecoder(vault: BlobDecodeContext): RunDecoder & { ready: Promise<boolean> } {
  let started: (ok: boolean) => void = () => {};
  const readyP = new Promise<boolean>((r) => (started = r));
  const pending = new Map<number, { run: RunBlob[]; resolve: () => void }>();
  const spare: ArrayBuffer[] = [];
  let seq = 0;
  let ready = false;
  let broken: Error | null = null;
  let worker: Worker | null = null;

  function fail(err: Error): void {
    started(false);
    broken = err;
    ready = false;
    worker?.terminate();
    worker = null;
    const runs = [...pending.values()];
    pending.clear();
    for (const p of runs) {
      for (const w of p.run) w.done(null, err);
      p.resolve();
    }
  }

  try {
    worker = new Worker(workerUrl());
    worker.unref();
    worker.onmessage = (event: MessageEvent<FromDecodeWorker>) => {
      const m = event.data;
      if (m.t === "ready") {
        ready = broken === null;
        started(ready);
      } else if (m.t === "run") {
        answered(m);
      }
    };
    worker.onerror = (e) => fail(new Error(`restore decode worker failed: ${e.message}`));
    post(worker, { t: "init", keys: vault.keys, maxDataBytes: vault.config.chunker.max_size });
  } catch {
    worker = null; // no worker here: decode inline
    started(false);
  }

  function answered(m: RunAnswer): void {
    const p = pending.get(m.seq);
    if (!p) return;
    pending.delete(m.seq);
    if (pending.size === 0) worker?.unref();
    for (let i = 0; i < p.run.length; i++) {
      const [buffer, offset, length] = m.spans.subarray(i * SPAN_FIELDS, i * SPAN_FIELDS + SPAN_FIELDS);
      if (length >= 0) p.run[i].done(new Uint8Array(buffer === 0 ? m.out : m.moved[buffer - 1], offset, length), null);
      else p.run[i].done(null, rebuild(m.errors[i]));
    }
    for (const b of m.moved) dropped(b.byteLength);
    if (spare.length < SPARE_MAX) spare.push(m.out);
    p.resolve();
  }

  return {
    ready: readyP,
    decode(run, data, start) {
      if (!ready || !worker || !run.some((w) => w.loc.compressed)) {
        decodeInline(vault, run, data, start);
        return Promise.resolve();
      }
      const items = new Float64Array(run.length * ITEM_FIELDS);
      const ids = new Uint8Array(run.length * 32);
      for (let i = 0; i < run.length; i++) {
        const loc = run[i].loc;
        const at = i * ITEM_FIELDS;
        items[at] = loc.offset - start;
        items[at + 1] = loc.storedLength;
        items[at + 2] = loc.rawLength;
        items[at + 3] = loc.crc;
        items[at + 4] = loc.compressed ? 1 : 0;
        items[at + 5] = loc.type;
        ids.set(loc.id, i * 32);
      }
      // Move the run's bytes when they fill their own buffer; copy them otherwise.
      const own = data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
      const buffer = (own ? data.buffer : data.slice().buffer) as ArrayBuffer;
      const out = spare.pop() ?? null;
      const n = ++seq;
      const w = worker;
      return new Promise<void>((resolve) => {
        // Keep the process alive while the worker owes an answer (it is unref'd otherwise).
        if (pending.size === 0) w.ref();
        pending.set(n, { run, resolve });
        post(w, { t: "run", seq: n, packId: run[0].loc.packId, data: buffer, offset: 0, length: data.byteLength, items, ids, out }, out ? [buffer, out] : [buffer]);
      });
    },
    close() {
      worker?.terminate();
      worker = null;
      ready = false;
      started(false);
    },
  };
}

/** Posts a message to the decode worker. */
function post(worker: Worker, message: ToDecodeWorker, transfer: Bun.Transferable[] = []): void {
  worker.postMessage(message, transfer);
}

/** The error a blob's decoding threw on the worker, as the main thread would have seen it. */
function rebuild(e: DecodeError | null): Error {
  if (!e) return new Error("restore decode worker: no answer for a blob");
  if (!e.damage) return new Error(e.message);
  const err = new VaultDamageError(e.key, "", e.hint);
  err.message = e.message;
  return err;
}
