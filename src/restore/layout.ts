/**
 * Where each chunk of a file goes, decided from the node and the index alone, before any blob
 * is loaded (pure: no I/O; write-file.ts acts on it). A chunk's length is its rawLength in the
 * index; it is unknown when its id is not a blob id (not 64 hex digits) or is in no index.
 *
 *   no unknown       chunk i at the sum of the lengths before it; chunks that start at or past
 *                    the recorded size are dropped; a shortfall [sum, size) is missing;
 *                    sizeMismatch when the sum is not the size
 *   one unknown,     it is placed with the length of the gap the others leave, so the file is
 *   known <= size    covered exactly; nothing missing, no mismatch (the writer records the
 *                    unknown chunk itself as missing when its turn comes)
 *   otherwise        what precedes the first unknown is placed from the start (head), what
 *                    follows the last from the end (tail); the unknowns and whatever lies
 *                    between them are not placed, and [head, tail) is missing; when the tail
 *                    would overlap the head it is not placed either and [head, size) is
 *                    missing; chunks at or past the size are dropped; sizeMismatch when the
 *                    head alone passes the size
 */
import type { FileNode } from "../tree/node.ts";
import type { BlobIndex, BlobLocation } from "../vault/blob-index.ts";
import { fromHex } from "../vault/id.ts";

/** One chunk of a file, where it goes. */
export interface PlacedChunk {
  /** Its position in the node's content. */
  index: number;
  /** Its id, or null when the content entry is not a blob id. */
  id: Uint8Array | null;
  /** Where the index has it, or null when no index knows it. */
  loc: BlobLocation | null;
  /** Its id in lower-case hex (as the content lists it otherwise). */
  hex: string;
  /** Its offset in the file. */
  offset: number;
  /** Its length (rawLength from the index, or the gap it fills); -1 when unknown. */
  length: number;
}

/** What layout() decided for one file. */
export interface FileLayout {
  /** The chunks placed, by offset within the file's recorded size (those past it dropped). */
  placed: PlacedChunk[];
  /** [start, end) ranges no chunk can be placed in (unknown lengths, or the chunks fall short). */
  missing: [number, number][];
  /** The chunk lengths do not add up to the recorded size (the node is inconsistent). */
  sizeMismatch: boolean;
}

/** Places a file's chunks by the index's lengths (see the file comment for the cases). */
export function layout(node: Pick<FileNode, "content" | "size">, index: Pick<BlobIndex, "get">): FileLayout {
  const chunks = node.content.map((hex, i) => {
    const id = fromHex(hex, 32);
    const loc = id ? index.get(id) : null;
    return { index: i, id, loc, hex: hex.toLowerCase(), length: loc ? loc.rawLength : -1 };
  });
  const size = node.size;
  const unknown = chunks.filter((c) => c.length < 0);
  const known = chunks.reduce((s, c) => s + (c.length >= 0 ? c.length : 0), 0);
  const missing: [number, number][] = [];
  const placed: PlacedChunk[] = [];
  if (unknown.length === 0) {
    let at = 0;
    for (const c of chunks) {
      placed.push({ ...c, offset: at });
      at += c.length;
    }
    if (at < size) missing.push([at, size]);
    return { placed: placed.filter((p) => p.offset < size), missing, sizeMismatch: at !== size };
  }
  if (unknown.length === 1 && known <= size) {
    // The one chunk the index does not know fills exactly the gap.
    unknown[0].length = size - known;
    let at = 0;
    for (const c of chunks) {
      placed.push({ ...c, offset: at });
      at += c.length;
    }
    return { placed, missing, sizeMismatch: false };
  }
  // Several unknown lengths: place what precedes the first from the start and what follows
  // the last from the end; the middle cannot be placed and is missing.
  const first = unknown[0].index;
  const last = unknown[unknown.length - 1].index;
  let head = 0;
  for (const c of chunks.slice(0, first)) {
    placed.push({ ...c, offset: head });
    head += c.length;
  }
  const tailChunks = chunks.slice(last + 1);
  const tailLength = tailChunks.reduce((s, c) => s + c.length, 0);
  let tail = size - tailLength;
  if (tail >= head) {
    for (const c of tailChunks) {
      placed.push({ ...c, offset: tail });
      tail += c.length;
    }
    tail = size - tailLength;
  } else {
    tail = size;
  }
  if (head < tail) missing.push([head, tail]);
  return { placed: placed.filter((p) => p.offset < size), missing, sizeMismatch: head > size };
}
