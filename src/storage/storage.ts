/**
 * Where vault objects live. One small interface, three implementations (memory, local, s3),
 * behaviour added by wrapping (withRetry, readOnly, faulty in tests).
 *
 * Contract, for every implementation:
 * - Objects are written once and never modified. save() is atomic: a reader sees either no
 *   object or the whole object, never part of one. Saving an existing key replaces it whole.
 * - load() of a missing key MUST throw NotFoundError. A range that reaches past the end MUST
 *   throw a permanent StorageError, never return short data.
 * - list(prefix) yields each key under prefix exactly once, in no particular order; with
 *   `startAfter`, only the keys that sort after it (byte order; S3's StartAfter). A wrapper
 *   that cannot honour startAfter may pass over it: callers filter again.
 * - remove() of a missing key is not an error.
 * - Keys are relative, '/'-separated, without leading '/', '.' or '..' segments.
 * - Messages never contain credentials.
 */
import { EfsbakError } from "../errors.ts";

/** What stat and list report of an object. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Last write time, ms since the epoch (used for GC safety ages). */
  mtimeMs: number;
}

/** Options of Storage.list. */
export interface ListOptions {
  /** Only keys that sort after this one (e.g. the time-ordered job ids of a window). */
  startAfter?: string;
}

/** A byte range of an object. */
export interface ByteRange {
  offset: number;
  length: number;
}

/** An object being written in parts (Storage.create). */
export interface ObjectWriter {
  /** Appends a part; parts land in the order written. The part may be reused once this resolves. */
  write(part: Uint8Array): Promise<void>;
  /** Makes the object visible under its key, whole, atomically (like save). */
  commit(): Promise<void>;
  /** Gives up: nothing becomes visible, and what was written is removed (best effort). */
  abort(): Promise<void>;
}

/** The storage interface every backend implements. */
export interface Storage {
  /** For messages, e.g. "s3://bucket/prefix" or a directory path; never credentials. */
  readonly location: string;
  save(key: string, data: Uint8Array): Promise<void>;
  /**
   * Optional: writes an object in parts, so a large object need not sit in memory whole.
   * Same atomicity as save: until commit() resolves, nothing is visible under key. Backends
   * without it are written with save(); wrappers that cannot keep its promise (retrying a
   * half-sent stream) leave it out.
   */
  create?(key: string): Promise<ObjectWriter>;
  load(key: string, range?: ByteRange): Promise<Uint8Array>;
  stat(key: string): Promise<ObjectInfo | null>;
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  /**
   * Optional: true when list() yields keys in byte order and honours startAfter (S3), so an
   * interrupted listing can be resumed after the last key it yielded (withRetry does).
   */
  readonly sortedList?: boolean;
  remove(key: string): Promise<void>;
  /**
   * Optional: objects that interrupted saves left behind (local temp files `.tmp-*`), which
   * list() never yields; remove() takes their keys. Backends with atomic PUT have none.
   */
  leftovers?(prefix: string): AsyncIterable<ObjectInfo>;
}

/**
 * A storage operation failed. `permanent` tells retry wrappers not to try again. An
 * EfsbakError (exit 1, with a next step), so the CLI reports an unreachable vault as what it
 * is, never as an internal error.
 */
export class StorageError extends EfsbakError {
  readonly permanent: boolean;
  readonly key?: string;
  /**
   * The code when the storage refused for lack of permission (EACCES, EPERM, EROFS; S3
   * AccessDenied), else null: read-only use of a vault goes on without a lock (vault/lock.ts).
   */
  readonly denied: string | null;
  constructor(message: string, options: { permanent: boolean; key?: string; cause?: unknown; hint?: string; denied?: string | null }) {
    super(message, { exitCode: 1, hint: options.hint ?? "check that the vault is reachable and that its credentials allow this, then try again", cause: options.cause });
    this.name = "StorageError";
    this.permanent = options.permanent;
    this.key = options.key;
    this.denied = options.denied ?? null;
  }
}

/** The object does not exist (always permanent). */
export class NotFoundError extends StorageError {
  constructor(key: string, location: string) {
    super(`Cannot find "${key}" in "${location}"`, { permanent: true, key, hint: 'run "efsbak check" to see what is affected' });
    this.name = "NotFoundError";
  }
}

/**
 * An object, or a folder on the way to it, is something storage refuses to follow: a symbolic
 * link (or a device, FIFO or socket) inside a local vault. Always permanent; `keys` names every
 * refused object or folder (list reports them all, after yielding everything else).
 */
export class UnsafeObjectError extends StorageError {
  readonly keys: string[];
  constructor(op: string, keys: string[], location: string, what = "a symbolic link") {
    const more = keys.length > 1 ? ` (and ${keys.length - 1} more)` : "";
    super(`Cannot ${op} in "${location}": "${keys[0]}" is ${what}${more}, and nothing inside a vault may be one`, {
      permanent: true,
      key: keys[0],
      hint: 'someone may have tampered with the vault: replace it with the real object or remove it, then run "efsbak check"',
    });
    this.name = "UnsafeObjectError";
    this.keys = keys;
  }
}

/** Throws a permanent StorageError when a key is not a clean relative path. */
export function assertKey(key: string): void {
  if (key === "" || key.startsWith("/") || key.endsWith("/") || key.includes("\0") ||
      key.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new StorageError(`Invalid object key "${key}"`, { permanent: true, key });
  }
}

/** Checks a requested range against an object size; throws a permanent error past the end. */
export function checkRange(key: string, size: number, range: ByteRange): void {
  if (range.offset < 0 || range.length < 0 || range.offset + range.length > size) {
    throw new StorageError(
      `Cannot read "${key}" bytes ${range.offset}-${range.offset + range.length}: object has ${size} bytes`,
      { permanent: true, key },
    );
  }
}
