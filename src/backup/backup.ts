/**
 * Backup: walk a directory tree, store new chunks and one tree blob per directory, then write
 * the recovery point.
 *
 *   walkDir(dir):                          (main thread, many requests in flight: walker.ts)
 *     lstat every entry
 *       file unchanged since parent RP  -> reuse its chunk ids, read nothing
 *       file (new or changed)           -> readFile: into pipeline slots (awaits only space)
 *       dir                             -> walkDir(child) (its tree completes later)
 *       symlink                         -> readlink
 *       character or block device       -> device node
 *       socket, fifo                    -> counted, warning, omitted
 *       unreadable, vanished            -> skipped: counted and listed with the reason
 *     tree blob = encodeTree(entries) once every child's ids are known
 *   flush trees and pipeline -> index file -> recovery point (root metadata, skipped count)
 *
 * Names are bytes end to end and paths may be longer than PATH_MAX (source-fs.ts); the walk
 * itself is walker.ts.
 *
 * The walker never waits for hashes, only for free slots, so reading, hashing and storing
 * overlap; memory is bounded by the pipeline plus one node per pending entry.
 */
import { lstatSync, type BigIntStats } from "node:fs";
import { hostname } from "node:os";
import { createChunkerTables } from "../chunk/fastcdc.ts";
import { createBlobHasher } from "../chunk/hash.ts";
import { EfsbakError } from "../errors.ts";
import { isoAfter } from "../plan/duration.ts";
import type { Vault } from "../vault/vault.ts";
import { randomId } from "../vault/id.ts";
import { type RecoveryPoint, saveRecoveryPoint } from "../vault/recovery-point.ts";
import { type RootMeta, baseFromStat } from "../tree/node.ts";
import { Pipeline } from "./pipeline.ts";
import { adoptPacks } from "./adopt.ts";
import { Walker } from "./walker.ts";
import type { BackupOptions, BackupResult } from "./options.ts";
import { VERSION } from "../version.ts";

export type { BackupOptions, BackupProgress, BackupResult, SkippedEntry } from "./options.ts";

/** Backs up `source` into the vault and writes a recovery point. */
export async function backup(vault: Vault, source: string, options: BackupOptions): Promise<BackupResult> {
  let rootStat: BigIntStats;
  try {
    rootStat = lstatSync(source, { bigint: true });
  } catch (err) {
    throw new EfsbakError(`Cannot back up "${source}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { exitCode: 1, hint: "check that the path exists and is readable" });
  }
  if (!rootStat.isDirectory()) throw new EfsbakError(`Cannot back up "${source}": not a directory`, { exitCode: 2 });

  // Computed before anything is stored: a time past the end of dates must fail here, never after the packs.
  const coldAt = options.coldAfterMs !== undefined ? isoAfter(options.now, options.coldAfterMs, "cold_at") : null;
  const deleteAt = options.deleteAfterMs !== undefined ? isoAfter(options.now, options.deleteAfterMs, "delete_at") : null;
  const c = vault.config.chunker;
  const tables = createChunkerTables({ minSize: c.min_size, avgSize: c.avg_size, maxSize: c.max_size, seed: c.seed });
  const adopted = options.adopt === false ? { packs: 0, blobs: 0, damaged: [] } : await adoptPacks(vault);
  const hasher = await createBlobHasher(vault.keys?.idKey);
  const pipeline = await Pipeline.start(vault, { workers: options.workers, concurrency: options.concurrency, directReads: options.directReads });
  const walker = new Walker(vault, pipeline, tables, hasher, options);
  if (adopted.packs > 0) walker.note(`Adopted ${adopted.packs} packs (${adopted.blobs} blobs) left by an interrupted backup`);
  for (const key of adopted.damaged) walker.note(`Cannot adopt pack "${key}": it is damaged; its data will be stored again`);
  try {
    const prevRoot = options.parent ? await walker.loadTree(options.parent.tree) : null;
    const root = await walker.walkRoot(source, rootStat, prevRoot);
    await walker.walked();
    const { name: _, ...rootBase } = baseFromStat("", rootStat);
    const rootMeta: RootMeta = { ...rootBase, ...(walker.rootXattrs(source, rootStat)) };
    // The last slot holds chunks the pending trees wait for (after any read still under way).
    await pipeline.exclusive(async () => pipeline.dispatch());
    // A worker that fails leaves chunks unresolved: stop waiting for them then.
    const rootTree = await pipeline.until(root.done);
    walker.flushTrees();
    await pipeline.flush();
    walker.noteXattrFailures();
    walker.skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const finished = new Date(options.now.getTime());
    const rp: RecoveryPoint = {
      id: randomId(),
      resource: options.resource,
      source_path: source,
      host: options.host ?? hostname(),
      plan: options.plan ?? null,
      rule: options.rule ?? null,
      job_id: options.jobId,
      created_at: options.now.toISOString(),
      completed_at: finished.toISOString(),
      status: walker.stopped ? "PARTIAL" : "AVAILABLE",
      tree: rootTree,
      parent: options.parent?.id ?? null,
      tags: options.tags ?? {},
      cold_at: coldAt,
      delete_at: deleteAt,
      size_bytes: walker.totalBytes,
      files: walker.progress.files,
      dirs: walker.progress.dirs,
      symlinks: walker.symlinks,
      ...(walker.devices > 0 ? { devices: walker.devices } : {}),
      tree_bytes: walker.treeBytes,
      bytes_new: pipeline.stats.bytesNew,
      bytes_stored: pipeline.stats.bytesStored,
      inconsistent: walker.inconsistent,
      warnings: walker.warnings,
      ...(walker.skipped.length > 0 ? { skipped: walker.skipped.length } : {}),
      ...(walker.omitted > 0 ? { omitted: walker.omitted } : {}),
      root: rootMeta,
      efsbak_version: VERSION,
    };
    await saveRecoveryPoint(vault, rp);
    return { rp, warnings: walker.warnings, skipped: walker.skipped, bytesRead: walker.progress.bytesRead, chunksNew: pipeline.stats.chunksNew };
  } catch (err) {
    if (!(await pipeline.salvage())) options.onUnindexed?.();
    throw err;
  } finally {
    pipeline.close();
  }
}
