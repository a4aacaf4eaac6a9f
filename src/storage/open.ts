/**
 * openStorage(url): vault URL → the warm Storage and the cold-tier Storage.
 *
 *   "./vault", "/abs/vault", "file:///abs/vault" → localStorage; cold = coldPath ?? VAULT/cold
 *   "s3://bucket/prefix"                          → withRetry(withBandwidth(s3Storage)); cold = same
 *                                                   bucket, PREFIX/cold, written with coldStorageClass;
 *                                                   both tiers share one bandwidth limiter (one link)
 *
 * S3 settings come from the options (the vault table) first, then from env: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (all three from the same place, never mixed),
 * AWS_REGION or AWS_DEFAULT_REGION (default us-east-1), AWS_ENDPOINT_URL_S3 or
 * AWS_ENDPOINT_URL (default AWS). Anything malformed is a UsageError that never repeats a secret.
 *
 * Bounds of every S3 request (docs/s3.md): `requestTimeoutMs` (vault key request_timeout,
 * default 60 s plus 1 s per MiB carried) and `maxAttempts` (max_attempts, default 6); the CLI
 * lets EFSBAK_S3_REQUEST_TIMEOUT / EFSBAK_S3_MAX_ATTEMPTS override them. `signal` stops S3
 * requests STOP_GRACE_MS after it aborts.
 */
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../errors.ts";
import { createBandwidthLimiter, withBandwidth } from "./bandwidth.ts";
import { localStorage } from "./local.ts";
import { type RetryOptions, withRetry } from "./retry.ts";
import { type S3StorageClass, S3_STORAGE_CLASSES, s3Storage } from "./s3.ts";
import type { Storage } from "./storage.ts";

/**
 * How to reach a vault's bucket, as its table in the plans declares it (plan/plans.ts VaultSpec
 * extends this): one type from the plan file to the S3 client. Unset fields fall back to the
 * environment (see above). Local vaults ignore them.
 */
export interface S3Settings {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** S3 class of cold-tier objects; default STANDARD (a separate prefix, no cheaper class). */
  coldStorageClass?: string;
  /** `request_timeout`: per-request timeout before the size allowance (default 60 s; docs/s3.md). */
  requestTimeoutMs?: number;
  /** `max_attempts`: attempts of one S3 request in all, the first included (default 6). */
  maxAttempts?: number;
}

/** The S3Settings fields, for picking them out of a larger object (a vault table). */
const S3_SETTING_FIELDS = ["endpoint", "region", "forcePathStyle", "accessKeyId", "secretAccessKey", "sessionToken", "coldStorageClass", "requestTimeoutMs", "maxAttempts"] as const satisfies readonly (keyof S3Settings)[];

/** The S3 settings of `from` (a vault table, say), without its other fields; {} for null. */
export function s3SettingsOf(from: S3Settings | null | undefined): S3Settings {
  const out: Record<string, unknown> = {};
  for (const field of S3_SETTING_FIELDS) if (from?.[field] !== undefined) out[field] = from[field];
  return out as S3Settings;
}

/** Settings of a vault besides its URL (the vault table, plus the environment). */
export interface OpenStorageOptions extends S3Settings {
  /** Relative local paths are resolved against this (the plans directory or the cwd). */
  baseDir: string;
  /** Local vaults: where the cold tier lives; default VAULT/cold. */
  coldPath?: string;
  /** Local vaults: write large objects with O_DIRECT where the file system takes it (default true; cli: EFSBAK_DIRECT_IO=0 sets false). */
  directIo?: boolean;
  /** Where AWS_* variables are read from (cli passes process.env). */
  env: Record<string, string | undefined>;
  /** Retry settings for S3 (e.g. onRetry for logging, mustExist); attempts come from maxAttempts. */
  retry?: Omit<RetryOptions, "attempts" | "signal">;
  /** The command's stop signal. */
  signal?: AbortSignal;
  /** S3: bytes per second for saves and loads (storage/bandwidth.ts), shared by both tiers. */
  bandwidth?: { uploadBytesPerSec?: number; downloadBytesPerSec?: number };
}

/** An opened vault location. */
export interface OpenedStorage {
  storage: Storage;
  cold: Storage;
  /** For messages: the absolute directory or "s3://bucket/prefix"; never credentials. */
  location: string;
}

/** S3 vault URL parts. */
export interface S3Url {
  bucket: string;
  prefix: string;
}

/** Opens the storage a vault URL names, without creating anything. */
export function openStorage(url: string, options: OpenStorageOptions): OpenedStorage {
  const trimmed = url.trim();
  if (trimmed === "") throw new UsageError("Cannot open vault: the URL is empty", 'use a directory or "s3://bucket/prefix"');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === "s3") return openS3(parseS3Url(trimmed), options);
  if (scheme === "file") return openLocal(fileUrlPath(trimmed), options);
  if (scheme !== undefined) {
    throw new UsageError(`Cannot open vault "${redact(trimmed)}": unsupported scheme "${scheme}://"`, 'use a directory, "file:///dir" or "s3://bucket/prefix"');
  }
  return openLocal(trimmed, options);
}

/** Splits "s3://bucket/prefix" (prefix may be empty; slashes around it are dropped). */
export function parseS3Url(url: string): S3Url {
  const hint = 'write it as "s3://bucket/prefix"';
  const rest = url.trim().replace(/^s3:\/\//i, "");
  if (/[?#]/.test(rest)) throw new UsageError(`Cannot open vault "${redact(url)}": query strings and fragments are not allowed`, hint);
  if (rest.includes("@")) {
    throw new UsageError(`Cannot open vault "${redact(url)}": credentials do not belong in the URL`, "set access_key_id / secret_access_key in the vault table or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY");
  }
  const cut = rest.indexOf("/");
  const bucket = cut < 0 ? rest : rest.slice(0, cut);
  const prefix = cut < 0 ? "" : rest.slice(cut + 1).replace(/^\/+|\/+$/g, "");
  if (bucket === "") throw new UsageError(`Cannot open vault "${url}": the bucket name is missing`, hint);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(bucket)) {
    throw new UsageError(`Cannot open vault "${url}": "${bucket}" is not a valid bucket name`, hint);
  }
  if (prefix !== "" && prefix.split("/").some((p) => p === "" || p === "." || p === "..")) {
    throw new UsageError(`Cannot open vault "${url}": the prefix "${prefix}" has an empty, "." or ".." segment`, hint);
  }
  return { bucket, prefix };
}

function openLocal(path: string, options: OpenStorageOptions): OpenedStorage {
  const dir = isAbsolute(path) ? resolve(path) : resolve(options.baseDir, path);
  const coldDir = options.coldPath ? resolve(options.baseDir, options.coldPath) : join(dir, "cold");
  // The default cold tier is a folder of the vault: it must not be a link either.
  const direct = options.directIo ?? true;
  return { storage: localStorage(dir, { direct }), cold: localStorage(coldDir, options.coldPath ? { direct } : { linkFreeBelow: dir, direct }), location: dir };
}

function openS3(url: S3Url, options: OpenStorageOptions): OpenedStorage {
  const env = options.env;
  const fromTable = options.accessKeyId !== undefined || options.secretAccessKey !== undefined;
  const accessKeyId = fromTable ? options.accessKeyId : env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = fromTable ? options.secretAccessKey : env.AWS_SECRET_ACCESS_KEY;
  const sessionToken = fromTable ? options.sessionToken : env.AWS_SESSION_TOKEN;
  if (!!accessKeyId !== !!secretAccessKey) {
    const where = fromTable ? "the vault table" : "the environment";
    throw new UsageError(
      `Cannot open vault "s3://${url.bucket}/${url.prefix}": ${where} sets ${accessKeyId ? "an access key id but no secret access key" : "a secret access key but no access key id"}`,
      "set both access_key_id and secret_access_key, or both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    );
  }
  const region = options.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
  const endpoint = checkEndpoint(options.endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined);
  const coldStorageClass = checkStorageClass(options.coldStorageClass);
  const timeoutMs = options.requestTimeoutMs;
  const attempts = options.maxAttempts;
  const signal = options.signal;
  const common = { bucket: url.bucket, endpoint, region, forcePathStyle: options.forcePathStyle, accessKeyId, secretAccessKey, sessionToken, timeoutMs, signal };
  const coldPrefix = url.prefix ? `${url.prefix}/cold` : "cold";
  const retry: RetryOptions = { ...options.retry, attempts, signal };
  // Inside the retry: a resent body uses the link again, so it is charged again.
  const limiter = createBandwidthLimiter(options.bandwidth ?? {});
  const storage = withRetry(withBandwidth(s3Storage({ ...common, prefix: url.prefix }), { limiter }), retry);
  const cold = withRetry(withBandwidth(s3Storage({ ...common, prefix: coldPrefix, storageClass: coldStorageClass }), { limiter }), retry);
  return { storage, cold, location: storage.location };
}

function checkEndpoint(endpoint: string | undefined): string | undefined {
  if (endpoint === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new UsageError(`Cannot use S3 endpoint "${redact(endpoint)}": not a URL`, 'write it as "https://host[:port]"');
  }
  if (u.username || u.password) {
    throw new UsageError(`Cannot use S3 endpoint "${redact(endpoint)}": credentials do not belong in the endpoint`, "set access_key_id / secret_access_key instead");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new UsageError(`Cannot use S3 endpoint "${endpoint}": the scheme must be http or https`, 'write it as "https://host[:port]"');
  }
  if (u.search || u.hash || (u.pathname !== "/" && u.pathname !== "")) {
    throw new UsageError(`Cannot use S3 endpoint "${endpoint}": it must not have a path or query`, 'write it as "https://host[:port]"');
  }
  return `${u.protocol}//${u.host}`;
}

function checkStorageClass(value: string | undefined): S3StorageClass {
  if (value === undefined || value === "") return "STANDARD";
  const upper = value.toUpperCase() as S3StorageClass;
  if (!S3_STORAGE_CLASSES.includes(upper)) {
    throw new UsageError(`Cannot use cold_storage_class "${value}": unknown S3 storage class`, `use one of ${S3_STORAGE_CLASSES.join(", ")}`);
  }
  return upper;
}

function fileUrlPath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw new UsageError(`Cannot open vault "${url}": ${(err as Error).message}`, 'write it as "file:///absolute/dir"');
  }
}

/** The URL with any user:password@ part masked, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/[^/@]*@/, "//***@");
}
