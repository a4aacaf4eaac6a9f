/**
 * What a backup leaves out of the source, decided entry by entry as the walker lists it:
 *
 *   exclude patterns        .gitignore rules (tree/gitignore.ts): "node_modules" at any depth,
 *                           "/build" at the root only, "cache/" directories only, "!keep.log"
 *                           re-includes; an excluded directory is not entered, so nothing
 *                           under it can be re-included (as in git)
 *   exclude_if_present      a directory holding one of these names keeps only the tag file(s):
 *                           its other contents are left out. "CACHEDIR.TAG" counts only when
 *                           it starts with the Cache Directory Tagging signature
 *   one_file_system         an entry whose st_dev differs from its parent directory's (a mount
 *                           point) is left out
 *   always                  the vault itself (its directories, found by device and inode), and
 *                           efsbak-restore_* / efsbak-failed-restore_* directories, left out
 *                           with a note for the job's warnings
 *
 * Pure but for reading tag files and stat-ing the vault's directories, both injectable.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { compileGitignore } from "./gitignore.ts";
import { displayName } from "./name.ts";

/** The signature that makes a CACHEDIR.TAG a cache tag (bford.info/cachedir). */
export const CACHEDIR_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55";
const CACHEDIR_TAG = "CACHEDIR.TAG";
const RESTORE_DIR = /^efsbak-(?:failed-)?restore_/;

/** The part of a stat the filter looks at. */
export interface FilterStat {
  dev: bigint;
  ino: bigint;
  isDirectory(): boolean;
}

/** What to leave out (plan keys exclude, exclude_if_present, one_file_system). */
export interface ExcludeSpec {
  exclude?: string[];
  excludeIfPresent?: string[];
  oneFileSystem?: boolean;
  /** Absolute directories never backed up (the vault's): matched by device and inode. */
  leaveOut?: string[];
}

/** Why an entry is left out; `note` is worth a warning on the job. */
export interface Exclusion {
  reason: "pattern" | "tagged" | "mount" | "vault" | "restore";
  note?: string;
}

/** Decides, entry by entry, what the walk leaves out. */
export interface SourceFilter {
  /** Why the entry at `rel` is left out, or null to keep it; `parent` is its directory's stat. */
  exclusion(rel: string, st: FilterStat, parent: FilterStat): Exclusion | null;
  /**
   * The names of a directory to walk: all of them, or only its tag files when one marks it.
   * `pathOf(name)` gives what fs calls take for a child.
   */
  names(rel: string, names: string[], pathOf: (name: string) => string | Buffer): string[];
}

/** I/O the filter does, replaceable in tests. */
export interface FilterIo {
  stat?: (path: string) => FilterStat | null;
  /** The first `length` bytes of a file ("" when it cannot be read). */
  head?: (path: string | Buffer, length: number) => string;
}

function statOrNull(path: string): FilterStat | null {
  try {
    return statSync(path, { bigint: true });
  } catch {
    return null;
  }
}

function readHead(path: string | Buffer, length: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const buf = Buffer.alloc(length);
    const n = readSync(fd, buf, 0, length, 0);
    return buf.subarray(0, n).toString("latin1");
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Compiles a spec into a filter (patterns are checked here: a bad one throws UsageError). */
export function createSourceFilter(spec: ExcludeSpec, io: FilterIo = {}): SourceFilter {
  const stat = io.stat ?? statOrNull;
  const head = io.head ?? readHead;
  const excluded = compileGitignore(spec.exclude ?? []);
  const tags = spec.excludeIfPresent ?? [];
  const vaultDirs = (spec.leaveOut ?? []).map((p) => stat(p)).filter((s): s is FilterStat => s !== null);
  return {
    exclusion(rel, st, parent) {
      const isDir = st.isDirectory();
      if (isDir && vaultDirs.some((v) => v.dev === st.dev && v.ino === st.ino)) {
        return { reason: "vault", note: `Left out "${displayName(rel)}": it is the vault being backed up to` };
      }
      if (isDir && RESTORE_DIR.test(rel.slice(rel.lastIndexOf("/") + 1))) {
        return { reason: "restore", note: `Left out "${displayName(rel)}": a restore directory (efsbak never backs up its own restores)` };
      }
      if (excluded(rel, isDir)) return { reason: "pattern" };
      if (spec.oneFileSystem && st.dev !== parent.dev) {
        return { reason: "mount", note: `Left out "${displayName(rel)}": another file system (one_file_system)` };
      }
      return null;
    },
    names(_rel, names, pathOf) {
      if (tags.length === 0) return names;
      const present = names.filter((n) => tags.includes(n) && (n !== CACHEDIR_TAG || head(pathOf(n), CACHEDIR_SIGNATURE.length) === CACHEDIR_SIGNATURE));
      return present.length > 0 ? present : names;
    },
  };
}
