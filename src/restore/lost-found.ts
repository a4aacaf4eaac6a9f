/**
 * efsbak-lost+found: where a restore puts whatever cannot go back to its proper place, and
 * MANIFEST.json, which says what each fragment is.
 *
 * Invariants:
 * - The folder is created lazily (a clean restore has none), inside the restore directory,
 *   relative to its descriptor (at.ts). Its name is "efsbak-lost+found", or, when the
 *   recovery point's own root holds an entry of that name (a restore of a restore),
 *   "efsbak-lost+found.1", ".2", …: the first the root listing does not hold, so that entry
 *   comes back in place; MANIFEST.json says which name was used ("lost_found").
 * - Every name in it is `<seq>-<sanitized basename>`: unique (seq), never "", ".", "..",
 *   never containing "/" or NUL, at most ~220 bytes, whatever the vault said.
 * - The manifest lists every fragment exactly once, ordered by name (so by <seq>; entries
 *   with no file of their own, such as a lost directory listing, come last).
 */
import { closeSync, mkdirSync, writeFileSync } from "node:fs";
import { displayName } from "../tree/name.ts";
import { at, openDirAt } from "./at.ts";

/** Name of the lost+found folder inside a restore directory (unless the recovery point's root has an entry of that name). */
export const LOST_FOUND_DIR = "efsbak-lost+found";

/** The lost+found name for a root holding `names`: LOST_FOUND_DIR, else the first free LOST_FOUND_DIR.N. */
export function lostFoundName(names: ReadonlySet<string>): string {
  if (!names.has(LOST_FOUND_DIR)) return LOST_FOUND_DIR;
  for (let i = 1; ; i++) if (!names.has(`${LOST_FOUND_DIR}.${i}`)) return `${LOST_FOUND_DIR}.${i}`;
}
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
  /** Path relative to the recovery point root, when known (shown as tree/name.ts displayName: raw bytes as \xHH). */
  original_path: string | null;
  inode: string | null;
  size: number;
  reason: string;
  /** [start, end) byte ranges that could not be restored (zero-filled holes). */
  missing_ranges: [number, number][];
}

/** A fresh spot in lost+found: its name there, and the directory descriptor it goes in. */
export interface Spot {
  name: string;
  dirFd: number;
  /** at(dirFd, name). */
  path: Buffer;
}

/** The lost+found folder of one restore. */
export interface LostFound {
  /** The folder's name in the restore directory (final once `avoid` was called or a spot was placed). */
  readonly name: string;
  /** Its path, for messages (it may not exist yet). */
  readonly dir: string;
  /** Its descriptor once made, else -1. */
  readonly fd: number;
  readonly fragments: Fragment[];
  /** Picks the folder's name so that it is none of the root's own entries; before any place(). */
  avoid(rootNames: ReadonlySet<string>): void;
  /** Creates the folder if needed and returns a fresh spot for `basename`. */
  place(basename: string): Spot;
  /** Records a fragment. */
  add(fragment: Fragment): void;
  /** Sorts the fragments by name (numerically by <seq>); done before the result is returned. */
  sort(): void;
  /** Writes MANIFEST.json (creating the folder) when there are fragments; returns its path or null. */
  writeManifest(rpId: string): string | null;
  /** Closes its descriptor. */
  close(): void;
}

const MAX_NAME_BYTES = 200;

/** A safe, readable file name from whatever a tree said (no "/", NUL or control characters). */
export function sanitizeName(name: string): string {
  let s = displayName(name.replace(/[\u0000-\u001f\u007f/]/g, "_"));
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

/** Creates the lost+found of a restore directory open as `root.fd` (nothing is written until it is used). */
export function createLostFound(root: { fd: number; path: string }): LostFound {
  const fragments: Fragment[] = [];
  let name = LOST_FOUND_DIR;
  let fd = -1;
  let seq = 0;

  function ensure(): number {
    if (fd >= 0) return fd;
    mkdirSync(at(root.fd, name), { mode: 0o700 });
    fd = openDirAt(root.fd, name);
    return fd;
  }

  return {
    get name() {
      return name;
    },
    get dir() {
      return `${root.path}/${name}`;
    },
    get fd() {
      return fd;
    },
    fragments,
    avoid(rootNames) {
      if (fd < 0) name = lostFoundName(rootNames);
    },
    place(basename) {
      const dirFd = ensure();
      const spot = `${String(++seq).padStart(4, "0")}-${sanitizeName(basename)}`;
      return { name: spot, dirFd, path: at(dirFd, spot) };
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
      const dirFd = ensure();
      writeFileSync(at(dirFd, MANIFEST_NAME), JSON.stringify({ rp: rpId, lost_found: name, fragments }, null, 2) + "\n", { flag: "wx", mode: 0o600 });
      return `${this.dir}/${MANIFEST_NAME}`;
    },
    close() {
      if (fd >= 0) closeSync(fd);
      fd = -1;
    },
  };
}
