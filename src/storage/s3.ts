/**
 * S3-compatible storage (AWS S3, MinIO, Ceph RGW, R2, …) on Bun's built-in S3 client, so the
 * binary carries no SDK. A key "a/b" is the object "PREFIX/a/b" in the bucket.
 *
 * - save: one PUT up to `multipartThreshold` (64 MiB: above the largest data pack, which is
 *   under 33 MiB, so a pack is one request), a multipart upload above it (parts of `partSize`,
 *   `queueSize` in flight). Both are atomic on S3: readers see no object or all of it.
 * - load: GET, or a ranged GET. A range past the end throws a permanent StorageError; a
 *   response shorter than asked for is never returned.
 * - list: ListObjectsV2 over every page (continuation tokens; vaults hold far more than 1,000
 *   objects), in key order (`sortedList`), so withRetry resumes a failed page after the last key.
 * - At most `maxConcurrent` requests are in flight per storage. Each has a timeout:
 *   `timeoutMs` (default 60 s) plus 1 s per MiB it sends or asks for (a 32 MiB pack PUT gets
 *   92 s), counted from when it is sent; past it the request is abandoned with a transient
 *   StorageError "no answer within N s" (withRetry tries again).
 * - `signal`: once aborted (SIGINT/SIGTERM), requests still get STOP_GRACE_MS (5 s) to finish
 *   (so a stopping backup can still record what it stored); at that deadline every request in
 *   flight is abandoned and any new one fails at once with a permanent StorageError
 *   "stopped by a signal". Bun's client takes no AbortSignal, so abandoned requests are left to
 *   die with the process.
 * - Errors: NoSuchKey → NotFoundError; throttling, 5xx, timeouts, resets → StorageError
 *   { permanent: false } (withRetry retries them); other 4xx → permanent. Messages name the
 *   operation, bucket and key, and are scrubbed of credentials and signatures.
 *
 * Quirks of Bun's client this file works around (Bun 1.3/1.4):
 * - S3Error carries a `code` (from the XML body, or a network error name) but no HTTP status;
 *   a response without an XML body (any HEAD, a bare 403/429/503) is "UnknownError". Those are
 *   treated as transient, so a HEAD refused with 403 is retried before it is reported.
 * - A zero-length ranged read is not possible (Range "bytes=5-4"), so it is answered by a stat.
 * - writer() ignores partSize/storageClass given to the client or file(): pass them to writer().
 * - Empty credential options fall back to S3_* / AWS_* variables of the process.
 */
import { S3Client, type S3Options as BunS3Options } from "bun";
import { type ByteRange, type ObjectInfo, type Storage, NotFoundError, StorageError, assertKey, checkRange, type ListOptions } from "./storage.ts";

/** Storage classes S3 accepts in x-amz-storage-class. */
export type S3StorageClass = NonNullable<BunS3Options["storageClass"]>;

/** The storage classes efsbak accepts (for validating vault tables). */
export const S3_STORAGE_CLASSES: readonly S3StorageClass[] = [
  "STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER",
  "DEEP_ARCHIVE", "REDUCED_REDUNDANCY", "EXPRESS_ONEZONE", "OUTPOSTS", "SNOW",
];

/** How to reach one bucket/prefix. */
export interface S3Options {
  bucket: string;
  /** Folder inside the bucket; leading, trailing and doubled slashes are ignored. */
  prefix?: string;
  /** e.g. "http://127.0.0.1:9000"; default the AWS endpoint of `region`. */
  endpoint?: string;
  /** Default "us-east-1". */
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Path-style requests (endpoint/bucket/key); default true. false: bucket.endpoint/key. */
  forcePathStyle?: boolean;
  /** Class of every object this storage writes; default the bucket's (STANDARD). */
  storageClass?: S3StorageClass;
  /** Multipart part size in bytes; default 8 MiB, minimum 5 MiB. */
  partSize?: number;
  /** Saves larger than this use multipart; default 64 MiB (above the largest pack). */
  multipartThreshold?: number;
  /** Parts of one multipart upload in flight; default 4. */
  queueSize?: number;
  /** Requests in flight at once for this storage; default 16. */
  maxConcurrent?: number;
  /** Per-request timeout before the size allowance (1 s per MiB); default 60,000 ms. */
  timeoutMs?: number;
  /** Keys per listing page (S3 max-keys, 1 to 1,000); default the server's (1,000). */
  listPageSize?: number;
  /** The command's stop signal: after STOP_GRACE_MS, requests are abandoned (see above). */
  signal?: AbortSignal;
}

/** How an S3 error code is treated. */
export type S3ErrorKind = "notfound" | "permanent" | "transient";

const MIB = 1024 * 1024;
/** Default per-request timeout (before the size allowance). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** Default single-PUT limit: above the largest data pack (PACK_TARGET_BYTES + a 16 MiB blob + header). */
export const DEFAULT_MULTIPART_THRESHOLD = 64 * MIB;
/** How long requests may still run once the command's signal is aborted. */
export const STOP_GRACE_MS = 5_000;
const PERMANENT_CODES = new Set([
  "AccessDenied", "AccountProblem", "AllAccessDisabled", "AuthorizationHeaderMalformed",
  "ExpiredToken", "InvalidAccessKeyId", "InvalidArgument", "InvalidBucketName", "InvalidBucketState",
  "InvalidObjectState", "InvalidRange", "InvalidRequest", "InvalidSecurity", "InvalidStorageClass",
  "InvalidToken", "InvalidURI", "KeyTooLongError", "MethodNotAllowed", "MissingSecurityHeader",
  "NoSuchBucket", "NotImplemented", "PermanentRedirect", "Redirect", "SignatureDoesNotMatch",
  "TokenRefreshRequired", "EntityTooLarge", "EntityTooSmall", "MalformedXML", "MissingContentLength",
  "RequestTimeTooSkewed", "UnauthorizedAccess", "InvalidPart", "InvalidPartOrder", "NoSuchUpload",
]);
const TRANSIENT_CODES = new Set([
  "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling",
  "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "Busy", "OperationAborted",
  "BadDigest", "IncompleteBody", "XAmzContentSHA256Mismatch", "RequestTimeoutException",
  "UnknownError", "InvalidResponse",
]);
/** Network-level failure names from Bun (ConnectionRefused, ConnectionClosed, DNSResolveFailed…) or Node. */
const NETWORK_CODE = /connection|closed|reset|refused|timeout|timedout|eof|broken|pipe|unreachable|dns|socket|tls|ssl|network|^E[A-Z]+$/i;

/** Classifies an S3 error code: missing object, permanent (other 4xx), or worth a retry. */
export function s3ErrorKind(code: string | undefined): S3ErrorKind {
  if (code === "NoSuchKey" || code === "NotFound") return "notfound";
  if (code === undefined || code === "") return "transient";
  if (PERMANENT_CODES.has(code) || code.startsWith("ERR_S3_")) return "permanent";
  if (TRANSIENT_CODES.has(code) || NETWORK_CODE.test(code)) return "transient";
  return "permanent";
}

/** Opens (without creating) a storage on an S3 bucket and prefix. Throws on bad options. */
export function s3Storage(options: S3Options): Storage {
  const bucket = options.bucket;
  if (!bucket || /[/\s@:?#]/.test(bucket)) {
    throw new StorageError(`Cannot open S3 bucket "${bucket}": not a valid bucket name`, { permanent: true });
  }
  const prefix = normalizePrefix(options.prefix ?? "");
  const base = prefix ? `${prefix}/` : "";
  const location = prefix ? `s3://${bucket}/${prefix}` : `s3://${bucket}`;
  const secrets = [options.secretAccessKey, options.sessionToken, options.accessKeyId].filter((s): s is string => !!s && s.length >= 4);
  const partSize = Math.max(options.partSize ?? 8 * MIB, 5 * MIB);
  const multipartThreshold = options.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD;
  const queueSize = options.queueSize ?? 4;
  const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const pageSize = options.listPageSize;
  const stopped = stopDeadline(options.signal);
  const storageClass = options.storageClass;
  const limit = limiter(options.maxConcurrent ?? 16);
  const client = new S3Client(clientOptions(options));

  function fail(op: string, key: string, err: unknown): never {
    if (err instanceof StorageError) throw err;
    const e = err as { code?: string; message?: string };
    const code = typeof e?.code === "string" ? e.code : undefined;
    const kind = s3ErrorKind(code);
    if (kind === "notfound" && op !== "list") throw new NotFoundError(key, location);
    const detail = describe(code, typeof e?.message === "string" ? e.message : String(err), secrets);
    const denied = code === "AccessDenied" || code === "AllAccessDisabled" ? code : null;
    throw new StorageError(`Cannot ${op} "${key}" in "${location}": ${detail}`, { permanent: kind !== "transient", key, denied });
  }

  /** Runs one request under the concurrency limit, the timeout and the stop deadline; errors are Bun's. */
  function raw<T>(op: string, key: string, run: () => Promise<T>, bytes = 0): Promise<T> {
    const ms = timeoutMs + Math.ceil(bytes / MIB) * 1000;
    const stoppedError = () => new StorageError(`Cannot ${op} "${key}" in "${location}": stopped by a signal`, { permanent: true, key, hint: "the command was asked to stop" });
    return limit(() => {
      if (stopped.passed()) return Promise.reject(stoppedError());
      return race(run(),
        { ms, error: () => new StorageError(`Cannot ${op} "${key}" in "${location}": no answer within ${seconds(ms)} s`, { permanent: false, key }) },
        { deadline: stopped, error: stoppedError });
    });
  }

  /** Like raw, with errors mapped to NotFoundError / StorageError. */
  function request<T>(op: string, key: string, run: () => Promise<T>, bytes = 0): Promise<T> {
    return raw(op, key, run, bytes).catch((err) => fail(op, key, err));
  }

  async function statObject(key: string): Promise<ObjectInfo | null> {
    try {
      const s = await request("stat", key, () => client.stat(base + key));
      return { key, size: s.size, mtimeMs: dateMs(s.lastModified) };
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  async function loadRange(key: string, range: ByteRange): Promise<Uint8Array> {
    checkRange(key, Number.MAX_SAFE_INTEGER, range); // negative offsets and lengths
    if (range.length === 0) {
      const info = await statObject(key);
      if (!info) throw new NotFoundError(key, location);
      checkRange(key, info.size, range);
      return new Uint8Array(0);
    }
    const end = range.offset + range.length;
    let data: Uint8Array;
    try {
      data = await raw("load", key, () => client.file(base + key).slice(range.offset, end).bytes(), range.length);
    } catch (err) {
      if ((err as { code?: unknown })?.code !== "InvalidRange") fail("load", key, err);
      data = new Uint8Array(0); // the range starts past the end: find the size for the message
    }
    if (data.length === range.length) return data;
    // HTTP lets a server ignore Range and send the whole object (s3rver does for "bytes=0-0").
    if (data.length > range.length && data.length >= end) return data.subarray(range.offset, end);
    // Short answer: either the range reaches past the end (permanent) or the body was cut.
    const info = await statObject(key);
    if (!info) throw new NotFoundError(key, location);
    checkRange(key, info.size, range);
    throw new StorageError(
      `Cannot load "${key}" in "${location}": got ${data.length} of ${range.length} bytes at offset ${range.offset}`,
      { permanent: false, key },
    );
  }

  return {
    location,
    sortedList: true,
    async save(key: string, data: Uint8Array) {
      assertKey(key);
      const sc = storageClass ? { storageClass } : {};
      if (data.length <= multipartThreshold) {
        await request("save", key, () => client.write(base + key, data, { ...sc, type: "application/octet-stream" }), data.length);
        return;
      }
      await request("save", key, async () => {
        // writer() honours only the options given to it, not those of the client or file().
        const writer = client.file(base + key).writer({ ...sc, partSize, queueSize, type: "application/octet-stream" });
        await writer.write(data);
        await writer.end(); // a failed upload is aborted by Bun; see docs/s3.md for leftovers
      }, data.length);
    },
    async load(key: string, range?: ByteRange) {
      assertKey(key);
      if (range) return loadRange(key, range);
      return request("load", key, () => client.file(base + key).bytes());
    },
    async stat(key: string) {
      assertKey(key);
      return statObject(key);
    },
    async *list(listPrefix: string, options?: ListOptions) {
      let continuationToken: string | undefined;
      let startAfter: string | undefined = options?.startAfter === undefined ? undefined : base + options.startAfter;
      for (;;) {
        const page = await request("list", listPrefix, () =>
          client.list({ prefix: base + listPrefix, ...(pageSize ? { maxKeys: pageSize } : {}), ...(continuationToken ? { continuationToken } : startAfter ? { startAfter } : {}) }));
        const contents = page.contents ?? [];
        for (const o of contents) {
          // Skip "folder/" marker objects some consoles create; they are not vault objects.
          if (!o.key.startsWith(base) || o.key.endsWith("/")) continue;
          yield { key: o.key.slice(base.length), size: o.size ?? 0, mtimeMs: dateMs(o.lastModified) };
        }
        if (!page.isTruncated) return;
        // Some servers truncate without a token: go on after the last key, and stop if stuck.
        const last = contents.at(-1)?.key;
        if (page.nextContinuationToken && page.nextContinuationToken !== continuationToken) {
          continuationToken = page.nextContinuationToken;
        } else if (last !== undefined && last !== startAfter) {
          continuationToken = undefined;
          startAfter = last;
        } else {
          throw new StorageError(`Cannot list "${listPrefix}" in "${location}": the server reported more keys but gave no way to fetch them`, { permanent: false, key: listPrefix });
        }
      }
    },
    async remove(key: string) {
      assertKey(key);
      try {
        await request("remove", key, () => client.delete(base + key));
      } catch (err) {
        if (err instanceof NotFoundError) return;
        throw err;
      }
    },
  };
}

/** The options handed to Bun's S3Client (exported for tests of path/virtual-hosted style). */
export function clientOptions(options: S3Options): BunS3Options {
  const region = options.region || "us-east-1";
  let endpoint = (options.endpoint || `https://s3.${region}.amazonaws.com`).replace(/\/+$/, "");
  const pathStyle = options.forcePathStyle ?? true;
  if (!pathStyle) {
    // Bun's virtual-hosted style expects the bucket in the endpoint's host name.
    const u = new URL(endpoint);
    if (!u.hostname.startsWith(`${options.bucket}.`)) u.hostname = `${options.bucket}.${u.hostname}`;
    endpoint = u.toString().replace(/\/+$/, "");
  }
  return {
    bucket: options.bucket,
    region,
    endpoint,
    virtualHostedStyle: !pathStyle,
    ...(options.accessKeyId ? { accessKeyId: options.accessKeyId } : {}),
    ...(options.secretAccessKey ? { secretAccessKey: options.secretAccessKey } : {}),
    ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
  };
}

function normalizePrefix(prefix: string): string {
  const parts = prefix.split("/").filter((p) => p !== "");
  if (parts.some((p) => p === "." || p === ".." || p.includes("\0"))) {
    throw new StorageError(`Cannot use S3 prefix "${prefix}": "." and ".." are not allowed`, { permanent: true });
  }
  return parts.join("/");
}

/** A short, credential-free description of what went wrong, ending with the S3 code. */
function describe(code: string | undefined, message: string, secrets: string[]): string {
  let text = message.trim();
  if (text.startsWith("<") || text === "") text = "unexpected response from the server";
  text = text.split("\n")[0]!;
  if (text.length > 200) text = `${text.slice(0, 200)}…`;
  for (const s of secrets) text = text.split(s).join("***");
  text = text
    .replace(/(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"]+/gi, "$1***")
    .replace(/((?:Signature|Credential|Authorization)\s*[=:]\s*)[^,&\s"]+/gi, "$1***");
  if (text === "an unexpected error has occurred") {
    text = code === "UnknownError" || code === undefined ? "unexpected response from the server" : "request failed";
  }
  return code ? `${text} (${code})` : text;
}

/** "0.4", "12", "92": seconds for messages. */
function seconds(ms: number): string {
  return ms < 10_000 ? String(Math.round(ms / 100) / 10) : String(Math.round(ms / 1000));
}

function dateMs(value: Date | string | undefined): number {
  if (value === undefined) return 0;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isFinite(ms) ? ms : 0;
}

/** Settles like the promise, or rejects with a stop's error when the timeout or the stop deadline comes first (the request itself is abandoned). */
function race<T>(promise: Promise<T>, timeout: { ms: number; error: () => Error }, stop: { deadline: StopDeadline; error: () => Error }): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let unsubscribe = () => {};
  const lost = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout.error()), timeout.ms);
    unsubscribe = stop.deadline.subscribe(() => reject(stop.error()));
  });
  return Promise.race([promise, lost]).finally(() => { clearTimeout(timer); unsubscribe(); });
}

/** STOP_GRACE_MS after the signal aborts: whether it has passed, and callbacks for when it does. */
interface StopDeadline {
  passed(): boolean;
  /** Calls fn when the deadline passes; returns a function that cancels that. */
  subscribe(fn: () => void): () => void;
}

function stopDeadline(signal: AbortSignal | undefined): StopDeadline {
  let passed = false;
  const waiting = new Set<() => void>();
  function start() {
    setTimeout(() => {
      passed = true;
      for (const fn of waiting) fn();
      waiting.clear();
    }, STOP_GRACE_MS);
  }
  if (signal?.aborted) start();
  else signal?.addEventListener("abort", start, { once: true });
  return {
    passed: () => passed,
    subscribe(fn) {
      if (!signal) return () => {};
      waiting.add(fn);
      return () => waiting.delete(fn);
    },
  };
}

/** A FIFO semaphore: at most n tasks run at once; a finishing task hands its slot on. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (running < n) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
