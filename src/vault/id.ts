/** Identifiers of vault objects: blob ids (32-byte BLAKE3) and random object ids (16 bytes). */
import { randomBytes } from "node:crypto";

/** Length of a blob id in bytes. */
export const BLOB_ID_BYTES = 32;
/** Length of a random object id (packs, index files, recovery points, jobs) in bytes. */
export const OBJECT_ID_BYTES = 16;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case hex of bytes[start, start+length). */
export function toHex(bytes: Uint8Array, start = 0, length = bytes.length - start): string {
  let s = "";
  for (let i = start; i < start + length; i++) s += HEX[bytes[i]];
  return s;
}

/** Parses lower- or upper-case hex; returns null when it is not hex of the expected length. */
export function fromHex(hex: string, bytes?: number): Uint8Array | null {
  if (hex.length % 2 !== 0 || (bytes !== undefined && hex.length !== bytes * 2) || !/^[0-9a-fA-F]*$/.test(hex)) return null;
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/** A fresh random object id, as hex. */
export function randomId(): string {
  return randomBytes(OBJECT_ID_BYTES).toString("hex");
}

/** A sortable random id: time prefix (so listings sort by creation) plus randomness. */
export function timeOrderedId(nowMs: number): string {
  return nowMs.toString(16).padStart(12, "0") + randomBytes(10).toString("hex");
}
