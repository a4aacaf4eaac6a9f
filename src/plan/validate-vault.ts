/** The `[vaults.NAME]` tables of plan files: keys, types and rules, every problem reported with its position. */
import type { KeyPath, Reader } from "./parse.ts";
import type { VaultSpec } from "./plans.ts";
import { duration, required } from "./_fields.ts";
import { formatDuration } from "./duration.ts";

const VAULT_KEYS = [
  "url", "endpoint", "region", "force_path_style", "access_key_id", "secret_access_key", "session_token",
  "cold_storage_class", "cold_path", "encryption", "allow_short_cold", "lock", "job_retention",
  "limit_upload", "limit_download", "request_timeout", "max_attempts", "password_file", "password_command",
];
const LOCK_KEYS = ["min_retention", "max_retention"];

/** Reads and checks one vault table; undefined when it is not a table. */
export function readVault(r: Reader, name: string): VaultSpec | undefined {
  const path = ["vaults", name];
  const context = `[vaults.${name}]`;
  if (!r.table(path, context, VAULT_KEYS)) return undefined;
  const url = required(r, path, context, "url");
  const vault: VaultSpec = { name, url: url ?? "", allowShortCold: r.boolean([...path, "allow_short_cold"]) ?? false, file: r.file, line: r.at(path).line };
  const strings = [
    ["endpoint", "endpoint"], ["region", "region"], ["access_key_id", "accessKeyId"], ["secret_access_key", "secretAccessKey"],
    ["session_token", "sessionToken"], ["cold_storage_class", "coldStorageClass"], ["cold_path", "coldPath"],
    ["password_file", "passwordFile"], ["password_command", "passwordCommand"],
  ] as const;
  for (const [key, field] of strings) {
    const value = r.string([...path, key]);
    if (value !== undefined) vault[field] = value;
  }
  if (vault.passwordFile !== undefined && vault.passwordCommand !== undefined) {
    r.report([...path, "password_command"], `Invalid [vaults.${name}]: "password_file" and "password_command" are both set: give one`);
  }
  const forcePathStyle = r.boolean([...path, "force_path_style"]);
  if (forcePathStyle !== undefined) vault.forcePathStyle = forcePathStyle;
  const encryption = r.string([...path, "encryption"]);
  if (encryption === "aes-256-gcm") vault.encryption = encryption;
  else if (encryption === "none") vault.encryption = null; // unencrypted on purpose, even with a password set
  else if (encryption !== undefined) r.report([...path, "encryption"], `Invalid "encryption" value "${encryption}": expected "aes-256-gcm" or "none"`, "value");
  const jobRetentionMs = duration(r, [...path, "job_retention"]);
  if (jobRetentionMs !== undefined) vault.jobRetentionMs = jobRetentionMs;
  for (const [key, field] of [["limit_upload", "limitUploadBytesPerSec"], ["limit_download", "limitDownloadBytesPerSec"]] as const) {
    const bytes = mibPerSec(r, [...path, key]);
    if (bytes === undefined) continue;
    if (url !== undefined && !url.trim().toLowerCase().startsWith("s3://")) r.report([...path, key], `Invalid "${key}": bandwidth limits apply to S3 vaults only`, "key");
    else vault[field] = bytes;
  }
  const requestTimeoutMs = duration(r, [...path, "request_timeout"]);
  if (requestTimeoutMs === 0) r.report([...path, "request_timeout"], 'Invalid "request_timeout": must be longer than 0', "value");
  else if (requestTimeoutMs !== undefined) vault.requestTimeoutMs = requestTimeoutMs;
  const maxAttempts = r.get([...path, "max_attempts"]);
  if (maxAttempts !== undefined) {
    if (typeof maxAttempts === "number" && Number.isInteger(maxAttempts) && maxAttempts >= 1 && maxAttempts <= 100) vault.maxAttempts = maxAttempts;
    else r.report([...path, "max_attempts"], `Invalid "max_attempts": expected a whole number from 1 to 100 (1: no retries)`, "value");
  }
  if (r.table([...path, "lock"], `[vaults.${name}.lock]`, LOCK_KEYS)) {
    const minRetentionMs = duration(r, [...path, "lock", "min_retention"]);
    const maxRetentionMs = duration(r, [...path, "lock", "max_retention"]);
    vault.lock = {};
    if (minRetentionMs !== undefined) vault.lock.minRetentionMs = minRetentionMs;
    if (maxRetentionMs !== undefined) vault.lock.maxRetentionMs = maxRetentionMs;
    if (minRetentionMs !== undefined && maxRetentionMs !== undefined && minRetentionMs > maxRetentionMs) {
      r.report([...path, "lock", "min_retention"], `Invalid vault lock: min_retention ${formatDuration(minRetentionMs)} is longer than max_retention ${formatDuration(maxRetentionMs)}`, "value");
    }
  }
  return url === undefined ? undefined : vault;
}

/** A MiB/s value (integer or decimal, above 0) as bytes per second. */
function mibPerSec(r: Reader, path: KeyPath): number | undefined {
  const v = r.get(path);
  if (v === undefined) return undefined;
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) {
    r.report(path, `Invalid "${path.at(-1)}": expected MiB/s as a number above 0, e.g. 4 or 0.5`, "value");
    return undefined;
  }
  return Math.round(n * 1024 * 1024);
}
