/**
 * The `config` object: format version and parameters, plaintext JSON (it reveals nothing but
 * parameters). Readers refuse a version they do not know.
 *
 * Format 1: unencrypted vaults (today's too: nothing in them changed), and encrypted vaults
 * made before format 2. Format 2: encrypted vaults whose objects are sealed with a key each
 * and bound to their full key, and whose config is authenticated by `config.sealed`
 * (config-seal.ts). `upgraded_from: 1` marks a format-1 vault upgraded in place (it may still
 * hold format-1 objects, which readers then accept).
 */
import { VaultDamageError } from "../errors.ts";
import { validateChunkerParams } from "../chunk/fastcdc.ts";

/** The vault format version this build writes for encrypted vaults (and the newest it reads). */
export const FORMAT_VERSION = 2;
/** The format version of unencrypted vaults (unchanged since format 1, so older releases read them). */
export const PLAIN_FORMAT_VERSION = 1;
/** Every version this build reads. */
export const FORMAT_VERSIONS: readonly number[] = [1, 2];

/** Chunker parameters, as stored. */
export interface ChunkerConfig {
  min_size: number;
  avg_size: number;
  max_size: number;
  seed: number;
}

/** Encryption parameters (keys live in keys/). */
export interface EncryptionConfig {
  cipher: "aes-256-gcm";
  kdf: "argon2id";
}

/** The content of `config`. */
export interface VaultConfig {
  format: "efsbak-vault";
  version: number;
  id: string;
  created_at: string;
  chunker: ChunkerConfig;
  hash: "blake3" | "blake3-keyed";
  compression: "zstd";
  pack_size: number;
  encryption: EncryptionConfig | null;
  /** 1 when a format-1 vault was upgraded to format 2 in place; absent otherwise. */
  upgraded_from?: 1;
}

/** Encodes config as pretty JSON. */
export function encodeConfig(c: VaultConfig): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(c, null, 2) + "\n");
}

/** Decodes and checks config; unknown versions are refused with a clear message. */
export function decodeConfig(key: string, data: Uint8Array): VaultConfig {
  let c: VaultConfig;
  try {
    c = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch {
    throw new VaultDamageError(key, "config is not valid JSON");
  }
  if (!c || typeof c !== "object" || c.format !== "efsbak-vault") throw new VaultDamageError(key, "not an efsbak vault config");
  if (!FORMAT_VERSIONS.includes(c.version)) {
    throw new VaultDamageError(key, `vault format version ${JSON.stringify(c.version)} is not supported (this efsbak reads versions ${FORMAT_VERSIONS.join(" and ")})`, "use the efsbak release that created this vault, or a newer one");
  }
  if (c.version === 2 && c.encryption === null) throw new VaultDamageError(key, "config says format version 2, which only encrypted vaults have, but no encryption");
  if (c.upgraded_from !== undefined && (c.upgraded_from !== 1 || c.version !== 2)) throw new VaultDamageError(key, `config has an invalid upgraded_from (${JSON.stringify(c.upgraded_from)})`);
  const ch = c.chunker;
  const ok = ch && [ch.min_size, ch.avg_size, ch.max_size, ch.seed].every((n) => Number.isInteger(n) && n >= 0) &&
    ch.min_size < ch.avg_size && ch.avg_size < ch.max_size && Number.isInteger(c.pack_size) && c.pack_size > 0;
  if (!ok) throw new VaultDamageError(key, "config has invalid chunker or pack parameters");
  try {
    // The chunker's own rules too (avg a power of two, max <= 16 MiB, seed < 2^32): a config
    // that passes here must never fail later with a plain Error when a backup starts.
    validateChunkerParams({ minSize: ch.min_size, avgSize: ch.avg_size, maxSize: ch.max_size, seed: ch.seed });
  } catch (err) {
    throw new VaultDamageError(key, `config has invalid chunker parameters: ${(err as Error).message.replace(/^Invalid chunker params: /, "")}`);
  }
  if (c.hash !== "blake3" && c.hash !== "blake3-keyed") throw new VaultDamageError(key, `unknown hash ${JSON.stringify(c.hash)}`, "upgrade efsbak to read this vault");
  if (c.compression !== "zstd") throw new VaultDamageError(key, `unknown compression ${JSON.stringify(c.compression)}`, "upgrade efsbak to read this vault");
  if (c.encryption !== null && c.encryption?.cipher !== "aes-256-gcm") throw new VaultDamageError(key, `unknown encryption ${JSON.stringify(c.encryption)}`);
  return c;
}
