/**
 * Declarative test trees: build a directory from a spec, snapshot a directory into a
 * comparable map (type, mode, size, mtime ns, content hash, link target, hard-link group,
 * owner), and check a directory against a spec.
 *
 *   await makeTree(dir, {
 *     "a.txt": "x",
 *     sub: dir({ big: bytes(1e6, 1), empty: {} }, { mode: 0o750, mtime: 1_700_000_000_123_456_789n }),
 *     l: symlink("a.txt"),
 *     h: hardlink("a.txt"),
 *     secret: file("s", { mode: 0o600 }),
 *   });
 */
import { expect } from "bun:test";
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setPathTimes, parseNs } from "../../src/restore/metadata.ts";
import { randomBytes } from "./random.ts";

const KIND = Symbol("kind");

/** Metadata a spec entry may set. */
export interface Meta {
  mode?: number;
  /** mtime, nanoseconds since the epoch. */
  mtime?: bigint;
  uid?: number;
  gid?: number;
}

interface FileSpec { [KIND]: "file"; content: string | Uint8Array; meta: Meta }
interface DirSpec { [KIND]: "dir"; entries: TreeSpec; meta: Meta }
interface SymlinkSpec { [KIND]: "symlink"; target: string; meta: Meta }
interface HardlinkSpec { [KIND]: "hardlink"; of: string }

/** A spec entry: string or bytes (file), nested object (dir), or a wrapper. */
export type EntrySpec = string | Uint8Array | TreeSpec | FileSpec | DirSpec | SymlinkSpec | HardlinkSpec;
/** A directory spec: name -> entry. */
export interface TreeSpec {
  [name: string]: EntrySpec;
}

/** A file with metadata. */
export function file(content: string | Uint8Array, meta: Meta = {}): FileSpec {
  return { [KIND]: "file", content, meta };
}
/** A directory with metadata. */
export function dir(entries: TreeSpec, meta: Meta = {}): DirSpec {
  return { [KIND]: "dir", entries, meta };
}
/** A symbolic link (target stored as is). */
export function symlink(target: string, meta: Meta = {}): SymlinkSpec {
  return { [KIND]: "symlink", target, meta };
}
/** A hard link to another file of the tree (path relative to the tree root). */
export function hardlink(of: string): HardlinkSpec {
  return { [KIND]: "hardlink", of };
}

/** Deterministic file content for specs: `bytes(1e6, 7)` (support/random.ts randomBytes). */
export const bytes = randomBytes;

/** Bytes of every file below path (0 when it does not exist). */
export function bytesUnder(path: string): number {
  if (!existsSync(path)) return 0;
  let total = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    total += e.isDirectory() ? bytesUnder(p) : statSync(p).size;
  }
  return total;
}

function kindOf(e: EntrySpec): "file" | "dir" | "symlink" | "hardlink" {
  if (typeof e === "string" || e instanceof Uint8Array) return "file";
  const k = (e as { [KIND]?: string })[KIND];
  return (k ?? "dir") as "file" | "dir" | "symlink" | "hardlink";
}

function entriesOf(e: EntrySpec): TreeSpec {
  return kindOf(e) === "dir" && (e as DirSpec)[KIND] === "dir" ? (e as DirSpec).entries : (e as TreeSpec);
}

function metaOf(e: EntrySpec): Meta {
  return (e as { meta?: Meta })?.meta ?? {};
}

/** Creates the tree under dir (made if missing): entries first, then metadata, directories last. */
export function makeTree(root: string, spec: TreeSpec): void {
  mkdirSync(root, { recursive: true });
  const links: [string, string][] = [];
  const metas: [string, Meta, "file" | "dir" | "symlink"][] = [];
  function build(abs: string, rel: string, s: TreeSpec): void {
    for (const [name, e] of Object.entries(s)) {
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const k = kindOf(e);
      if (k === "file") {
        const content = typeof e === "string" || e instanceof Uint8Array ? e : (e as FileSpec).content;
        writeFileSync(p, content);
        metas.push([p, metaOf(e), "file"]);
      } else if (k === "symlink") {
        symlinkSync((e as SymlinkSpec).target, p);
        metas.push([p, metaOf(e), "symlink"]);
      } else if (k === "hardlink") {
        links.push([join(root, (e as HardlinkSpec).of), p]);
      } else {
        mkdirSync(p);
        build(p, r, entriesOf(e));
        metas.push([p, metaOf(e), "dir"]); // after its children: post-order
      }
    }
  }
  build(root, "", spec);
  for (const [of, p] of links) linkSync(of, p);
  for (const [p, m, k] of metas) {
    if (m.uid !== undefined || m.gid !== undefined) chownSync(p, m.uid ?? -1, m.gid ?? -1);
    if (m.mode !== undefined && k !== "symlink") chmodSync(p, m.mode);
    if (m.mtime !== undefined) setPathTimes(p, parseNs(m.mtime)!);
  }
}

/** One entry of a snapshot. */
export interface EntrySnapshot {
  type: "file" | "dir" | "symlink" | "other";
  mode: number;
  mtimeNs: string;
  uid: number;
  gid: number;
  size?: number;
  sha?: string;
  target?: string;
  /** For files with several links: the smallest path of the group within the snapshot. */
  link?: string;
}

/** A comparable picture of a tree: relative path -> entry (the root itself is not included). */
export type Snapshot = Record<string, EntrySnapshot>;

/** Snapshots a directory; `ignore` lists top-level names to leave out. */
export function snapshotTree(root: string, options: { ignore?: string[] } = {}): Snapshot {
  const out: Snapshot = {};
  const inodes = new Map<string, string[]>();
  function walk(abs: string, rel: string): void {
    for (const name of readdirSync(abs).sort()) {
      if (!rel && options.ignore?.includes(name)) continue;
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p, { bigint: true });
      const base = { mode: Number(st.mode & 0o7777n), mtimeNs: st.mtimeNs.toString(), uid: Number(st.uid), gid: Number(st.gid) };
      if (st.isFile()) {
        out[r] = { type: "file", ...base, size: Number(st.size), sha: new Bun.CryptoHasher("sha256").update(readFileSync(p)).digest("hex") };
        if (st.nlink > 1n) {
          const key = `${st.dev}:${st.ino}`;
          inodes.set(key, [...(inodes.get(key) ?? []), r]);
        }
      } else if (st.isDirectory()) {
        out[r] = { type: "dir", ...base };
        walk(p, r);
      } else if (st.isSymbolicLink()) {
        out[r] = { type: "symlink", ...base, mode: 0, target: readlinkSync(p) };
      } else {
        out[r] = { type: "other", ...base };
      }
    }
  }
  walk(root, "");
  for (const members of inodes.values()) {
    if (members.length < 2) continue;
    const first = members.slice().sort()[0];
    for (const m of members) out[m].link = first;
  }
  return out;
}

/** Asserts that dir holds exactly the spec's entries, with the content and metadata it gives. */
export function expectTree(root: string, spec: TreeSpec, options: { ignore?: string[] } = {}): void {
  const snap = snapshotTree(root, options);
  const expected: Record<string, Partial<EntrySnapshot>> = {};
  const actual: Record<string, Partial<EntrySnapshot>> = {};
  function pick(path: string, want: Partial<EntrySnapshot>): void {
    expected[path] = want;
    const a = snap[path];
    if (!a) return;
    const got: Partial<EntrySnapshot> = {};
    for (const k of Object.keys(want) as (keyof EntrySnapshot)[]) (got as Record<string, unknown>)[k] = a[k];
    actual[path] = got;
  }
  function visit(rel: string, s: TreeSpec): void {
    for (const [name, e] of Object.entries(s)) {
      const r = rel ? `${rel}/${name}` : name;
      const k = kindOf(e);
      const m = metaOf(e);
      const meta: Partial<EntrySnapshot> = {};
      if (m.mode !== undefined) meta.mode = m.mode;
      if (m.mtime !== undefined) meta.mtimeNs = m.mtime.toString();
      if (k === "file") {
        const content = typeof e === "string" || e instanceof Uint8Array ? e : (e as FileSpec).content;
        pick(r, { type: "file", sha: new Bun.CryptoHasher("sha256").update(content).digest("hex"), ...meta });
      } else if (k === "symlink") {
        pick(r, { type: "symlink", target: (e as SymlinkSpec).target, ...meta });
      } else if (k === "hardlink") {
        const of = (e as HardlinkSpec).of;
        pick(r, { type: "file", link: [of, r].sort()[0] });
      } else {
        pick(r, { type: "dir", ...meta });
        visit(r, entriesOf(e));
      }
    }
  }
  visit("", spec);
  for (const p of Object.keys(snap)) if (!(p in expected)) actual[p] = snap[p];
  expect(actual).toEqual(expected);
}
