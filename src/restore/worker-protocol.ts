/**
 * The messages between restore's main thread and its two workers, one typed union each way
 * so that both sides agree on every field.
 *
 * Decode worker (_decode-worker.ts, started by decoder.ts):
 *   init  { keys, maxDataBytes }                                        -> ready
 *   run   { seq, packId, data, offset, length, items, ids, out }
 *         the run is data[offset, offset + length); items: ITEM_FIELDS numbers per blob,
 *         [at, storedLength, rawLength, crc, compressed, type] (at: offset in the run); ids:
 *         32 bytes per blob; out: a buffer main is done with, for reuse
 *         -> run { seq, out, moved, spans, errors }
 *         spans: SPAN_FIELDS numbers per blob, [buffer, offset, length]: buffer 0 is `out`
 *         (small blobs copied into it), buffer i > 0 is moved[i - 1] (a large blob that owns
 *         its buffer, moved); length -1: the blob failed and errors[i] says why.
 *         Each blob is decoded by decodeStoredBlob, exactly as on the main thread.
 *
 * Times worker (_times-worker.ts, started by times.ts):
 *   { id, fds, times: (sec, nsec) per fd }  -> { id, errors: an errno code per fd, or null }
 */
import type { VaultKeys } from "../vault/crypto.ts";

/** Numbers per blob in a run message's items. */
export const ITEM_FIELDS = 6;
/** Numbers per blob in a run answer's spans. */
export const SPAN_FIELDS = 3;

/** Why one blob could not be decoded (damage: it was a VaultDamageError). */
export interface DecodeError {
  damage: boolean;
  key: string;
  message: string;
  hint?: string;
}

/** A loaded run to decode (see the file comment). */
export interface RunMessage {
  t: "run";
  seq: number;
  packId: string;
  data: ArrayBuffer;
  offset: number;
  length: number;
  items: Float64Array;
  ids: Uint8Array;
  out: ArrayBuffer | null;
}

/** The decoded blobs of a run (see the file comment). */
export interface RunAnswer {
  t: "run";
  seq: number;
  out: ArrayBuffer;
  moved: ArrayBuffer[];
  spans: Int32Array;
  errors: (DecodeError | null)[];
}

/** What main posts to the decode worker. */
export type ToDecodeWorker = { t: "init"; keys: VaultKeys | null; maxDataBytes: number } | RunMessage;

/** What the decode worker posts to main. */
export type FromDecodeWorker = { t: "ready" } | RunAnswer;

/** Descriptors whose times to set: times holds (sec, nsec) for each fd in turn. */
export interface TimesRequest {
  id: number;
  fds: number[];
  times: BigInt64Array;
}

/** How each futimens of a request went: an errno code (e.g. "EPERM"), or null. */
export interface TimesAnswer {
  id: number;
  errors: (string | null)[];
}
