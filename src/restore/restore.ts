/**
 * Restore: put a recovery point back as files, into a fresh directory, salvaging whatever
 * cannot go back to its place into lost+found instead of giving up on the whole tree.
 *
 *   includes = parseIncludes(options.include); refuse ones that match nothing   (nothing made yet)
 *   mkdir -p target; mkdir target/efsbak-restore_<now>          (exclusive: never over anything)
 *   walkDir(rp.tree, restoreDir):                                (walk.ts, depth first)
 *     tree = loadBlob(subtree)         damaged      -> fragment "directory listing lost"
 *                                      (listings of the next 8 subdirectories load ahead)
 *     for entry in tree:
 *       unsafe or duplicate name                     -> lost+found/<seq>-<sanitized name>
 *       not included                                 -> skip
 *       dir      -> mkdir; walkDir(child); when all below are done: owner, mode, mtime
 *       symlink  -> symlink(target as data, never followed); owner, mtime (no follow)
 *       file     inconsistent                        -> written into lost+found
 *                later hard-link member              -> link(first) once the first is whole
 *                else (files.ts, write-file.ts): its blobs asked for ahead of the writes
 *                     (at most 16 MiB decoded and 1024 files ahead); one chunk: created O_EXCL|
 *                     O_NOFOLLOW once its data is here, written, finished, closed in one go;
 *                     several: opened at once, chunks written positionally as they come;
 *                     zero chunks = holes (the chunker's all-zero chunk never loaded);
 *                     ftruncate only for a trailing hole
 *                damaged or sizes disagree           -> renamed into lost+found, ranges noted
 *                owner (unless already right), mode, mtime (ns) through the descriptor
 *   blobs asked for (blob-reader.ts): grouped by pack; neighbours (gaps < 256 KiB, ≤ 2 MiB
 *     stored, ≤ 8 MiB decoded) loaded with one ranged load; decoded as loadBlob decodes them,
 *     on a worker thread when compressed (decoder.ts); a run that fails falls back to what
 *     one blob alone would get
 *   lost+found/MANIFEST.json = { rp, fragments }        (only when there are fragments)
 *   on a failure of the whole (target unwritable, vault unreachable, aborted):
 *     stop loading; wait for tasks in flight; rename to efsbak-failed-restore_<now>; throw
 *     saying where it is
 *
 * Invariants: nothing is written outside the restore directory, whatever the vault says
 * (walk.ts); per-blob damage never fails the restore; memory holds one directory listing per
 * level plus the files and blob bytes asked for ahead (bounded as above), and listings loaded
 * ahead (at most 8 MiB of raw listing); the walk stops, as damage of the recovery point, once it sees more
 * entries or listing bytes than the recovery point records (tree/budget.ts): a vault that
 * names one subtree twice per level cannot make it run forever.
 */
import { join } from "node:path";
import { EfsbakError, VaultDamageError } from "../errors.ts";
import { StorageError } from "../storage/storage.ts";
import type { Node } from "../tree/node.ts";
import { decodeTree } from "../tree/tree.ts";
import { createBlobHasher } from "../chunk/hash.ts";
import { fromHex, toHex } from "../vault/id.ts";
import { createWalkBudget } from "../tree/budget.ts";
import { findPath } from "../tree/list.ts";
import type { RecoveryPoint } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import { type IncludeNode, parseIncludes, unmatchedIncludes } from "./include.ts";
import { type Fragment, type LostFound, createLostFound } from "./lost-found.ts";
import { type RestoreRoot, makeRestoreRoot } from "./at.ts";
import { type BlobReader, createBlobReader } from "./blob-reader.ts";
import { workerDecoder } from "./decoder.ts";
import { RestoreWalker } from "./walk.ts";
import { type ContentWriter, createContentWriter } from "./write-file.ts";

export type { Fragment } from "./lost-found.ts";

/** Running totals, reported at most every 100 ms. With includes, totalBytes grows as files are found. */
export interface RestoreProgress {
  files: number;
  bytes: number;
  totalBytes: number;
  currentPath: string;
}

/** Options of a restore. */
export interface RestoreOptions {
  /** Names the restore directory (no clock is read). */
  now: Date;
  /** Paths relative to the RP root: files or subtrees to restore (with their parent directories). */
  include?: string[];
  /** Restore uid/gid (needs root). */
  chown?: boolean;
  onProgress?: (p: RestoreProgress) => void;
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
  /**
   * Other recovery points of the resource, best candidates first: where a directory's listing
   * is lost, its version in one of these is salvaged into lost+found.
   */
  others?: RecoveryPoint[];
  /** Loads of pack ranges in flight at once (default 16). */
  concurrency?: number;
}

/** What a restore did. Counts are of entries restored in their proper place. */
export interface RestoreResult {
  restoreDir: string;
  /** The lost+found folder's name in restoreDir (efsbak-lost+found unless the recovery point's root has that name). */
  lostFound: string;
  files: number;
  dirs: number;
  symlinks: number;
  devices: number;
  /** Bytes of file content restored (logical, holes included). */
  bytes: number;
  fragments: Fragment[];
  warnings: string[];
  /** True when anything went to lost+found. */
  partial: boolean;
}

const DEFAULT_CONCURRENCY = 16;
/**
 * Decoded bytes of blobs asked for ahead of the writes: how far ahead of the files being
 * written the walker gets, so how long the runs of neighbouring blobs loaded at once can be;
 * and what content holds in memory at most, whatever it compresses to (decoded, not stored,
 * bytes: 16 MiB of stored bytes of log text decoded to 1.2 GB). See docs/performance.md,
 * "Restore memory".
 */
const LOOKAHEAD_BYTES = 16 * 1024 * 1024;
/**
 * Files started ahead of the writes, at most: what small files hold in memory (more costs
 * RSS and gains no time: docs/performance.md, "Design notes from earlier measurements").
 */
const LOOKAHEAD_FILES = 1024;

/** Name of the restore directory for a time: "efsbak-restore_2026-11-24T21-06-22-108Z" (or "efsbak-failed-restore_…"). */
export function restoreDirName(now: Date, failed = false): string {
  return `${failed ? "efsbak-failed-restore" : "efsbak-restore"}_${now.toISOString().replace(/[:.]/g, "-")}`;
}

/** Restores a recovery point into a new directory under `target`. */
export async function restore(vault: Vault, rp: RecoveryPoint, target: string, options: RestoreOptions): Promise<RestoreResult> {
  const reader = createBlobReader(vault, { concurrency: options.concurrency ?? DEFAULT_CONCURRENCY, decoder: workerDecoder(vault) });
  try {
    return await restoreWith(vault, rp, target, options, reader, await zeroChunkIds(vault));
  } finally {
    reader.close();
  }
}

/**
 * Id of the chunk of the chunker's maxSize zero bytes: every chunk that starts inside a run
 * of zeros (a hole of a sparse file) is that one (fastcdc.ts), so the content writer leaves
 * holes for it without loading or decoding it. None when it cannot be computed.
 */
async function zeroChunkIds(vault: Vault): Promise<string[]> {
  try {
    const hasher = await createBlobHasher(vault.keys?.idKey);
    return [toHex(hasher.hash(new Uint8Array(vault.config.chunker.max_size)))];
  } catch {
    return []; // zero chunks are then found zero once loaded, as any other
  }
}

async function restoreWith(vault: Vault, rp: RecoveryPoint, target: string, options: RestoreOptions, reader: BlobReader, zeroChunks: string[]): Promise<RestoreResult> {
  let walker: RestoreWalker | null = null;
  const writer = createContentWriter(vault, reader, {
    budgetBytes: LOOKAHEAD_BYTES,
    maxFiles: LOOKAHEAD_FILES,
    zeroChunks,
    signal: options.signal,
    onBytes: (n) => walker?.addBytes(n),
  });
  const includes = parseIncludes(options.include ?? []);
  const unmatched = [...includes.invalid];
  if (includes.root) {
    try {
      unmatched.push(...(await unmatchedIncludes(includes.root, rp.tree, (tree) => loadListing(vault, writer, tree))));
    } catch (err) {
      throw new EfsbakError(`Cannot restore recovery point "${rp.id}": ${describe(err)}`, { exitCode: 1, hint: "check that the vault is reachable, then try again", cause: err });
    }
  }
  if (unmatched.length > 0) {
    throw new EfsbakError(`Cannot restore ${unmatched.map((p) => `"${p}"`).join(", ")}: no such path in recovery point "${rp.id}"`, {
      exitCode: 1,
      hint: `give paths relative to the recovery point's root; list them with "efsbak ls ${rp.id}"`,
    });
  }

  const dirName = restoreDirName(options.now);
  const restoreDir = join(target, dirName);
  let root: RestoreRoot;
  try {
    root = makeRestoreRoot(target, dirName);
  } catch (err) {
    if (err instanceof EfsbakError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") {
      throw new EfsbakError(`Cannot restore into "${restoreDir}": it already exists`, { exitCode: 1, hint: "restore never writes over existing files; run the restore again", cause: err });
    }
    throw new EfsbakError(`Cannot restore into "${target}": ${code ?? (err as Error).message}; nothing was written`, { exitCode: 1, hint: "choose a --target directory you can write to", cause: err });
  }

  try {
    return await restoreInto(vault, rp, root, options, writer, includes.root, (w) => (walker = w));
  } finally {
    root.close();
  }
}

async function restoreInto(vault: Vault, rp: RecoveryPoint, root: RestoreRoot, options: RestoreOptions, writer: ContentWriter, include: IncludeNode | null, started: (w: RestoreWalker) => void): Promise<RestoreResult> {
  const restoreDir = root.path;
  const warnings: string[] = [];
  const lf = createLostFound(root);
  const walker = new RestoreWalker(vault, root.fd, lf, writer, {
    chown: options.chown ?? false,
    signal: options.signal,
    maxOpenFiles: Math.max(8, (options.concurrency ?? DEFAULT_CONCURRENCY) * 4),
    dirsAtOnce: options.concurrency ?? DEFAULT_CONCURRENCY,
    totalBytes: include ? null : rp.size_bytes,
    warn(message) {
      warnings.push(message);
      options.onWarning?.(message);
    },
    report(p) {
      options.onProgress?.({ ...p });
    },
    olderListing: (rel) => findInOthers(vault, options.others ?? [], rel),
    budget: createWalkBudget(rp),
  });
  started(walker);
  try {
    try {
      const done = await walker.walkRoot(rp.tree, include, include ? undefined : rp.root);
      await done.done;
      walker.check();
      lf.writeManifest(rp.id);
    } catch (err) {
      await walker.settle();
      throw fail(rp, root, lf, options, err);
    }
  } finally {
    lf.close();
    walker.close();
  }
  walker.report(true);
  return {
    restoreDir,
    lostFound: lf.name,
    files: walker.counts.files,
    dirs: walker.counts.dirs,
    symlinks: walker.counts.symlinks,
    devices: walker.counts.devices,
    bytes: walker.progress.bytes,
    fragments: lf.fragments,
    warnings,
    partial: lf.fragments.length > 0,
  };
}

/** A directory's entries, or null when its tree is damaged (fatal errors are thrown). */
async function loadListing(vault: Vault, writer: ContentWriter, tree: string): Promise<Node[] | null> {
  const id = fromHex(tree, 32);
  if (!id) return null;
  try {
    return decodeTree(`tree ${tree}`, await vault.loadBlob(id));
  } catch (err) {
    if (await writer.isDamage(err, id)) return null;
    throw err;
  }
}

/** Renames a failed restore and builds the error that says what happened and what to do. */
function fail(rp: RecoveryPoint, root: RestoreRoot, lf: LostFound, options: RestoreOptions, err: unknown): EfsbakError {
  try {
    lf.writeManifest(rp.id);
  } catch {
    // best effort: the directory is kept either way
  }
  let kept = root.path;
  const failedName = restoreDirName(options.now, true);
  try {
    root.renameTo(failedName);
    kept = root.path.slice(0, root.path.length - restoreDirName(options.now).length) + failedName;
  } catch {
    // keep the original name; the message says where it is
  }
  const aborted = options.signal?.aborted === true;
  const what = aborted ? "interrupted" : describe(err);
  const next = aborted
    ? 'run "efsbak restore" again to restore it completely'
    : err instanceof StorageError
      ? 'check that the vault is reachable, then run "efsbak restore" again'
      : err instanceof VaultDamageError && err.hint
        ? err.hint
        : 'check free space and permissions of the target, then run "efsbak restore" again';
  return new EfsbakError(`Cannot restore recovery point "${rp.id}": ${what}; the partial restore was kept at "${kept}"`, {
    exitCode: 1,
    hint: `${next}; remove "${kept}" once you no longer need it`,
    cause: err,
  });
}

function describe(err: unknown): string {
  if (err instanceof EfsbakError || err instanceof StorageError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e?.code) return `${e.code}${e.path ? ` on "${e.path}"` : ""}${e.syscall ? ` (${e.syscall})` : ""}`;
  return e?.message ?? String(err);
}

/** The same directory in another recovery point, when its listing can be read there. */
async function findInOthers(vault: Vault, others: RecoveryPoint[], rel: string): Promise<{ tree: string; rp: string } | null> {
  const load = async (hex: string) => {
    const id = fromHex(hex, 32);
    if (!id) throw new Error("bad id");
    return decodeTree(`tree ${hex}`, await vault.loadBlob(id));
  };
  for (const other of others) {
    try {
      const at = await findPath(load, other.tree, rel);
      if (at.treeId && (!rel || at.node?.type === "dir")) {
        await load(at.treeId); // readable there?
        return { tree: at.treeId, rp: other.id };
      }
    } catch {
      // damaged there too: try the next one
    }
  }
  return null;
}
