/**
 * withRetry(storage): retries what may succeed next time, with exponential backoff and full
 * jitter (delay before retry n = random() × min(maxMs, baseMs × 2^(n-1))).
 *
 * - Retried: StorageError { permanent: false } (5xx, throttling, timeouts, short reads) and raw
 *   network errors (ECONNRESET, ETIMEDOUT, "fetch failed", …) that escape a backend, up to
 *   `attempts` attempts in all (default 6).
 * - NotFoundError is passed through at once, except on load of a key `mustExist(key)` says
 *   was named by the vault (listed, indexed or just written): it is tried `notFoundRetries`
 *   more times (default 2) with the same backoff, since some S3-compatible stores are not
 *   read-after-write consistent. Still missing after that: the NotFoundError as it is.
 * - Not retried, passed through unchanged: permanent StorageErrors, anything else (bugs should
 *   surface at once), and anything once `signal` is aborted (the command is stopping).
 * - Retries exhausted: a permanent StorageError
 *   `Cannot <op> "<key>" in "<location>": <last cause> (gave up after N attempts)`.
 * - list(): every page is retried like any other request. Before anything was yielded the
 *   listing simply starts again. Once keys went out, a storage whose listing is in key order
 *   (`sortedList`, S3) is resumed after the last key yielded (startAfter; keys at or before it
 *   are passed over if the backend ignores startAfter), with a fresh count of attempts for
 *   each page that made progress. Any other storage's listing is rethrown as it is once keys
 *   went out (restarting would yield keys twice, and remembering every key costs memory).
 * - onRetry is called once per retry, before its wait (the CLI logs it under --verbose and
 *   counts it in the metrics file).
 * - save is safe to repeat: objects are written whole under names that do not change meaning.
 */
import { type ByteRange, type ObjectInfo, type Storage, NotFoundError, StorageError, type ListOptions } from "./storage.ts";

/** The operations of the storage interface. */
export type StorageOp = "save" | "load" | "stat" | "list" | "remove";

/** What onRetry is told before each wait. */
export interface RetryInfo {
  op: StorageOp;
  key: string;
  /** The attempt that just failed, 1-based. */
  attempt: number;
  error: unknown;
  delayMs: number;
}

/** Options of withRetry. */
export interface RetryOptions {
  /** Attempts in all, the first included; default 6. */
  attempts?: number;
  /** Cap of the first delay; default 200 ms. */
  baseMs?: number;
  /** Cap of any delay; default 10,000 ms. */
  maxMs?: number;
  /** Waits; default a timer (tests inject one that records). */
  sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
  onRetry?: (info: RetryInfo) => void;
  /** Keys the caller knows exist (named by a listing or the index): a NotFoundError on load is retried. */
  mustExist?: (key: string) => boolean;
  /** Extra attempts of such a load after NotFoundError; default 2. */
  notFoundRetries?: number;
  /** Once aborted, nothing more is retried and waits end at once. */
  signal?: AbortSignal;
}

const NETWORK_CODES = new Set([
  "ECONNRESET", "ETIMEDOUT", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "EAI_AGAIN", "EHOSTUNREACH",
  "ENETUNREACH", "ENETDOWN", "ENOTCONN", "ESOCKETTIMEDOUT", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "ConnectionRefused", "ConnectionClosed", "ConnectionReset",
]);

/** True when trying the same call again may succeed. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof NotFoundError) return false;
  if (err instanceof StorageError) return !err.permanent;
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (!e || typeof e !== "object") return false;
  if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) return true;
  if (e.name === "TimeoutError") return true;
  return e.name === "TypeError" && typeof e.message === "string" && /fetch failed|network|socket/i.test(e.message);
}

/** Delay before retry `attempt` (1-based): full jitter under an exponential cap. */
export function backoffDelay(attempt: number, options: { baseMs: number; maxMs: number; random: () => number }): number {
  const cap = Math.min(options.maxMs, options.baseMs * 2 ** (attempt - 1));
  return Math.floor(options.random() * cap);
}

/** Wraps a storage so that transient failures are retried with backoff and jitter. */
export function withRetry(storage: Storage, options: RetryOptions = {}): Storage {
  const attempts = Math.max(1, options.attempts ?? 6);
  const baseMs = options.baseMs ?? 200;
  const maxMs = options.maxMs ?? 10_000;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const notFoundRetries = Math.max(0, options.notFoundRetries ?? 2);
  const signal = options.signal;

  /** After a failed attempt: wait and return, or throw the error to give to the caller. */
  async function afterFailure(op: StorageOp, key: string, attempt: number, err: unknown): Promise<void> {
    if (err instanceof NotFoundError) {
      if (op !== "load" || !options.mustExist?.(key) || attempt > notFoundRetries || signal?.aborted) throw err;
    } else {
      if (!isRetryable(err) || signal?.aborted) throw err;
      if (attempt >= attempts) throw gaveUp(op, key, attempt, err);
    }
    const delayMs = backoffDelay(attempt, { baseMs, maxMs, random });
    options.onRetry?.({ op, key, attempt, error: err, delayMs });
    await abortable(sleep(delayMs), signal);
    if (signal?.aborted) throw err;
  }

  function gaveUp(op: StorageOp, key: string, attempt: number, err: unknown): StorageError {
    const cause = causeText(err, op, key, storage.location);
    return new StorageError(
      `Cannot ${op} "${key}" in "${storage.location}": ${cause} (gave up after ${attempt} attempt${attempt === 1 ? "" : "s"})`,
      { permanent: true, key, cause: err },
    );
  }

  async function retry<T>(op: StorageOp, key: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        await afterFailure(op, key, attempt, err);
      }
    }
  }

  const wrapped: Storage = {
    location: storage.location,
    save: (key: string, data: Uint8Array) => retry("save", key, () => storage.save(key, data)),
    load: (key: string, range?: ByteRange) => retry("load", key, () => storage.load(key, range)),
    stat: (key: string) => retry("stat", key, () => storage.stat(key)),
    remove: (key: string) => retry("remove", key, () => storage.remove(key)),
    async *list(prefix: string, listOptions?: ListOptions): AsyncGenerator<ObjectInfo> {
      let last: string | undefined; // the last key yielded
      for (let attempt = 1; ; attempt++) {
        const resume = last ?? listOptions?.startAfter;
        const from = resume === undefined ? listOptions : { ...listOptions, startAfter: resume };
        let skipping = last !== undefined; // until the backend is past `last` (it may ignore startAfter)
        try {
          for await (const info of storage.list(prefix, from)) {
            if (skipping) {
              if (compareKeys(info.key, last!) <= 0) continue;
              skipping = false;
            }
            if (storage.sortedList && info.key !== last) attempt = 1; // progress: the next page has its own attempts
            last = info.key;
            yield info;
          }
          return;
        } catch (err) {
          if (last !== undefined && !storage.sortedList) throw err;
          await afterFailure("list", prefix, attempt, err);
        }
      }
    },
  };
  if (storage.sortedList) return { ...wrapped, sortedList: true };
  return wrapped;
}

/** Byte order of the UTF-8 encodings (S3's key order); code unit order differs past U+D7FF. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Resolves when the promise does, or at once when the signal aborts. */
function abortable(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = () => { signal.removeEventListener("abort", done); resolve(); };
    signal.addEventListener("abort", done);
    promise.then(done, (err) => { signal.removeEventListener("abort", done); reject(err); });
  });
}

/** The last error's own detail, without a repeated `Cannot <op> "<key>" in "<location>": ` head. */
function causeText(err: unknown, op: string, key: string, location: string): string {
  const message = err instanceof Error ? err.message : String(err);
  const head = `Cannot ${op} "${key}" in "${location}": `;
  if (message.startsWith(head)) return message.slice(head.length);
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && !message.includes(code) ? `${message} (${code})` : message;
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
