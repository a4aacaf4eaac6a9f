/**
 * withBandwidth(storage, limits): caps the bytes per second that save sends and load
 * receives, for hosts that back up over a shared link (`--limit-upload`, `limit_upload`).
 *
 * A token bucket per direction, holding at most `burst` bytes (default a twentieth of a
 * second's worth, at least 64 KiB, so that the achieved rate stays within a few percent of
 * the limit even for a short transfer). Tokens may go negative: a transfer larger than the
 * bucket reserves what it needs and waits until the debt is paid, and later callers queue
 * behind it, so the rate holds with any number of transfers in flight.
 *
 * - save: waits for its bytes BEFORE sending (the link never sees more than the limit plus
 *   one burst).
 * - load: the size is known once the bytes arrived, so it pays AFTER receiving; the next
 *   load waits for that debt. Over many objects the rate converges to the limit.
 * - create (streamed writes, where the backend has it): each part waits before it is written.
 * - stat, list, remove are not limited (their bodies are small).
 * - A limit of 0 or undefined means no limit for that direction.
 *
 * The bucket's arithmetic is pure (reserveTokens); the clock is injected.
 */
import type { ByteRange, ListOptions, ObjectInfo, ObjectWriter, Storage } from "./storage.ts";

/** A token bucket's state: tokens (bytes; negative is debt) as of time `at` (ms). */
export interface BucketState {
  tokens: number;
  at: number;
}

/** A bucket's parameters. */
export interface BucketRate {
  bytesPerSec: number;
  burst: number;
}

/** Takes n bytes at time now: the new state, and how long the taker must wait (ms). */
export function reserveTokens(state: BucketState, n: number, now: number, rate: BucketRate): { state: BucketState; waitMs: number } {
  const elapsed = Math.max(0, now - state.at);
  const refilled = Math.min(rate.burst, state.tokens + (elapsed * rate.bytesPerSec) / 1000);
  const tokens = refilled - n;
  return { state: { tokens, at: Math.max(now, state.at) }, waitMs: tokens >= 0 ? 0 : (-tokens * 1000) / rate.bytesPerSec };
}

/** Time as the limiter sees it; tests inject a fake one. */
export interface BandwidthClock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Options of withBandwidth. */
export interface BandwidthOptions {
  uploadBytesPerSec?: number;
  downloadBytesPerSec?: number;
  /** Bucket size in bytes; default max(64 KiB, rate / 20). */
  burst?: number;
  clock?: BandwidthClock;
  /** Buckets to share with other storages on the same link (a vault's warm and cold tiers). */
  limiter?: BandwidthLimiter;
}

/** The two buckets of a link; null where that direction is not limited. */
export interface BandwidthLimiter {
  upload: ((n: number) => Promise<void>) | null;
  download: ((n: number) => Promise<void>) | null;
}

/** Makes the buckets for the given rates. */
export function createBandwidthLimiter(options: BandwidthOptions): BandwidthLimiter {
  return {
    upload: options.uploadBytesPerSec ? createBucket(options.uploadBytesPerSec, options) : null,
    download: options.downloadBytesPerSec ? createBucket(options.downloadBytesPerSec, options) : null,
  };
}

const MIN_BURST = 64 * 1024;

const REAL_CLOCK: BandwidthClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A bucket with a clock: take(n) resolves once n bytes may pass. */
export function createBucket(bytesPerSec: number, options: { burst?: number; clock?: BandwidthClock } = {}): (n: number) => Promise<void> {
  const clock = options.clock ?? REAL_CLOCK;
  const rate: BucketRate = { bytesPerSec, burst: options.burst ?? Math.max(MIN_BURST, bytesPerSec / 20) };
  let state: BucketState = { tokens: rate.burst, at: clock.now() };
  return async (n) => {
    const r = reserveTokens(state, n, clock.now(), rate);
    state = r.state;
    if (r.waitMs > 0) await clock.sleep(r.waitMs);
  };
}

/** Wraps a storage so that uploads and downloads keep to the given rates. */
export function withBandwidth(storage: Storage, options: BandwidthOptions): Storage {
  const { upload: up, download: down } = options.limiter ?? createBandwidthLimiter(options);
  if (!up && !down) return storage;
  const inner = storage;
  const limited: Storage = {
    location: storage.location,
    async save(key: string, data: Uint8Array) {
      if (up) await up(data.length);
      return storage.save(key, data);
    },
    async load(key: string, range?: ByteRange) {
      const data = await storage.load(key, range);
      if (down) await down(data.length);
      return data;
    },
    stat: (key: string) => storage.stat(key),
    remove: (key: string) => storage.remove(key),
    list: (prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> => storage.list(prefix, opts),
  };
  if (inner.create) {
    limited.create = async (key: string): Promise<ObjectWriter> => {
      const w = await inner.create!(key);
      return {
        async write(part) {
          if (up) await up(part.length);
          return w.write(part);
        },
        commit: () => w.commit(),
        abort: () => w.abort(),
      };
    };
  }
  if (inner.leftovers) limited.leftovers = (prefix: string) => inner.leftovers!(prefix);
  return limited;
}

/** Parses a MiB/s limit ("4", "0.5"); null when it is not a positive number. */
export function parseMibPerSec(text: string): number | null {
  if (!/^\d+(?:\.\d+)?$/.test(text.trim())) return null;
  const mib = Number(text);
  return mib > 0 ? Math.round(mib * 1024 * 1024) : null;
}
