/**
 * Tree blobs: one per directory, canonical so that an unchanged directory encodes to the same
 * bytes (and so the same blob) in every recovery point.
 * Canonical form: JSON {"v":1,"entries":[...]} with entries sorted by name (code unit order)
 * and each node's keys in a fixed order; optional keys omitted when unset.
 *
 * Version 2 is written only when a directory needs it (so unchanged directories of older
 * vaults keep their blob ids, and older readers read what they can): when a name or symlink
 * target is not valid UTF-8 (carried as escaped bytes, tree/name.ts, which JSON writes as
 * \udcXX escapes), when an entry has extended attributes, or is a device. v2 adds
 * `"xattrs": [[[name, base64], ...], ...]`, a table of the distinct attribute sets of the
 * directory (in order of first use), each entry naming its set by index as `"x": i`, so that
 * identical sets (an ACL on every file) are stored once; and devices with `rdev`.
 * A v1 reader refuses a v2 tree as "unknown tree version 2" (upgrade efsbak).
 */
import { VaultDamageError } from "../errors.ts";
import type { Node, Xattr } from "./node.ts";

/**
 * Most entries one tree blob (a directory) may hold: twice a directory of 1,000,000 entries.
 * Its raw bytes are capped too (MAX_TREE_BYTES in vault/pack.ts, checked before inflating).
 */
export const MAX_TREE_ENTRIES = 2_000_000;

const KEY_ORDER = ["name", "type", "mode", "uid", "gid", "mtime", "size", "ctime", "ino", "links", "dev", "rdev", "content", "subtree", "target", "inconsistent"] as const;

/** True when a node can only be written in tree version 2. */
function needsV2(n: Node): boolean {
  return n.xattrs !== undefined || n.type === "chardev" || n.type === "blockdev" || !n.name.isWellFormed() || (n.type === "symlink" && !n.target.isWellFormed());
}

/** Encodes entries canonically (sorts a copy by name). */
export function encodeTree(entries: Node[]): Uint8Array {
  const sorted = entries.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const v2 = sorted.some(needsV2);
  const sets: string[] = [];
  const setIndex = new Map<string, number>();
  const parts: string[] = [];
  for (const n of sorted) {
    const o: Record<string, unknown> = {};
    for (const k of KEY_ORDER) {
      const v = (n as unknown as Record<string, unknown>)[k];
      if (v !== undefined) o[k] = v;
    }
    if (n.xattrs && n.xattrs.length > 0) {
      const key = JSON.stringify(n.xattrs);
      let i = setIndex.get(key);
      if (i === undefined) {
        i = sets.length;
        sets.push(key);
        setIndex.set(key, i);
      }
      o.x = i;
    }
    parts.push(JSON.stringify(o));
  }
  // JSON.stringify escapes lone surrogates (\udcXX), so the text is plain ASCII/UTF-8.
  const doc = v2 ? `{"v":2,"xattrs":[${sets.join(",")}],"entries":[${parts.join(",")}]}` : `{"v":1,"entries":[${parts.join(",")}]}`;
  return new TextEncoder().encode(doc);
}

/**
 * Decodes a tree blob and checks its shape. Names are returned as stored: restore decides
 * what is safe to create (a hostile vault may say anything).
 */
export function decodeTree(where: string, data: Uint8Array): Node[] {
  let doc: { v?: number; entries?: unknown; xattrs?: unknown };
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch {
    throw new VaultDamageError(where, "tree is not valid JSON");
  }
  if (!doc || (doc.v !== 1 && doc.v !== 2)) throw new VaultDamageError(where, `unknown tree version ${JSON.stringify(doc?.v)}`, "upgrade efsbak to read this vault");
  if (!Array.isArray(doc.entries)) throw new VaultDamageError(where, "tree has no entries list");
  if (doc.entries.length > MAX_TREE_ENTRIES) throw new VaultDamageError(where, `tree has ${doc.entries.length} entries, more than the ${MAX_TREE_ENTRIES} a directory may hold`);
  const sets = doc.v === 2 ? doc.xattrs : [];
  if (!Array.isArray(sets) || !sets.every(isXattrSet)) throw new VaultDamageError(where, "tree has a malformed xattrs table");
  for (const e of doc.entries as (Node & { x?: unknown })[]) {
    const ok = e && typeof e.name === "string" && typeof e.mode === "number" && typeof e.mtime === "string" &&
      ((e.type === "file" && Number.isSafeInteger(e.size) && e.size >= 0 && Array.isArray(e.content) && e.content.every((c) => typeof c === "string")) ||
        (e.type === "dir" && typeof e.subtree === "string") ||
        (e.type === "symlink" && typeof e.target === "string") ||
        (doc.v === 2 && (e.type === "chardev" || e.type === "blockdev") && typeof e.rdev === "string" && /^[0-9]{1,20}$/.test(e.rdev)));
    if (!ok) throw new VaultDamageError(where, `tree entry ${JSON.stringify((e as Node)?.name ?? null)} is malformed`);
    if (e.x !== undefined) {
      if (typeof e.x !== "number" || !Number.isInteger(e.x) || e.x < 0 || e.x >= sets.length) throw new VaultDamageError(where, `tree entry ${JSON.stringify(e.name)} names a missing xattr set`);
      e.xattrs = sets[e.x] as Xattr[];
      delete e.x;
    }
  }
  return doc.entries as Node[];
}

function isXattrSet(set: unknown): boolean {
  return Array.isArray(set) && set.every((a) => Array.isArray(a) && a.length === 2 && typeof a[0] === "string" && typeof a[1] === "string");
}
