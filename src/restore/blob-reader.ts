/**
 * Blob loads of a restore: one ranged load for a run of neighbouring blobs of a pack, instead
 * of one load (local: open + stat + read + close; S3: a request) per blob.
 *
 *   read(loc, done)      queued under its pack; the content writer asks ahead of the files it
 *                        writes, as far as its byte budget allows (write-file.ts)
 *   on the next turn of the event loop (the walker has queued all it may), while fewer than
 *   `concurrency` loads are in flight:
 *     the pack asked for longest ago -> its queued blobs by offset -> one run: neighbours
 *     less than GAP_BYTES apart, at most MAX_RUN_BYTES stored and MAX_RUN_DECODED_BYTES
 *     decoded -> storage.load(pack, run range)
 *   the load ends:  each blob sliced out and decoded exactly as Vault.loadBlobAt decodes it
 *                   (decoder.ts, on a worker thread: length, CRC-32, authentication, zstd
 *                   with its cap) -> done(raw, null), or done(null, VaultDamageError) for
 *                   that blob alone
 *   the load fails: NotFoundError (pack missing)            -> each blob: missingPackError
 *                   permanent, and the pack is shorter than the run (truncated) or gone
 *                                                           -> each blob loaded alone (loadBlobAt)
 *                   anything else (unreachable, denied)     -> each blob: that error
 * A run of one blob is exactly the load restore always made, so it fails exactly as before.
 *
 * `done` is called exactly once per read, and sees the bytes only during the call (unencrypted
 * and uncompressed blobs are views of the run). Memory: runs in flight hold at most what the
 * writer's budget allows (decoded bytes) plus the gaps inside runs. isDamage() is the one
 * place that tells damage of a blob (missing, corrupt, in a truncated pack) from a failure of
 * the whole vault.
 */
import { VaultDamageError } from "../errors.ts";
import { NotFoundError, StorageError } from "../storage/storage.ts";
import type { BlobLocation, Tier } from "../vault/blob-index.ts";
import { packKey } from "../vault/layout.ts";
import { type Vault, missingPackError } from "../vault/vault.ts";
import { type BlobDone, type RunBlob, type RunDecoder, inlineDecoder } from "./decoder.ts";

export type { BlobDone } from "./decoder.ts";

/** Blobs closer than this in a pack are loaded together (the bytes between are read and dropped). */
export const GAP_BYTES = 256 * 1024;
/** A run is at most this long (a single larger blob is loaded alone). */
export const MAX_RUN_BYTES = 2 * 1024 * 1024;
/**
 * A run decodes to at most this many bytes (a single larger blob is loaded alone): 2 MiB of
 * text that zstd shrank 75x would decode to 150 MiB at once, all held until handed out.
 */
export const MAX_RUN_DECODED_BYTES = 8 * 1024 * 1024;

/** Loads blobs for a restore, batched per pack. */
export interface BlobReader {
  /** Asks for a blob; `done` is called exactly once, later (never from within read). */
  read(loc: BlobLocation, done: BlobDone): void;
  /**
   * True when an error of loading blob `id` is damage of that blob (missing, corrupt, or in a
   * truncated pack), false when it is about the vault as a whole (unreachable, access denied).
   */
  isDamage(err: unknown, id: Uint8Array): Promise<boolean>;
  /** After a fatal error: nothing more is loaded; every queued read gets `reason`. */
  stop(reason: unknown): void;
  /** Once the restore is over: stops the decoder's worker. */
  close(): void;
}

/** Options of a blob reader. */
export interface BlobReaderOptions {
  /** Loads in flight at once. */
  concurrency: number;
  /** Decodes loaded runs (default: inline, on this thread). */
  decoder?: RunDecoder;
}

type Want = RunBlob;

interface PackQueue {
  key: string;
  tier: Tier;
  wants: Want[];
  sorted: boolean;
}

/** Creates the blob reader of one restore. */
export function createBlobReader(vault: Pick<Vault, "index" | "keys" | "config" | "tierStorage" | "loadBlobAt">, options: BlobReaderOptions): BlobReader {
  const maxLoads = Math.max(1, options.concurrency);
  const decoder = options.decoder ?? inlineDecoder(vault);
  const queues = new Map<string, PackQueue>(); // in order of first request: the oldest first
  const sizes = new Map<string, Promise<number | null | undefined>>(); // pack size; null: gone; undefined: unknown
  let inFlight = 0;
  let scheduled = false;
  let stopped: { reason: unknown } | null = null;

  /** A pack's size (stat once per pack): null when it is gone, undefined when stat failed. */
  function packSize(tier: Tier, key: string): Promise<number | null | undefined> {
    let p = sizes.get(`${tier}:${key}`);
    if (!p) {
      p = vault.tierStorage(tier).stat(key).then((s) => (s === null ? null : s.size), () => undefined);
      sizes.set(`${tier}:${key}`, p);
    }
    return p;
  }

  async function isDamage(err: unknown, id: Uint8Array): Promise<boolean> {
    if (err instanceof VaultDamageError || err instanceof NotFoundError) return true;
    if (!(err instanceof StorageError) || !err.permanent) return false;
    // A range past the end of a pack (a truncated pack) is damage; other permanent errors
    // (access denied…) are about the vault as a whole.
    const loc = vault.index.get(id);
    if (!loc) return true;
    const size = await packSize(loc.tier, packKey(loc.packId));
    return size === null || (size !== undefined && size < loc.offset + loc.storedLength);
  }

  function schedule(): void {
    if (scheduled || stopped) return;
    scheduled = true;
    setImmediate(dispatch);
  }

  function dispatch(): void {
    scheduled = false;
    while (!stopped && inFlight < maxLoads && queues.size > 0) {
      const [name, q] = queues.entries().next().value as [string, PackQueue];
      const run = takeRun(q);
      if (q.wants.length === 0) queues.delete(name);
      inFlight++;
      void load(q, run).finally(() => {
        inFlight--;
        if (queues.size > 0) schedule();
      });
    }
  }

  async function load(q: PackQueue, run: Want[]): Promise<void> {
    const start = run[0].loc.offset;
    let end = start;
    for (const w of run) end = Math.max(end, w.loc.offset + w.loc.storedLength);
    let data: Uint8Array;
    try {
      data = await vault.tierStorage(q.tier).load(q.key, { offset: start, length: end - start });
    } catch (err) {
      await failed(q, run, end, err);
      return;
    }
    await decoder.decode(run, data, start);
  }

  async function failed(q: PackQueue, run: Want[], end: number, err: unknown): Promise<void> {
    if (err instanceof NotFoundError) {
      for (const w of run) w.done(null, missingPackError(w.loc));
      return;
    }
    if (run.length > 1 && err instanceof StorageError && err.permanent) {
      const size = await packSize(q.tier, q.key);
      if (size === null || (size !== undefined && size < end)) {
        // Truncated (or gone): what lies before the cut is intact, so each blob on its own.
        for (const w of run) {
          let raw: Uint8Array | null = null;
          let error: unknown = null;
          try {
            raw = await vault.loadBlobAt(w.loc);
          } catch (e) {
            error = e;
          }
          w.done(raw, error);
        }
        return;
      }
    }
    for (const w of run) w.done(null, err);
  }

  return {
    read(loc, done) {
      if (stopped) {
        const reason = stopped.reason;
        queueMicrotask(() => done(null, reason));
        return;
      }
      const name = `${loc.tier}:${loc.packId}`;
      let q = queues.get(name);
      if (!q) {
        q = { key: packKey(loc.packId), tier: loc.tier, wants: [], sorted: true };
        queues.set(name, q);
      }
      const last = q.wants[q.wants.length - 1];
      if (last && last.loc.offset > loc.offset) q.sorted = false;
      q.wants.push({ loc, done });
      schedule();
    },
    isDamage,
    stop(reason) {
      if (stopped) return;
      stopped = { reason };
      const dropped = [...queues.values()].flatMap((q) => q.wants);
      queues.clear();
      queueMicrotask(() => {
        for (const w of dropped) w.done(null, reason);
      });
    },
    close() {
      decoder.close();
    },
  };
}

/**
 * Takes the first run off a pack's queue: blobs by offset, gaps < GAP_BYTES, ≤ MAX_RUN_BYTES
 * stored, ≤ MAX_RUN_DECODED_BYTES decoded.
 */
export function takeRun(q: { wants: Want[]; sorted: boolean }): Want[] {
  const wants = q.wants;
  if (!q.sorted) {
    wants.sort((a, b) => a.loc.offset - b.loc.offset);
    q.sorted = true;
  }
  const start = wants[0].loc.offset;
  let end = start + wants[0].loc.storedLength;
  let decoded = wants[0].loc.rawLength;
  let n = 1;
  for (; n < wants.length; n++) {
    const loc = wants[n].loc;
    const next = Math.max(end, loc.offset + loc.storedLength);
    if (loc.offset > end + GAP_BYTES || next - start > MAX_RUN_BYTES || decoded + loc.rawLength > MAX_RUN_DECODED_BYTES) break;
    end = next;
    decoded += loc.rawLength;
  }
  return wants.splice(0, n);
}
