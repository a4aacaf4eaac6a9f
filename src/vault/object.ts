/**
 * Encoding of the vault's small objects (index files, recovery points, job records, locks,
 * the sealed copy of config):
 *   "EFSO" | u8 version | u8 flags (bit 0: zstd) | sealed payload
 *
 *   version 2 (encrypted vaults of format 2): the payload in a v2 envelope (a key of its own,
 *             domain "object"), additional data = the 6 header bytes ‖ the object's full key
 *             (UTF-8), so an object read under any other key, or with its flags changed, fails
 *   version 1 (unencrypted vaults, and what format-1 encrypted vaults hold): a v1 envelope
 *             with the key's folder ("jobs/", "rps/") as additional data, or no seal at all
 *
 * Writers use version 2 whenever there are keys. Readers accept version 1 from an encrypted
 * vault only when it may hold them (keys.legacy: created in format 1), so in a vault created
 * in format 2 nobody can pass off an old-style object, bound only to its folder. The version
 * byte is the explicit marker: a reader never tries one envelope after the other.
 * Decoding checks magic, version, authentication and length, and throws VaultDamageError
 * naming the key.
 *
 * The declared raw length is the object's own word, so it is bounded before anything is
 * inflated: an index file is binary with random 32-byte ids (zstd gets it to no better than
 * about 1.6:1), so at most 4 × its compressed payload + 1 MiB; any other object (JSON) at most
 * MAX_JSON_OBJECT_BYTES.
 */
import { VaultDamageError } from "../errors.ts";
import { compress, decompress } from "./compress.ts";
import { type VaultKeys, sealV2, unseal, unsealV2 } from "./crypto.ts";

const MAGIC = [0x45, 0x46, 0x53, 0x4f]; // "EFSO"
const V1 = 1;
const V2 = 2;
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
  const head = Uint8Array.of(...MAGIC, keys ? V2 : V1, packed ? FLAG_ZSTD : 0);
  const sealed = sealV2(keys, "object", body, aadV2(head, key));
  const out = new Uint8Array(6 + sealed.length);
  out.set(head, 0);
  out.set(sealed, 6);
  return out;
}

/** Decodes a vault object; throws VaultDamageError(key) when it is damaged. */
export function decodeObject(keys: VaultKeys | null, key: string, data: Uint8Array): Uint8Array {
  if (data.length < 10 || MAGIC.some((b, i) => data[i] !== b)) throw new VaultDamageError(key, "not an efsbak object (bad magic)");
  const version = data[4];
  if (version !== V1 && version !== V2) {
    throw new VaultDamageError(key, `unknown object version ${version}`, "upgrade efsbak to read this vault");
  }
  if (version === V2 && !keys) throw new VaultDamageError(key, "a sealed (version 2) object in an unencrypted vault");
  if (version === V1 && keys && !keys.legacy) {
    throw new VaultDamageError(key, "a version-1 object (bound only to its folder) in a vault created in format 2, which never holds one", "someone may have copied it here from another vault or an older copy; run \"efsbak check\"");
  }
  let body: Uint8Array;
  try {
    body = version === V2 ? unsealV2(keys, "object", data.subarray(6), aadV2(data.subarray(0, 6), key)) : unseal(keys, data.subarray(6), aadV1(key));
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

/** The envelope version of an encoded object (1 or 2), or null when it is not one. */
export function objectVersion(data: Uint8Array): number | null {
  return data.length >= 6 && MAGIC.every((b, i) => data[i] === b) ? data[4] : null;
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

/** Version 2: the header (magic, version, flags) and the full key. */
function aadV2(head: Uint8Array, key: string): Uint8Array {
  const k = new TextEncoder().encode(key);
  const out = new Uint8Array(head.length + k.length);
  out.set(head, 0);
  out.set(k, head.length);
  return out;
}

/** Version 1 (format-1 vaults): the key's kind (folder), or the whole key without a "/". */
function aadV1(key: string): Uint8Array {
  return new TextEncoder().encode(key.slice(0, key.indexOf("/") + 1) || key);
}
