/**
 * Pure helpers on file content for restore: zero detection, the pieces of a chunk worth
 * writing (zero pieces stay holes), what a blob costs the budget, and [start, end) ranges.
 */
import type { BlobLocation } from "../vault/blob-index.ts";

/** True when every byte is zero (word-wise where aligned). */
export function isZero(b: Uint8Array): boolean {
  let i = 0;
  const n = b.length;
  if ((b.byteOffset & 3) === 0 && n >= 16) {
    const words = new Uint32Array(b.buffer, b.byteOffset, n >>> 2);
    for (let w = 0; w < words.length; w++) if (words[w] !== 0) return false;
    i = words.length << 2;
  }
  for (; i < n; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * What the budget is charged for a blob: its decoded length (its stored bytes when larger,
 * which only a blob stored raw with a cipher's overhead has), what it holds once loaded.
 */
export function decodedCost(loc: Pick<BlobLocation, "rawLength" | "storedLength">): number {
  return Math.max(loc.rawLength, loc.storedLength, 1);
}

/** Zero pieces this long (aligned on the file's offsets) inside a chunk are left as holes. */
export const ZERO_PIECE_BYTES = 64 * 1024;

/**
 * The [from, to) ranges of data[0, length) to write at file offset `offset`: all of it but
 * the pieces of ZERO_PIECE_BYTES (aligned on file offsets; partial ones at the edges) that
 * are all zeros, which the file, created empty, already reads as zeros.
 */
export function dataPieces(data: Uint8Array, length: number, offset: number): [number, number][] {
  const out: [number, number][] = [];
  let at = 0;
  while (at < length) {
    const next = Math.min(length, at + ZERO_PIECE_BYTES - ((offset + at) % ZERO_PIECE_BYTES));
    if (!isZero(data.subarray(at, next))) {
      const last = out[out.length - 1];
      if (last && last[1] === at) last[1] = next;
      else out.push([at, next]);
    }
    at = next;
  }
  return out;
}

/** Sorts and merges [start, end) ranges. */
export function mergeRanges(ranges: [number, number][]): [number, number][] {
  const sorted = ranges.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}
