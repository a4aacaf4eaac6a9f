/**
 * The messages between the backup pipeline (pipeline.ts, main thread) and its workers
 * (_worker.ts), one typed union each way so that both sides agree on every field.
 *
 * Main -> worker (handled one after another, in order: main posts work right after init):
 *   init    sab, keys, packBytes, pieceBytes (pieceBytes 0: whole packs; else packs are
 *           streamed: a piece of whole blocks goes out each time pieceBytes have piled up)
 *                                                          -> ready
 *   hash    slot, ranges [offset, length]*, skip (1: a small file main could not read
 *           cleanly; not hashed)                           -> hashed { slot, ids }
 *   store   slot, ranges [offset, length]*, ids (32 bytes per range)
 *                                                          -> piece*, pack*, stored { slot }
 *   flush                                                  -> pack?, flushed
 *   recycle buffer, offset (a pack buffer main has saved, for reuse: fresh pages are slow to touch)
 * Worker -> main, besides the answers above:
 *   error   message (the worker's handling of a message threw: the backup fails)
 *
 * Offsets in `ranges` are into the shared memory (`sab`); ids are BLAKE3 (keyed with the
 * vault's id key when it has keys), 32 bytes each. A piece or pack moves its whole buffer
 * (transferred); main hands it back with recycle once saved.
 */
import type { VaultKeys } from "../vault/crypto.ts";
import type { PackEntry } from "../vault/pack.ts";

/** What main posts to a backup worker. */
export type ToWorker =
  | { t: "init"; sab: SharedArrayBuffer; keys: VaultKeys | null; packBytes: number; pieceBytes: number }
  | { t: "hash"; slot: number; ranges: Int32Array; skip: Uint8Array }
  | { t: "store"; slot: number; ranges: Int32Array; ids: Uint8Array }
  | { t: "flush" }
  | { t: "recycle"; buffer: ArrayBuffer; offset: number };

/** A pack's bytes so far, [offset, offset + length) of buffer (streamed packs only). */
export interface PieceMessage {
  t: "piece";
  packId: string;
  buffer: ArrayBuffer;
  offset: number;
  length: number;
}

/** A finished pack (or its last piece, when streamed): its whole size and its entries. */
export interface PackMessage {
  t: "pack";
  packId: string;
  buffer: ArrayBuffer;
  offset: number;
  length: number;
  size: number;
  entries: PackEntry[];
}

/** What a backup worker posts to main. */
export type FromWorker =
  | { t: "ready" }
  | { t: "hashed"; slot: number; ids: Uint8Array }
  | { t: "stored"; slot: number }
  | PieceMessage
  | PackMessage
  | { t: "flushed" }
  | { t: "error"; message: string };

/** Posts a message to a backup worker (main side). */
export function postToWorker(worker: Worker, message: ToWorker, transfer: Bun.Transferable[] = []): void {
  worker.postMessage(message, transfer);
}
