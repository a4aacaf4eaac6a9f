/**
 * What a backup is asked to do and what it reports (backup.ts runs it; the walker reads the
 * same options): the types alone, below both, so neither imports the other.
 */
import type { ExcludeSpec } from "../tree/exclude.ts";
import type { RecoveryPoint } from "../vault/recovery-point.ts";

/** Progress counters, updated as the backup goes. */
export interface BackupProgress {
  files: number;
  dirs: number;
  bytesRead: number;
  bytesSkipped: number;
  currentPath: string;
}

/** What a backup needs besides the vault and the source path. */
export interface BackupOptions extends ExcludeSpec {
  resource: string;
  now: Date;
  jobId: string;
  parent?: RecoveryPoint | null;
  plan?: string | null;
  rule?: string | null;
  tags?: Record<string, string>;
  coldAfterMs?: number;
  deleteAfterMs?: number;
  exclude?: string[];
  host?: string;
  /**
   * Stops the backup cleanly when aborted (completion window, SIGTERM): what was stored is
   * kept and indexed, and the recovery point is written PARTIAL with the entries walked so far.
   */
  signal?: AbortSignal;
  /** Called often with running totals (for progress displays). */
  onProgress?: (p: BackupProgress) => void;
  /** Warnings are collected in the result; this sees them as they happen. */
  onWarning?: (message: string) => void;
  workers?: number;
  /**
   * File system requests in flight (listings, lstats, small-file reads; each small-file read
   * holds a descriptor): default 64. Network file systems want many; see docs/performance.md.
   */
  concurrency?: number;
  /** Large files read past the page cache where the file system takes it (direct-read.ts; default true). */
  directReads?: boolean;
  /**
   * Look for packs no index names (left by a killed backup) and index them first, so their
   * data is not stored again. Default true; jobs pass whether their lease found a dead claim.
   */
  adopt?: boolean;
  /** Called when a failed backup could not index every pack it stored (the vault keeps them). */
  onUnindexed?: () => void;
}

/** An entry the backup could not store: its path (displayName form) and why (an errno code, or "vanished"). */
export interface SkippedEntry {
  path: string;
  reason: string;
}

/** What a backup produced. */
export interface BackupResult {
  rp: RecoveryPoint;
  warnings: string[];
  /** Entries that could not be backed up (the recovery point is usable without them). */
  skipped: SkippedEntry[];
  bytesRead: number;
  chunksNew: number;
}
