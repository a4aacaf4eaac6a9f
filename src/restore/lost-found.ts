/**
 * efsbak-lost+found: where a restore puts whatever cannot go back to its proper place, and
 * MANIFEST.json, which says what each fragment is.
 *
 * Invariants:
 * - The folder is created lazily (a clean restore has none), inside the restore directory.
 * - Every name in it is `<seq>-<sanitized basename>`: unique (seq), never "", ".", "..",
 *   never containing "/" or NUL, at most ~220 bytes, whatever the vault said.
 * - The manifest lists every fragment exactly once, ordered by name (so by <seq>; entries
 *   with no file of their own, such as a lost directory listing, come last).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Name of the lost+found folder inside a restore directory. */
export const LOST_FOUND_DIR = "efsbak-lost+found";
/** Name of the manifest inside lost+found. */
export const MANIFEST_NAME = "MANIFEST.json";

/** Why an entry went to lost+found (the manifest's `reason`). */
export const REASON = {
  damaged: "missing or corrupt data",
  sizeMismatch: "chunk lengths do not match the file size",
  inconsistent: "changed during backup",
  listingLost: "directory listing lost",
  hardLink: "hard link group cannot be rebuilt",
  unsafeName: "unsafe name",
  duplicateName: "duplicate name",
  collision: "name collides on restore",
  cycle: "directory refers to itself",
  cannotCreate: "cannot be created",
} as const;

/**
 * Maps an error of creating one entry to a lost+found reason, or null when it is fatal (the
 * target as a whole is unwritable, full…). `extra`: more codes that are about this entry only.
 */
export function createProblem(err: unknown, extra: string[] = []): string | null {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === "EEXIST") return REASON.collision;
  if (code && ["ENAMETOOLONG", "EINVAL", "EILSEQ", "ERR_INVALID_ARG_VALUE", ...extra].includes(code)) return `${REASON.cannotCreate} (${code})`;
  return null;
}

/** One entry of MANIFEST.json. */
export interface Fragment {
  /** File name inside efsbak-lost+found (for a lost directory listing: the directory's path). */
  name: string;
  /** Path relative to the recovery point root, when known. */
  original_path: string | null;
  inode: string | null;
  size: number;
  reason: string;
  /** [start, end) byte ranges that could not be restored (zero-filled holes). */
  missing_ranges: [number, number][];
}

/** The lost+found folder of one restore. */
export interface LostFound {
  /** Absolute path of the folder (it may not exist yet). */
  readonly dir: string;
  readonly fragments: Fragment[];
  /** Creates the folder if needed and returns a fresh absolute path for `basename`. */
  place(basename: string): { name: string; path: string };
  /** Records a fragment. */
  add(fragment: Fragment): void;
  /** Sorts the fragments by name (numerically by <seq>); done before the result is returned. */
  sort(): void;
  /** Writes MANIFEST.json (creating the folder) when there are fragments; returns its path or null. */
  writeManifest(rpId: string): string | null;
}

const MAX_NAME_BYTES = 200;

/** A safe, readable file name from whatever a tree said (no "/", NUL or control characters). */
export function sanitizeName(name: string): string {
  let s = name.replace(/[\u0000-\u001f\u007f/]/g, "_");
  if (s === "" ) s = "unnamed";
  const enc = new TextEncoder();
  if (enc.encode(s).length > MAX_NAME_BYTES) {
    // Cut by code points until it fits, so no UTF-8 sequence is split.
    const cps = Array.from(s);
    while (cps.length > 0 && enc.encode(cps.join("")).length > MAX_NAME_BYTES) cps.pop();
    s = cps.join("");
  }
  return s;
}

function seqOf(name: string): number {
  const m = /^(\d+)-/.exec(name);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

/** Creates the lost+found of a restore directory (nothing is written until it is used). */
export function createLostFound(restoreDir: string): LostFound {
  const dir = join(restoreDir, LOST_FOUND_DIR);
  const fragments: Fragment[] = [];
  let made = false;
  let seq = 0;

  function ensure(): void {
    if (made) return;
    mkdirSync(dir, { mode: 0o700 });
    made = true;
  }

  return {
    dir,
    fragments,
    place(basename) {
      ensure();
      const name = `${String(++seq).padStart(4, "0")}-${sanitizeName(basename)}`;
      return { name, path: join(dir, name) };
    },
    add(fragment) {
      fragments.push(fragment);
    },
    sort() {
      fragments.sort((a, b) => seqOf(a.name) - seqOf(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    writeManifest(rpId) {
      if (fragments.length === 0) return null;
      this.sort();
      ensure();
      const path = join(dir, MANIFEST_NAME);
      writeFileSync(path, JSON.stringify({ rp: rpId, fragments }, null, 2) + "\n", { flag: "wx", mode: 0o600 });
      return path;
    },
  };
}
