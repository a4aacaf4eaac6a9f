/**
 * Authenticating `config` in encrypted vaults. config is plaintext (it is read before any key
 * is known), so an encrypted vault of format 2 also holds `config.sealed`: an EFSO object
 * (version 2, sealed with the vault's keys, bound to its key) whose content is config's
 * content. Opening compares the two, so changed chunker parameters, a changed id or pack size,
 * or a format version taken back to 1 are damage of "config", never used.
 *
 *   create (format 2)     keys/<id>, then config.sealed, then config (config last: the vault exists)
 *   open (format 2)       config.sealed must exist, authenticate, and say what config says
 *   open (format 1)       config.sealed, if any, must be exactly this config upgraded (an
 *                         interrupted upgrade), else it was upgraded and config taken back;
 *                         an index file of format 2 gives a downgrade away too (vault.ts)
 *   upgrade (1 -> 2)      config.sealed of the upgraded config, then config; a crash between
 *                         is finished by the next upgrade (the sealed copy is authentic)
 *
 * What this cannot see: someone who changes the config of a format-1 vault before its first
 * upgrade (the upgrade then seals what it finds), or who puts back an older copy of both
 * objects (a rollback, like any other in this design). docs/security.md has the details.
 */
import { VaultDamageError } from "../errors.ts";
import { NotFoundError, type Storage } from "../storage/storage.ts";
import { type VaultConfig, FORMAT_VERSION, decodeConfig, encodeConfig } from "./config.ts";
import type { VaultKeys } from "./crypto.ts";
import { CONFIG_KEY, CONFIG_SEAL_KEY } from "./layout.ts";
import { decodeObject, encodeObject } from "./object.ts";

const HINT = 'someone may have changed the vault\'s config; restore "config" from a copy of the vault, or from the content of a good config.sealed (efsbak never uses a config it cannot authenticate)';

/** Writes config.sealed for config (before config itself is written). */
export async function sealConfig(storage: Pick<Storage, "save">, keys: VaultKeys, config: VaultConfig): Promise<void> {
  await storage.save(CONFIG_SEAL_KEY, encodeObject(keys, CONFIG_SEAL_KEY, encodeConfig(config)));
}

/** The authenticated content of config.sealed, or null when there is none. */
async function readSealed(storage: Pick<Storage, "load">, keys: VaultKeys): Promise<VaultConfig | null> {
  let data: Uint8Array;
  try {
    data = await storage.load(CONFIG_SEAL_KEY);
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
  return decodeConfig(CONFIG_SEAL_KEY, decodeObject(keys, CONFIG_SEAL_KEY, data));
}

function same(a: VaultConfig, b: VaultConfig): boolean {
  return Buffer.from(encodeConfig(a)).equals(Buffer.from(encodeConfig(b)));
}

/** Where the two differ, for the message (field names only; config holds no secrets anyway). */
function differences(config: VaultConfig, sealed: VaultConfig): string {
  const keys = new Set([...Object.keys(config), ...Object.keys(sealed)]);
  const diff = [...keys].filter((k) => JSON.stringify((config as unknown as Record<string, unknown>)[k]) !== JSON.stringify((sealed as unknown as Record<string, unknown>)[k]));
  return diff.length ? diff.join(", ") : "formatting";
}

/**
 * Checks config against config.sealed (encrypted vaults); throws VaultDamageError naming
 * "config" when config is not what the vault's keys sealed.
 */
export async function verifyConfig(storage: Pick<Storage, "load">, keys: VaultKeys, config: VaultConfig): Promise<void> {
  const sealed = await readSealed(storage, keys);
  if (config.version === 1) {
    // An upgrade a crash (or a failed write) interrupted: the sealed copy is exactly config upgraded.
    if (sealed && same(sealed, upgraded(config))) return;
    if (sealed) throw new VaultDamageError(CONFIG_KEY, `config says format version 1, but the vault was upgraded to format ${sealed.version} (${CONFIG_SEAL_KEY} exists)`, HINT);
    return;
  }
  if (!sealed) throw new VaultDamageError(CONFIG_KEY, `config is not authenticated: ${CONFIG_SEAL_KEY}, which every encrypted vault of format ${config.version} has, is missing`, HINT);
  if (!same(config, sealed)) throw new VaultDamageError(CONFIG_KEY, `config does not match its sealed copy (${CONFIG_SEAL_KEY}): ${differences(config, sealed)} differ`, HINT);
}

/** config as upgradeConfig makes it from a format-1 config. */
function upgraded(config: VaultConfig): VaultConfig {
  return { ...config, version: FORMAT_VERSION, upgraded_from: 1 };
}

/**
 * Upgrades an encrypted format-1 vault to format 2: writes config.sealed of the upgraded
 * config, then config. Finishes an upgrade a crash interrupted. Returns the config in force
 * (unchanged for a vault that needs no upgrade).
 */
export async function upgradeConfig(storage: Pick<Storage, "load" | "save">, keys: VaultKeys, config: VaultConfig): Promise<VaultConfig> {
  if (!config.encryption || config.version !== 1) return config;
  const next = upgraded(config);
  const sealed = await readSealed(storage, keys);
  if (sealed && !same(sealed, next)) {
    throw new VaultDamageError(CONFIG_KEY, `config says format version 1, but ${CONFIG_SEAL_KEY} holds another config (${differences(next, sealed)} differ)`, HINT);
  }
  if (!sealed) await sealConfig(storage, keys, next);
  await storage.save(CONFIG_KEY, encodeConfig(next));
  return next;
}
