/**
 * Encoding of the vault's small objects (index files, recovery points, job records, locks):
 *   "EFSO" | u8 version (1) | u8 flags (bit 0: zstd) | sealed payload
 * The payload is sealed (encrypted) in encrypted vaults. Decoding checks magic, version,
 * authentication and length, and throws VaultDamageError naming the key.
 *
 * The declared raw length is the object's own word, so it is bounded before anything is
 * inflated: an index file is binary with random 32-byte ids (zstd gets it to no better than
 * about 1.6:1), so at most 4 × its compressed payload + 1 MiB; any other object (JSON) at most
 * MAX_JSON_OBJECT_BYTES.
 */
import { VaultDamageError } from "../errors.ts";
import { compress, decompress } from "./compress.ts";
import { type VaultKeys, seal, unseal } from "./crypto.ts";

const MAGIC = [0x45, 0x46, 0x53, 0x4f]; // "EFSO"
const VERSION = 1;
const FLAG_ZSTD = 1;
/** Most raw bytes of a JSON object (a recovery point with a million warnings is about 100 MB). */
export const MAX_JSON_OBJECT_BYTES = 256 * 1024 * 1024;

/** Most raw bytes an object under `key` may declare, given its compressed payload's length. */
export function maxObjectRawLength(key: string, payloadLength: number): number {
  return key.startsWith("index/") ? 4 * payloadLength + 1024 * 1024 : MAX_JSON_OBJECT_BYTES;
}

/** Encodes bytes as a vault object. The key is authenticated with the payload. */
export function encodeObject(keys: VaultKeys | null, key: string, plain: Uint8Array): Uint8Array {
  const packed = compress(plain);
  const body = new Uint8Array(4 + (packed ?? plain).length);
  new DataView(body.buffer).setUint32(0, plain.length, true);
  body.set(packed ?? plain, 4);
  const sealed = seal(keys, body, aadOf(key));
  const out = new Uint8Array(6 + sealed.length);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out[5] = packed ? FLAG_ZSTD : 0;
  out.set(sealed, 6);
  return out;
}

/** Decodes a vault object; throws VaultDamageError(key) when it is damaged. */
export function decodeObject(keys: VaultKeys | null, key: string, data: Uint8Array): Uint8Array {
  if (data.length < 10 || MAGIC.some((b, i) => data[i] !== b)) throw new VaultDamageError(key, "not an efsbak object (bad magic)");
  if (data[4] !== VERSION) {
    throw new VaultDamageError(key, `unknown object version ${data[4]}`, "upgrade efsbak to read this vault");
  }
  let body: Uint8Array;
  try {
    body = unseal(keys, data.subarray(6), aadOf(key));
  } catch (err) {
    throw new VaultDamageError(key, (err as Error).message);
  }
  if (body.length < 4) throw new VaultDamageError(key, "truncated");
  const rawLength = new DataView(body.buffer, body.byteOffset).getUint32(0, true);
  const payload = body.subarray(4);
  if (data[5] & FLAG_ZSTD) {
    const most = maxObjectRawLength(key, payload.length);
    if (rawLength > most) throw new VaultDamageError(key, `declares ${rawLength} raw bytes, more than the ${most} an object of ${payload.length} compressed bytes may hold`);
    try {
      return decompress(payload, rawLength);
    } catch (err) {
      throw new VaultDamageError(key, `corrupt compressed data: ${(err as Error).message}`);
    }
  }
  if (payload.length !== rawLength) throw new VaultDamageError(key, `truncated: ${payload.length} of ${rawLength} bytes`);
  return payload;
}

/** Encodes a JSON document as a vault object. */
export function encodeJson(keys: VaultKeys | null, key: string, doc: unknown): Uint8Array {
  return encodeObject(keys, key, new TextEncoder().encode(JSON.stringify(doc)));
}

/** Decodes a JSON vault object; throws VaultDamageError(key) when it is damaged. */
export function decodeJson<T>(keys: VaultKeys | null, key: string, data: Uint8Array): T {
  const bytes = decodeObject(keys, key, data);
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as T;
  } catch {
    throw new VaultDamageError(key, "not valid JSON");
  }
}

function aadOf(key: string): Uint8Array {
  // Bind the object to its kind (folder), not to the full key: the same job record is read
  // under its own key, and a recovery point cannot be replayed as an index file.
  return new TextEncoder().encode(key.slice(0, key.indexOf("/") + 1) || key);
}
