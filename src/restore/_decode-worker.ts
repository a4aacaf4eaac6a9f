/**
 * Restore decode worker: checks and decodes the blobs of runs that blob-reader.ts loaded, so
 * that the main thread only creates and writes files. Private to restore/ (started by
 * decoder.ts; an extra entry point of the compiled binary, see scripts/build.ts).
 *
 * The messages both ways are typed and documented in worker-protocol.ts.
 */
import { VaultDamageError } from "../errors.ts";
import type { BlobLocation } from "../vault/blob-index.ts";
import { type BlobDecodeContext, decodeStoredBlob } from "../vault/vault.ts";
import { type DecodeError, type FromDecodeWorker, ITEM_FIELDS, type RunMessage, SPAN_FIELDS, type ToDecodeWorker } from "./worker-protocol.ts";

declare var self: Worker;

/** Output buffers are at least this large (fewer, reused buffers: fresh pages are slow to touch). */
const MIN_OUT_BYTES = 4 * 1024 * 1024;
/** Decoded blobs this large are moved to main in their own buffer, not copied. */
const MOVE_BYTES = 256 * 1024;
/**
 * Bytes of short-lived buffers (zstd and cipher output) after which the worker asks for a
 * collection: its JS heap is tiny, so the engine would let dead buffers pile up.
 */
const GARBAGE_BEFORE_GC = 32 * 1024 * 1024;

let vault: BlobDecodeContext = { keys: null, config: { chunker: { max_size: 0 } } };
let garbage = 0;

function decodeRun(m: RunMessage): { out: ArrayBuffer; moved: ArrayBuffer[]; spans: Int32Array; errors: (DecodeError | null)[] } {
  const n = m.items.length / ITEM_FIELDS;
  const data = new Uint8Array(m.data, m.offset, m.length);
  const raws: (Uint8Array | null)[] = [];
  const errors: (DecodeError | null)[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const it = m.items.subarray(i * ITEM_FIELDS, i * ITEM_FIELDS + ITEM_FIELDS);
    const loc: BlobLocation = {
      packId: m.packId, tier: "warm", type: it[5], compressed: it[4] !== 0, offset: 0,
      storedLength: it[1], rawLength: it[2], crc: it[3], id: m.ids.subarray(i * 32, i * 32 + 32),
    };
    try {
      const raw = decodeStoredBlob(vault, loc, data.subarray(it[0], it[0] + it[1]));
      raws.push(raw);
      errors.push(null);
      total += raw.length;
      garbage += raw.length;
    } catch (err) {
      raws.push(null);
      const e = err as Error & { key?: string; hint?: string };
      errors.push({ damage: err instanceof VaultDamageError, key: e.key ?? "", message: e.message ?? String(err), hint: e.hint });
    }
  }
  // Large blobs that own their buffer are moved as they are; the others are copied into `out`.
  const moved: ArrayBuffer[] = [];
  let small = 0;
  for (const raw of raws) if (raw && !movable(raw)) small += raw.length;
  // A new buffer gets a quarter more room, so that runs a little larger still fit when it comes back.
  const out = m.out && m.out.byteLength >= small ? m.out : new ArrayBuffer(Math.max(MIN_OUT_BYTES, roundUp(small * 1.25, 1 << 20)));
  const view = new Uint8Array(out);
  const spans = new Int32Array(n * SPAN_FIELDS);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const raw = raws[i];
    if (!raw) {
      spans.set([0, 0, -1], i * SPAN_FIELDS);
    } else if (movable(raw)) {
      moved.push(raw.buffer as ArrayBuffer);
      spans.set([moved.length, 0, raw.length], i * SPAN_FIELDS);
      garbage -= raw.length;
    } else {
      spans.set([0, at, raw.length], i * SPAN_FIELDS);
      view.set(raw, at);
      at += raw.length;
    }
  }
  return { out, moved, spans, errors };
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * True when a blob is worth moving rather than copying, and its buffer holds nothing else
 * (the decipher's output buffer is one byte longer than the output).
 */
function movable(raw: Uint8Array): boolean {
  return raw.length >= MOVE_BYTES && raw.byteOffset === 0 && raw.buffer instanceof ArrayBuffer && raw.buffer.byteLength - raw.byteLength <= 64;
}

/** Posts a message to main. */
function post(message: FromDecodeWorker, transfer: Bun.Transferable[] = []): void {
  self.postMessage(message, transfer);
}

self.onmessage = (event: MessageEvent<ToDecodeWorker>) => {
  const m = event.data;
  if (m.t === "init") {
    vault = { keys: m.keys, config: { chunker: { max_size: m.maxDataBytes } } };
    post({ t: "ready" });
    return;
  }
  if (m.t === "run") {
    garbage += m.length;
    const { out, moved, spans, errors } = decodeRun(m);
    post({ t: "run", seq: m.seq, out, moved, spans, errors }, [out, ...moved]);
    if (garbage > GARBAGE_BEFORE_GC) {
      garbage = 0;
      Bun.gc(false);
    }
  }
};
