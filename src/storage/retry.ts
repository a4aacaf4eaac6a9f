/**
 * withRetry(storage): retries what may succeed next time, with exponential backoff and full
 * jitter (delay before retry n = random() × min(maxMs, baseMs × 2^(n-1))).
 *
 * - Retried: StorageError { permanent: false } (5xx, throttling, timeouts, short reads) and raw
 *   network errors (ECONNRESET, ETIMEDOUT, "fetch failed", …) that escape a backend.
 * - Not retried, passed through unchanged: NotFoundError, permanent StorageErrors, anything else
 *   (bugs should surface at once).
 * - Retries exhausted: a permanent StorageError
 *   `Cannot <op> "<key>" in "<location>": <last cause> (gave up after N attempts)`.
 * - list(): the listing is started again only while it has yielded nothing; once keys went out,
 *   a failure is rethrown as it is (restarting would yield keys twice, and remembering every
 *   key of a large vault costs memory). Backends should make a whole listing cheap to restart.
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

  /** After a failed attempt: wait and return, or throw the error to give to the caller. */
  async function afterFailure(op: StorageOp, key: string, attempt: number, err: unknown): Promise<void> {
    if (!isRetryable(err)) throw err;
    if (attempt >= attempts) throw gaveUp(op, key, attempt, err);
    const delayMs = backoffDelay(attempt, { baseMs, maxMs, random });
    options.onRetry?.({ op, key, attempt, error: err, delayMs });
    await sleep(delayMs);
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

  return {
    location: storage.location,
    save: (key: string, data: Uint8Array) => retry("save", key, () => storage.save(key, data)),
    load: (key: string, range?: ByteRange) => retry("load", key, () => storage.load(key, range)),
    stat: (key: string) => retry("stat", key, () => storage.stat(key)),
    remove: (key: string) => retry("remove", key, () => storage.remove(key)),
    async *list(prefix: string, options?: ListOptions): AsyncGenerator<ObjectInfo> {
      for (let attempt = 1; ; attempt++) {
        let yielded = false;
        try {
          for await (const info of storage.list(prefix, options)) {
            yielded = true;
            yield info;
          }
          return;
        } catch (err) {
          if (yielded) throw err;
          await afterFailure("list", prefix, attempt, err);
        }
      }
    },
  };
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
