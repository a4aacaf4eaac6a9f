/**
 * Pack files: many blobs in one object, self-describing so the index (and lost+found
 * recovery) can be rebuilt from packs alone.
 *
 *   blob 0 | blob 1 | … | header (sealed) | u32 LE length of sealed header | "EFSBPK01"
 *
 * header = u8 version (1) | u8 pack type | u16 0 | u32 count | count × entry
 * entry  = u8 blob type | u8 flags (bit 0: zstd) | u16 0 | u32 raw length | u32 stored length
 *          | u32 CRC-32 of the stored bytes | 32-byte blob id                      (48 bytes)
 * Blob offsets are implicit: each blob follows the previous one, the first at 0.
 * A stored blob is zstd(raw) or raw, then sealed in encrypted vaults: a v2 envelope (its own
 * key, domain "blob", the id as additional data; crypto.ts), so a blob moves between packs
 * (prune) unchanged. The header is sealed in a v2 envelope too (domain "pack", additional data
 * "EFSBPK01" ‖ the 16-byte pack id), so a header cannot be passed off as another pack's.
 * Format-1 vaults hold v1 envelopes (the vault key itself; header AAD "EFSBPK01" alone),
 * which readers accept only there (keys.legacy). Unencrypted packs are as in format 1.
 * The CRC lets restore detect damage cheaply; check --read-data re-hashes.
 */
import { VaultDamageError } from "../errors.ts";
import { compress, decompress } from "./compress.ts";
import { SEAL_OVERHEAD, SEAL_V2_OVERHEAD, type VaultKeys, sealIntoV2, sealV2, unseal, unsealV2 } from "./crypto.ts";
import { BLOB_ID_BYTES, fromHex, randomId, toHex } from "./id.ts";
import { idOfKey } from "./layout.ts";

/** Blob types. */
export const BLOB_DATA = 0;
export const BLOB_TREE = 1;
/** A pack is closed once it reaches this size. */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;
/**
 * Most raw bytes a tree blob may hold (one directory listing). A listing of 1,000,000 typical
 * entries (one chunk each, 20-character names) is 243 MB of JSON, so this leaves room for
 * about 2 million; backup refuses to write a larger one, readers refuse to inflate one.
 */
export const MAX_TREE_BYTES = 512 * 1024 * 1024;
/** Bytes of one header entry. */
export const ENTRY_BYTES = 48;
const MAGIC = new TextEncoder().encode("EFSBPK01");
const TRAILER_BYTES = 4 + MAGIC.length;
const HEADER_VERSION = 1;
const FLAG_ZSTD = 1;

/** One blob in a pack. */
export interface PackEntry {
  type: number;
  compressed: boolean;
  rawLength: number;
  storedLength: number;
  crc: number;
  id: Uint8Array;
  offset: number;
}

/** Writes one entry (48 bytes) at out[at]. */
export function writeEntry(out: Uint8Array, at: number, e: Omit<PackEntry, "offset">): void {
  const v = new DataView(out.buffer, out.byteOffset + at, ENTRY_BYTES);
  v.setUint8(0, e.type);
  v.setUint8(1, e.compressed ? FLAG_ZSTD : 0);
  v.setUint16(2, 0, true);
  v.setUint32(4, e.rawLength, true);
  v.setUint32(8, e.storedLength, true);
  v.setUint32(12, e.crc >>> 0, true);
  out.set(e.id, at + 16);
}

/** Reads one entry at data[at]; the offset is supplied by the caller. */
export function readEntry(data: Uint8Array, at: number, offset: number): PackEntry {
  const v = new DataView(data.buffer, data.byteOffset + at, ENTRY_BYTES);
  return {
    type: v.getUint8(0),
    compressed: (v.getUint8(1) & FLAG_ZSTD) !== 0,
    rawLength: v.getUint32(4, true),
    storedLength: v.getUint32(8, true),
    crc: v.getUint32(12, true),
    // A copy as a plain Uint8Array: decoded data may be a Buffer (zstd, decipher), whose slice is a view.
    id: new Uint8Array(data.subarray(at + 16, at + 16 + BLOB_ID_BYTES)),
    offset,
  };
}

/** Bytes a pack is handed out in by cut(): whole blocks, so each piece can go to disk with O_DIRECT. */
export const PIECE_ALIGN = 4096;

/**
 * Accumulates blobs into a reusable buffer; one pack at a time. A pack is handed out whole by
 * finish(), or streamed: cut() hands out the bytes so far (whole blocks) and carries on in
 * another buffer, and finish() then gives the last piece; offsets count from the pack's start.
 */
export class PackWriter {
  #buf: Uint8Array;
  #used = 0;
  /** Bytes of this pack already handed out by cut(). */
  #base = 0;
  #entries: Omit<PackEntry, "offset">[] = [];
  #offsets: number[] = [];
  readonly #keys: VaultKeys | null;
  readonly #packType: number;
  /** Bytes a seal adds (counted as in format 1 when nothing is sealed, so plain packs fill alike). */
  readonly #overhead: number;
  /** Id of the pack being built: its header is bound to it, so the writer chooses it. */
  #packId = randomId();
  /** Bytes of short-lived buffers (zstd and cipher output) the last add() left for the GC. */
  lastGarbage = 0;

  /** The buffer grows (doubling) up to this many bytes before a pack counts as full. */
  readonly #growTo: number;

  /**
   * `buffer` is where packs are built; with `growTo`, a small first buffer grows as needed
   * (fresh memory is slow to touch: a 17 MiB buffer costs ~0.1 s here before any use).
   */
  constructor(buffer: Uint8Array, options: { keys: VaultKeys | null; packType: number; growTo?: number }) {
    this.#buf = buffer;
    this.#growTo = options.growTo ?? 0;
    this.#keys = options.keys;
    this.#packType = options.packType;
    this.#overhead = options.keys ? SEAL_V2_OVERHEAD : SEAL_OVERHEAD;
  }

  /** Id of the pack being built (a new one after each finish()); save the pack under it. */
  get packId(): string {
    return this.#packId;
  }

  /** Bytes of blobs written so far in this pack. */
  get size(): number {
    return this.#base + this.#used;
  }

  /** Bytes in the buffer not yet handed out. */
  get pending(): number {
    return this.#used;
  }

  /**
   * Hands out the pack's bytes so far, rounded down to whole PIECE_ALIGN blocks (a view of the
   * current buffer, which the caller now owns), and carries on in `next` with the rest.
   */
  cut(next: Uint8Array): Uint8Array {
    const whole = this.#used - (this.#used % PIECE_ALIGN);
    const piece = this.#buf.subarray(0, whole);
    if (next.length < this.#used - whole) throw new Error("PackWriter.cut: next buffer too small");
    next.set(this.#buf.subarray(whole, this.#used), 0);
    this.#buf = next;
    this.#used -= whole;
    this.#base += whole;
    return piece;
  }

  /** Blobs in the current pack. */
  get count(): number {
    return this.#entries.length;
  }

  /**
   * Compresses (when worth it), seals and appends a blob, sealing straight into the pack
   * buffer; returns false when it would not fit (the caller finishes the pack first).
   */
  add(type: number, id: Uint8Array, raw: Uint8Array): boolean {
    // Room for the worst case (stored raw) is checked before compressing, so no blob is
    // compressed twice; a compressed blob is never longer than its raw bytes.
    const mostStored = raw.length + this.#overhead;
    const headerAfter = 8 + (this.#entries.length + 1) * ENTRY_BYTES + this.#overhead + TRAILER_BYTES;
    if (!this.#room(mostStored + headerAfter)) return false;
    const packed = compress(raw);
    const body = packed ?? raw;
    const written = sealIntoV2(this.#keys, "blob", body, id, this.#buf, this.#used);
    this.#entries.push({
      type,
      compressed: packed !== null,
      rawLength: raw.length,
      storedLength: written,
      crc: Bun.hash.crc32(this.#buf.subarray(this.#used, this.#used + written)),
      id: id.slice(),
    });
    this.#offsets.push(this.#base + this.#used);
    this.#used += written;
    this.lastGarbage = (packed?.length ?? 0) + (this.#keys ? body.length : 0);
    return true;
  }

  /**
   * Appends a blob exactly as another pack stored it (already compressed and sealed, sealed
   * with its id as AAD, so it moves between packs unchanged); false when it would not fit.
   */
  addStored(e: Omit<PackEntry, "offset">, stored: Uint8Array): boolean {
    const headerAfter = 8 + (this.#entries.length + 1) * ENTRY_BYTES + this.#overhead + TRAILER_BYTES;
    if (!this.#room(stored.length + headerAfter)) return false;
    this.#buf.set(stored, this.#used);
    this.#entries.push({ type: e.type, compressed: e.compressed, rawLength: e.rawLength, storedLength: stored.length, crc: e.crc, id: e.id.slice() });
    this.#offsets.push(this.#base + this.#used);
    this.#used += stored.length;
    return true;
  }

  /**
   * Writes the header and trailer; returns the pack's bytes (a view of the buffer: the last
   * piece when cut() was used), its whole size, its entries, and the id to save it under.
   */
  finish(): { bytes: Uint8Array; size: number; entries: PackEntry[]; packId: string } {
    const header = new Uint8Array(8 + this.#entries.length * ENTRY_BYTES);
    const hv = new DataView(header.buffer);
    hv.setUint8(0, HEADER_VERSION);
    hv.setUint8(1, this.#packType);
    hv.setUint32(4, this.#entries.length, true);
    this.#entries.forEach((e, i) => writeEntry(header, 8 + i * ENTRY_BYTES, e));
    const packId = this.#packId;
    const sealed = sealV2(this.#keys, "pack", header, headerAad(packId));
    const total = this.#used + sealed.length + TRAILER_BYTES;
    if (total > this.#buf.length) this.#grow(total);
    this.#buf.set(sealed, this.#used);
    new DataView(this.#buf.buffer, this.#buf.byteOffset).setUint32(this.#used + sealed.length, sealed.length, true);
    this.#buf.set(MAGIC, this.#used + sealed.length + 4);
    const entries = this.#entries.map((e, i) => ({ ...e, offset: this.#offsets[i] }));
    const bytes = this.#buf.subarray(0, total);
    const size = this.#base + total;
    this.#entries = [];
    this.#offsets = [];
    this.#used = 0;
    this.#base = 0;
    this.#packId = randomId();
    return { bytes, size, entries, packId };
  }

  /** Switches to another buffer (the previous one was handed out with finish()). */
  useBuffer(buffer: Uint8Array): void {
    if (this.#used !== 0) throw new Error("PackWriter.useBuffer with a pack in progress");
    this.#buf = buffer;
  }

  /** Makes room for `more` bytes after what is used; false when the pack is full. */
  #room(more: number): boolean {
    const need = this.#used + more;
    if (need <= this.#buf.length) return true;
    if (need <= this.#growTo) this.#grow(Math.min(this.#growTo, Math.max(need, 2 * this.#buf.length)));
    else if (this.#entries.length > 0) return false;
    else this.#grow(need);
    return true;
  }

  #grow(need: number): void {
    const next = new Uint8Array(Math.max(need, this.#buf.length));
    next.set(this.#buf.subarray(0, this.#used));
    this.#buf = next;
  }
}

/** Length of the trailer a reader fetches first (u32 header length + magic). */
export const PACK_TRAILER_BYTES = TRAILER_BYTES;

/** Parses the trailer; returns the sealed header length. */
export function decodePackTrailer(key: string, trailer: Uint8Array, packSize: number): number {
  if (trailer.length !== TRAILER_BYTES || MAGIC.some((b, i) => trailer[4 + i] !== b)) {
    throw new VaultDamageError(key, "not a pack (bad trailer magic)");
  }
  const len = new DataView(trailer.buffer, trailer.byteOffset).getUint32(0, true);
  if (len + TRAILER_BYTES > packSize || len < 8) throw new VaultDamageError(key, `pack header length ${len} does not fit a ${packSize}-byte pack`);
  return len;
}

/** Additional data of a v2 pack header: the trailer magic and the pack id (16 bytes). */
function headerAad(packId: string): Uint8Array {
  const out = new Uint8Array(MAGIC.length + 16);
  out.set(MAGIC, 0);
  out.set(fromHex(packId, 16) ?? new Uint8Array(16), MAGIC.length);
  return out;
}

/**
 * Opens a sealed value of a pack (its header, or a blob): a v2 envelope (first byte 2), or a
 * v1 one where the vault may hold them (keys.legacy). In such a vault a v1 value whose random
 * nonce happens to start with 2 is tried as v2 first, then as v1.
 */
export function unsealPackPart(keys: VaultKeys | null, domain: "blob" | "pack", sealed: Uint8Array, aadV2: Uint8Array, aadV1: Uint8Array): Uint8Array {
  if (!keys) return sealed;
  if (sealed[0] === 2) {
    try {
      return unsealV2(keys, domain, sealed, aadV2);
    } catch (err) {
      if (!keys.legacy) throw err;
    }
  }
  if (!keys.legacy) throw new Error("sealed in the format-1 envelope, which a vault created in format 2 never holds");
  return unseal(keys, sealed, aadV1);
}

/** Decodes a sealed pack header; checks that the blobs fit before the header. */
export function decodePackHeader(keys: VaultKeys | null, key: string, sealed: Uint8Array, packSize: number): { packType: number; entries: PackEntry[] } {
  let header: Uint8Array;
  try {
    header = unsealPackPart(keys, "pack", sealed, headerAad(idOfKey(key)), MAGIC);
  } catch (err) {
    throw new VaultDamageError(key, `pack header: ${(err as Error).message}`);
  }
  const v = new DataView(header.buffer, header.byteOffset, header.length);
  if (header.length < 8) throw new VaultDamageError(key, "pack header truncated");
  if (v.getUint8(0) !== HEADER_VERSION) throw new VaultDamageError(key, `unknown pack header version ${v.getUint8(0)}`, "upgrade efsbak to read this vault");
  const count = v.getUint32(4, true);
  if (header.length !== 8 + count * ENTRY_BYTES) throw new VaultDamageError(key, `pack header says ${count} blobs but has ${header.length} bytes`);
  const entries: PackEntry[] = [];
  let offset = 0;
  const dataEnd = packSize - sealed.length - TRAILER_BYTES;
  for (let i = 0; i < count; i++) {
    const e = readEntry(header, 8 + i * ENTRY_BYTES, offset);
    offset += e.storedLength;
    if (offset > dataEnd) throw new VaultDamageError(key, `blob ${i} reaches past the pack's data`);
    entries.push(e);
  }
  return { packType: v.getUint8(1), entries };
}

/**
 * Most raw bytes a blob of this type may hold: a data blob is one chunk, so at most the
 * vault's chunker max_size (config; at most 16 MiB); a tree blob at most MAX_TREE_BYTES.
 */
export function maxRawLength(type: number, chunkerMaxSize: number): number {
  return type === BLOB_DATA ? chunkerMaxSize : MAX_TREE_BYTES;
}

/**
 * Refuses a blob whose declared lengths exceed what its type may hold, before anything is
 * loaded or inflated: the lengths come from the vault itself (pack header, index), so a
 * hostile vault could otherwise declare gigabytes for a few bytes of zstd.
 */
export function checkDeclaredLengths(where: string, e: Pick<PackEntry, "rawLength" | "storedLength" | "id">, maxRaw: number): void {
  if (e.rawLength <= maxRaw && e.storedLength <= maxRaw + SEAL_OVERHEAD) return;
  const what = e.rawLength > maxRaw ? `declares ${e.rawLength} raw bytes` : `declares ${e.storedLength} stored bytes`;
  throw new VaultDamageError(where, `blob ${toHex(e.id).slice(0, 16)}… in ${where}: ${what}, more than the ${maxRaw} a blob of its type may hold`);
}

/**
 * Decodes a stored blob back to its raw bytes: declared lengths (at most `maxRaw`), CRC,
 * then authentication, then zstd (its output capped at the declared length).
 */
export function decodeBlob(keys: VaultKeys | null, where: string, e: Pick<PackEntry, "compressed" | "rawLength" | "storedLength" | "crc" | "id">, stored: Uint8Array, maxRaw = MAX_TREE_BYTES): Uint8Array {
  const blob = `blob ${toHex(e.id).slice(0, 16)}… in ${where}`;
  checkDeclaredLengths(where, e, maxRaw);
  if (stored.length !== e.storedLength) throw new VaultDamageError(where, `${blob}: truncated`);
  if (Bun.hash.crc32(stored) >>> 0 !== e.crc >>> 0) throw new VaultDamageError(where, `${blob}: checksum mismatch`);
  let plain: Uint8Array;
  try {
    plain = unsealPackPart(keys, "blob", stored, e.id, e.id);
  } catch (err) {
    throw new VaultDamageError(where, `${blob}: ${(err as Error).message}`);
  }
  if (!e.compressed) {
    if (plain.length !== e.rawLength) throw new VaultDamageError(where, `${blob}: length ${plain.length}, expected ${e.rawLength}`);
    return plain;
  }
  try {
    return decompress(plain, e.rawLength);
  } catch (err) {
    throw new VaultDamageError(where, `${blob}: ${(err as Error).message}`);
  }
}
