/**
 * Opening a vault the way a command means it, beyond reading it (vault.ts openVault):
 *
 *   no config      create? no: "there is no vault"; yes: refuse plaintext when a password is
 *                  at hand, create (encrypted when the plans say so), wait `settleMs`, read the
 *                  config back: another process's config that won the race is the vault used
 *   encrypted      unlock (the caller's: a cached key, a password from the environment, a prompt)
 *   plaintext      a downgrade? refused when the plans promise encryption, a password is at
 *                  hand, key files or a sealed config are there: nothing is ever written
 *   format 1       upgraded to format 2 once it opened (not readOnly; a read-only copy stays)
 *
 * Passwords, prompts and logging stay with the caller (cli/context.ts), through `hooks`.
 */
import { EfsbakError, type VaultDamageError } from "../errors.ts";
import { StorageError, type Storage } from "../storage/storage.ts";
import type { VaultConfig } from "./config.ts";
import { upgradeConfig } from "./config-seal.ts";
import type { VaultKeys } from "./crypto.ts";
import { type KdfParams, initEncryptedVault } from "./keys.ts";
import { CONFIG_SEAL_KEY } from "./layout.ts";
import { initVault, openVault, readConfig, type Vault } from "./vault.ts";

/** What opening needs from the caller: keys, a new password, somewhere to say things. */
export interface OpenVaultHooks {
  /** Keys of an existing encrypted vault (cli: cached per invocation, else a password). */
  unlock(config: VaultConfig): Promise<VaultKeys>;
  /** The password of a vault being created encrypted (asked twice on a terminal), and the Argon2id parameters of its key file (undefined: the defaults). */
  newKey(): Promise<{ password: string; kdf?: KdfParams }>;
  /** Keys of a vault just created, for the caller to keep (no second Argon2id run). */
  remember?(config: VaultConfig, keys: VaultKeys): void;
  /** Refuses to create here (cli: a local path that is a file); runs only when creating. */
  checkCreatable?(): void;
  info(message: string): void;
  warn(message: string): void;
}

/** Options of openOrCreateVault. */
export interface OpenOrCreateOptions {
  /** The vault's name, for messages. */
  name: string;
  /** Create a missing vault. */
  create?: boolean;
  /** Never write (no format upgrade): check. */
  readOnly?: boolean;
  /** What the plans say: "aes-256-gcm" encrypted, null unencrypted on purpose, undefined not said. */
  encryption?: "aes-256-gcm" | null;
  /** The variable that gives a password (EFSBAK_PASSWORD…), or null when none is set. */
  passwordSource: string | null;
  /** The cold tier (creation writes nothing there, but the vault is opened with it). */
  cold: Storage;
  now(): Date;
  /** How long a new vault's creator waits before reading its config back (the creation race). */
  settleMs: number;
  onIndexDamage?: (err: VaultDamageError) => void;
}

/** The opened vault, and whether this call created it. */
export interface OpenedVault {
  vault: Vault;
  created: boolean;
}

/** Opens (with create: creates) the vault in storage, refusing downgrades; see the file comment. */
export async function openOrCreateVault(storage: Storage, options: OpenOrCreateOptions, hooks: OpenVaultHooks): Promise<OpenedVault> {
  const { name } = options;
  let config = await readConfig(storage);
  let keys: VaultKeys | null = null;
  let created = false;
  if (!config) {
    if (!options.create) {
      throw new EfsbakError(`Cannot open vault "${name}": there is no vault at "${storage.location}"`, { exitCode: 1, hint: 'create it with "efsbak vault init", or check the name or path' });
    }
    hooks.checkCreatable?.();
    const source = options.passwordSource;
    if (!options.encryption && options.encryption !== null && source) {
      // A vault that vanished (or was wiped) while a password is at hand must not come back
      // unencrypted: nothing is created, nothing written.
      throw new EfsbakError(`Cannot create vault "${name}" unencrypted: ${source} is set, so it is meant to be encrypted`, { exitCode: 1, hint: `if the vault was wiped, find out by whom; to create it encrypted, use "efsbak vault init --encryption aes-256-gcm" or set encryption in its table in the plans; to create it unencrypted, unset ${source} or set encryption = "none" in its table in the plans` });
    }
    if (options.encryption) {
      const { password, kdf } = await hooks.newKey();
      const made = await initEncryptedVault(storage, password, { cold: options.cold, now: options.now(), kdf });
      config = made.config;
      keys = made.unlocked.keys;
      hooks.remember?.(config, keys);
    } else {
      config = await initVault(storage, { cold: options.cold, now: options.now() });
    }
    // Two first runs may create the vault at the same moment: the config written last wins.
    // Wait a moment, read it back, and if another process's config won, use that vault
    // (nothing has been written under ours yet).
    await new Promise((r) => setTimeout(r, options.settleMs));
    const winner = await readConfig(storage);
    if (winner && winner.id !== config.id) {
      hooks.warn(`Vault "${name}" was created by another process at the same time: using that one`);
      config = winner;
      keys = config.encryption ? await hooks.unlock(config) : null;
    } else {
      // Always said (not only on a TTY): a mistyped --vault path must not go unnoticed.
      hooks.warn(`Created ${keys ? "encrypted " : ""}vault "${name}" at ${storage.location}: there was none`);
      created = true;
    }
  } else if (config.encryption) {
    keys = await hooks.unlock(config);
  } else {
    await refuseDowngrade(storage, options);
  }
  const vault = await openVault(storage, { cold: options.cold, config, keys, onIndexDamage: options.onIndexDamage });
  // Upgraded once the vault opened as it is: opening finds a config taken back to format 1
  // (an index file of format 2 gives it away), which an upgrade first would seal as authentic.
  if (!keys || config.version !== 1 || options.readOnly) return { vault, created };
  const next = await upgrade(name, storage, keys, config, hooks);
  return { vault: next === config ? vault : { ...vault, config: next }, created };
}

/**
 * A plaintext config where the plans promise encryption, or beside key files, may be a
 * downgrade by someone who can write to the bucket: never write plaintext there.
 */
async function refuseDowngrade(storage: Storage, options: OpenOrCreateOptions): Promise<void> {
  const { name } = options;
  if (options.encryption) {
    throw new EfsbakError(`Cannot open vault "${name}": the plans say it is encrypted, but its config at "${storage.location}" says it is not`, { exitCode: 1, hint: "if it was created unencrypted on purpose, remove encryption from its table in the plans; otherwise its config may have been tampered with" });
  }
  const source = options.passwordSource;
  if (source && options.encryption !== null) {
    throw new EfsbakError(`Cannot open vault "${name}": its config at "${storage.location}" says it is not encrypted, but ${source} is set`, { exitCode: 1, hint: `nothing was written. If someone replaced its config (a downgrade), restore the vault from a copy; if the vault is unencrypted on purpose, unset ${source} for commands on it, or set encryption = "none" in its table in the plans` });
  }
  for await (const _ of storage.list("keys/")) {
    throw new EfsbakError(`Cannot open vault "${name}": its config says it is not encrypted, but it has key files`, { exitCode: 1, hint: "its config may have been tampered with; restore config from a copy of the vault" });
  }
  if (await storage.stat(CONFIG_SEAL_KEY)) {
    throw new EfsbakError(`Cannot open vault "${name}": its config says it is not encrypted, but it has a sealed config (${CONFIG_SEAL_KEY})`, { exitCode: 1, hint: "its config may have been tampered with; restore config from a copy of the vault" });
  }
}

/** Upgrades a format-1 encrypted vault; a vault that cannot be written (a read-only copy) is used as it is. */
async function upgrade(name: string, storage: Storage, keys: VaultKeys, config: VaultConfig, hooks: OpenVaultHooks): Promise<VaultConfig> {
  try {
    const next = await upgradeConfig(storage, keys, config);
    hooks.info(`Upgraded vault "${name}" to format ${next.version}: its config is now authenticated and new objects are sealed with a key each`);
    return next;
  } catch (err) {
    if (!(err instanceof StorageError)) throw err;
    hooks.warn(`Vault "${name}" stays in format 1 (its config is not authenticated): cannot write its upgrade: ${err.message}`);
    return config;
  }
}
