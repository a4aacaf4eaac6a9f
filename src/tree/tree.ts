/**
 * Tree blobs: one per directory, canonical so that an unchanged directory encodes to the same
 * bytes (and so the same blob) in every recovery point.
 * Canonical form: JSON {"v":1,"entries":[...]} with entries sorted by name (code unit order)
 * and each node's keys in a fixed order; optional keys omitted when unset.
 */
import { VaultDamageError } from "../errors.ts";
import type { Node } from "./node.ts";

/**
 * Most entries one tree blob (a directory) may hold: twice a directory of 1,000,000 entries.
 * Its raw bytes are capped too (MAX_TREE_BYTES in vault/pack.ts, checked before inflating).
 */
export const MAX_TREE_ENTRIES = 2_000_000;

const KEY_ORDER = ["name", "type", "mode", "uid", "gid", "mtime", "size", "ctime", "ino", "links", "dev", "content", "subtree", "target", "inconsistent"] as const;

/** Encodes entries canonically (sorts a copy by name). */
export function encodeTree(entries: Node[]): Uint8Array {
  const sorted = entries.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const parts: string[] = [];
  for (const n of sorted) {
    const o: Record<string, unknown> = {};
    for (const k of KEY_ORDER) {
      const v = (n as unknown as Record<string, unknown>)[k];
      if (v !== undefined) o[k] = v;
    }
    parts.push(JSON.stringify(o));
  }
  return new TextEncoder().encode(`{"v":1,"entries":[${parts.join(",")}]}`);
}

/**
 * Decodes a tree blob and checks its shape. Names are returned as stored: restore decides
 * what is safe to create (a hostile vault may say anything).
 */
export function decodeTree(where: string, data: Uint8Array): Node[] {
  let doc: { v?: number; entries?: unknown };
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch {
    throw new VaultDamageError(where, "tree is not valid JSON");
  }
  if (!doc || doc.v !== 1) throw new VaultDamageError(where, `unknown tree version ${JSON.stringify(doc?.v)}`, "upgrade efsbak to read this vault");
  if (!Array.isArray(doc.entries)) throw new VaultDamageError(where, "tree has no entries list");
  if (doc.entries.length > MAX_TREE_ENTRIES) throw new VaultDamageError(where, `tree has ${doc.entries.length} entries, more than the ${MAX_TREE_ENTRIES} a directory may hold`);
  for (const e of doc.entries as Node[]) {
    const ok = e && typeof e.name === "string" && typeof e.mode === "number" && typeof e.mtime === "string" &&
      ((e.type === "file" && Number.isSafeInteger(e.size) && e.size >= 0 && Array.isArray(e.content) && e.content.every((c) => typeof c === "string")) ||
        (e.type === "dir" && typeof e.subtree === "string") ||
        (e.type === "symlink" && typeof e.target === "string"));
    if (!ok) throw new VaultDamageError(where, `tree entry ${JSON.stringify((e as Node)?.name ?? null)} is malformed`);
  }
  return doc.entries as Node[];
}
