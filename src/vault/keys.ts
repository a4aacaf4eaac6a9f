/**
 * Key files: the master key of an encrypted vault, wrapped under one password each.
 *
 *   master key   32 random bytes, made once at `vault init`, never changes, never stored bare
 *   vault keys   HKDF-SHA256(master) -> encryptKey (AES-256-GCM), idKey (keyed BLAKE3)
 *   keys/<id>    plaintext JSON: Argon2id parameters and salt, and
 *                wrapped = AES-256-GCM(Argon2id(password, salt), 1 ‖ vault id ‖ master)
 *
 * Unlocking tries the key files with the password, cheapest Argon2id first and within a work
 * budget (UNLOCK_WORK_BUDGET_KIB); the first that authenticates and names this vault's id
 * gives the master key. Parameters beyond KDF_LIMITS are refused before any Argon2id work. Adding a password writes a new key file around the
 * same master key, so rotating a password never re-encrypts data. A key file reveals its
 * parameters and creation time, nothing else: its label is sealed with the vault's keys.
 * Invariants: the last key file is never removed; a new key file is written before an old
 * one is removed, so a crash leaves one too many, never none.
 */
import { hkdfSync, randomBytes } from "node:crypto";
import { EfsbakError, VaultDamageError } from "../errors.ts";
import { NotFoundError, type Storage } from "../storage/storage.ts";
import { argon2id } from "./argon2.ts";
import { type VaultKeys, seal, unseal } from "./crypto.ts";
import type { VaultConfig } from "./config.ts";
import { fromHex, randomId, toHex } from "./id.ts";
import { CONFIG_KEY, idOfKey, objectKey } from "./layout.ts";
import { type InitOptions, initVault, readConfig } from "./vault.ts";

/** Argon2id cost of one password attempt. */
export interface KdfParams {
  /** Memory in KiB. */
  memoryKib: number;
  iterations: number;
  parallelism: number;
}

/** Parameters of new key files: RFC 9106's second recommended option (64 MiB, t=3, p=4). */
export const DEFAULT_KDF: KdfParams = { memoryKib: 64 * 1024, iterations: 3, parallelism: 4 };

/** Cheap parameters for tests only: a key file made with them barely protects its password. */
export const TEST_KDF: KdfParams = { memoryKib: 64, iterations: 1, parallelism: 1 };

/**
 * What a reader accepts, checked before any Argon2id work, so that a hostile key file cannot
 * make unlocking eat memory or time: 4x the default memory, 16 passes, 16 lanes, and at most
 * KDF_MAX_WORK_KIB of memory x passes (5.3x the default's 192 MiB-passes, ~0.65 s here).
 */
export const KDF_LIMITS = { memoryKib: [8, 256 * 1024], iterations: [1, 16], parallelism: [1, 16] } as const;
/** Most memory x passes (KiB) one key file may ask for: 1 GiB-pass. */
export const KDF_MAX_WORK_KIB = 1024 * 1024;
/**
 * Most memory x passes (KiB) one unlock spends over all the key files it tries: 4 GiB-passes,
 * about 21 tries at the defaults (~2.6 s here), 4 at the per-file maximum. Key files are tried
 * cheapest first, so expensive hostile ones come after every key file at the defaults.
 */
export const UNLOCK_WORK_BUDGET_KIB = 4 * 1024 * 1024;

const FORMAT = "efsbak-key";
const VERSION = 1;
const MASTER_BYTES = 32;
const SALT_BYTES = 32;
const WRAPPED_PLAIN_BYTES = 1 + 16 + MASTER_BYTES;
const KEYS_PREFIX = "keys/";

/** A key file as stored in keys/<id>. */
export interface KeyFile {
  format: "efsbak-key";
  version: number;
  id: string;
  created_at: string;
  kdf: { algorithm: "argon2id"; memory_kib: number; iterations: number; parallelism: number; salt: string };
  cipher: "aes-256-gcm";
  /** base64 of nonce ‖ AES-256-GCM(1 ‖ vault id ‖ master key) ‖ tag. */
  wrapped: string;
  /** base64 of the label sealed with the vault's encryption key, or null. */
  label: string | null;
}

/** A key file as `vault key list` shows it (never a secret). */
export interface KeyInfo {
  id: string;
  created_at: string;
  label: string | null;
  /** True for the key file the current password opened. */
  current: boolean;
  kdf: { algorithm: "argon2id"; memory_kib: number; iterations: number; parallelism: number };
}

/** An unlocked vault's secrets. Holds the master key: never log or serialize it. */
export interface UnlockedKeys {
  keys: VaultKeys;
  /** The key file the password opened. */
  keyId: string;
  /** Key files that were not tried (refused as damage, e.g. asking for too much memory): for a warning. */
  refused?: VaultDamageError[];
  vaultId: string;
  master: Uint8Array;
}

/** Options for writing a key file. */
export interface KeyFileOptions {
  /** The password the new key file opens with. */
  password: string;
  now: Date;
  kdf?: KdfParams;
  label?: string | null;
}

/** Derives the vault's two keys from its master key (HKDF-SHA256, one `info` per key). */
export function deriveVaultKeys(master: Uint8Array): VaultKeys {
  const derive = (info: string) => new Uint8Array(hkdfSync("sha256", master, new Uint8Array(0), info, 32));
  return { encryptKey: derive("efsbak vault v1 encryption key"), idKey: derive("efsbak vault v1 id key") };
}

/**
 * Creates an encrypted vault in empty storage: a new master key, its first key file, then
 * config. The key file comes first, so that a vault never exists without a way in.
 */
export async function initEncryptedVault(storage: Storage, password: string, options: InitOptions & Omit<KeyFileOptions, "password">): Promise<{ config: VaultConfig; unlocked: UnlockedKeys }> {
  if (await storage.stat(CONFIG_KEY)) {
    throw new EfsbakError(`Cannot create a vault at "${storage.location}": a vault already exists there`, { exitCode: 1 });
  }
  const vaultId = options.id ?? randomId();
  const master = new Uint8Array(randomBytes(MASTER_BYTES));
  const unlocked: UnlockedKeys = { keys: deriveVaultKeys(master), keyId: "", vaultId, master };
  unlocked.keyId = (await writeKeyFile(storage, unlocked, { ...options, password })).id;
  const config = await initVault(storage, { ...options, id: vaultId, keys: unlocked.keys, encryption: { cipher: "aes-256-gcm", kdf: "argon2id" } });
  return { config, unlocked };
}

/**
 * Opens the vault's master key with a password: tries every key file. A password no key
 * file takes is "wrong password" (exit 1); a vault without key files is damage.
 */
export async function unlockVault(storage: Storage, password: string, options: {
  config?: VaultConfig;
  name?: string;
  /** Memory x passes (KiB) this unlock may spend over all key files (UNLOCK_WORK_BUDGET_KIB). */
  workBudgetKib?: number;
  /** Called before each Argon2id run, with the key file's id (tests). */
  onAttempt?: (keyId: string) => void;
} = {}): Promise<UnlockedKeys> {
  const config = options.config ?? (await readConfig(storage));
  const name = options.name ?? storage.location;
  if (!config) throw new EfsbakError(`Cannot unlock vault "${name}": there is no vault at "${storage.location}"`, { exitCode: 1 });
  const files = await readKeyFiles(storage);
  if (files.length === 0) {
    throw new VaultDamageError(KEYS_PREFIX, "the vault is encrypted but has no key files", "restore keys/ from a copy of the vault; without a key file the data cannot be read");
  }
  const unreadable = files.filter((f) => f.error);
  const refused = unreadable.map((f) => f.error!);
  let otherVault = 0;
  let budget = options.workBudgetKib ?? UNLOCK_WORK_BUDGET_KIB;
  let untried = 0;
  // Cheapest first (ties by id), so a pile of expensive hostile key files delays no real one.
  const candidates = files.flatMap((f) => (f.file ? [f.file] : [])).sort((a, b) => workOf(a) - workOf(b) || (a.id < b.id ? -1 : 1));
  for (const file of candidates) {
    if (workOf(file) > budget) {
      untried++;
      continue;
    }
    budget -= workOf(file);
    options.onAttempt?.(file.id);
    const plain = await tryUnwrap(file, password);
    if (!plain) continue;
    const vaultId = toHex(plain, 1, 16);
    if (vaultId !== config.id) {
      otherVault++;
      continue;
    }
    const master = new Uint8Array(plain.subarray(17));
    plain.fill(0);
    return { keys: deriveVaultKeys(master), keyId: file.id, vaultId, master, refused };
  }
  const notes: string[] = [];
  if (untried) notes.push(`${untried} key file(s) were not tried: together they ask for more Argon2id work than one unlock spends (${UNLOCK_WORK_BUDGET_KIB / 1024 / 1024} GiB-passes); remove key files you do not use`);
  if (unreadable.length) notes.push(`${unreadable.length} key file(s) could not be tried: ${unreadable.map((f) => f.error!.message).join("; ")}`);
  if (otherVault) notes.push(`${otherVault} key file(s) opened with this password but belong to another vault`);
  throw new EfsbakError(`Cannot unlock vault "${name}": wrong password`, {
    exitCode: 1,
    hint: notes.length ? notes.join("; ") : `none of its ${files.length} key file(s) opens with this password; check where the password comes from`,
  });
}

/** Adds a password: a new key file around the same master key. */
export async function addKey(storage: Storage, unlocked: UnlockedKeys, options: KeyFileOptions): Promise<KeyInfo> {
  const file = await writeKeyFile(storage, unlocked, options);
  return infoOf(file, unlocked);
}

/** Lists key files, oldest first; labels are readable when the vault is unlocked. */
export async function listKeys(storage: Storage, unlocked: UnlockedKeys | null = null): Promise<KeyInfo[]> {
  const infos: KeyInfo[] = [];
  for (const f of await readKeyFiles(storage)) {
    if (f.file) infos.push(infoOf(f.file, unlocked));
  }
  return infos.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

/**
 * Removes a key file by id (or a unique prefix of at least 4 digits). Refuses the last key
 * file, and the one in use (unlock with another password to remove it).
 */
export async function removeKey(storage: Storage, unlocked: UnlockedKeys, options: { id: string }): Promise<KeyInfo> {
  const all = await listKeys(storage, unlocked);
  const found = findKey(all, options.id);
  if (all.length <= 1) {
    throw new EfsbakError(`Cannot remove key "${found.id}": it is the vault's last key, and without it nothing could be read`, { exitCode: 1, hint: 'add another password first with "efsbak vault key add"' });
  }
  if (found.id === unlocked.keyId) {
    throw new EfsbakError(`Cannot remove key "${found.id}": it is the key the current password opened`, { exitCode: 1, hint: 'use "efsbak vault key passwd" to replace it, or unlock with another password to remove it' });
  }
  await storage.remove(objectKey("keys", found.id));
  return found;
}

/** Replaces the current password: writes a new key file (same label), then removes the old one. */
export async function changePassword(storage: Storage, unlocked: UnlockedKeys, options: KeyFileOptions): Promise<{ added: KeyInfo; removed: string }> {
  const current = (await listKeys(storage, unlocked)).find((k) => k.id === unlocked.keyId);
  const label = options.label !== undefined ? options.label : (current?.label ?? null);
  const added = await addKey(storage, unlocked, { ...options, label });
  const removed = unlocked.keyId;
  await storage.remove(objectKey("keys", removed)).catch((err) => {
    if (!(err instanceof NotFoundError)) throw err;
  });
  unlocked.keyId = added.id;
  return { added: { ...added, current: true }, removed };
}

/** Encodes a key file as pretty JSON (plaintext: it holds parameters and ciphertext only). */
export function encodeKeyFile(file: KeyFile): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(file, null, 2) + "\n");
}

/** Decodes and checks a key file; throws VaultDamageError(key) when it is not one. */
export function decodeKeyFile(key: string, data: Uint8Array): KeyFile {
  let f: KeyFile;
  try {
    f = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch {
    throw new VaultDamageError(key, "key file is not valid JSON");
  }
  if (!f || typeof f !== "object" || f.format !== FORMAT) throw new VaultDamageError(key, "not an efsbak key file");
  if (f.version !== VERSION) throw new VaultDamageError(key, `unknown key file version ${JSON.stringify(f.version)}`, "upgrade efsbak to read this vault");
  if (f.id !== idOfKey(key)) throw new VaultDamageError(key, "key file id does not match its name");
  if (f.cipher !== "aes-256-gcm") throw new VaultDamageError(key, `unknown key file cipher ${JSON.stringify(f.cipher)}`, "upgrade efsbak to read this vault");
  const k = f.kdf;
  if (!k || k.algorithm !== "argon2id") throw new VaultDamageError(key, `unknown key derivation ${JSON.stringify(k?.algorithm)}`, "upgrade efsbak to read this vault");
  for (const [name, [min, max]] of [["memory_kib", KDF_LIMITS.memoryKib], ["iterations", KDF_LIMITS.iterations], ["parallelism", KDF_LIMITS.parallelism]] as const) {
    if (!Number.isInteger(k[name]) || k[name] < min || k[name] > max) throw new VaultDamageError(key, `key file has an invalid ${name} (${JSON.stringify(k[name])}; accepted ${min} to ${max})`);
  }
  if (k.memory_kib < 8 * k.parallelism) throw new VaultDamageError(key, "key file has less than 8 KiB of memory per lane");
  if (k.memory_kib * k.iterations > KDF_MAX_WORK_KIB) throw new VaultDamageError(key, `key file asks for ${k.memory_kib / 1024} MiB x ${k.iterations} passes of Argon2id, more than efsbak spends on one key file (${KDF_MAX_WORK_KIB / 1024} MiB-passes)`);
  if (typeof k.salt !== "string" || Buffer.from(k.salt, "base64").length !== SALT_BYTES) throw new VaultDamageError(key, "key file has an invalid salt");
  if (typeof f.wrapped !== "string" || Buffer.from(f.wrapped, "base64").length !== WRAPPED_PLAIN_BYTES + 28) throw new VaultDamageError(key, "key file has an invalid wrapped key");
  if (f.label !== null && typeof f.label !== "string") throw new VaultDamageError(key, "key file has an invalid label");
  if (typeof f.created_at !== "string") throw new VaultDamageError(key, "key file has no creation time");
  return f;
}

/** Memory x passes (KiB) of one try of a key file. */
function workOf(file: KeyFile): number {
  return file.kdf.memory_kib * file.kdf.iterations;
}

/** Derives the key that wraps the master key from a password (Argon2id, 32 bytes). */
async function deriveWrapKey(password: string, salt: Uint8Array, kdf: KdfParams): Promise<Uint8Array> {
  return argon2id({ password, salt, memoryKib: kdf.memoryKib, iterations: kdf.iterations, parallelism: kdf.parallelism, hashLength: 32 });
}

/** seal/unseal take vault keys; a wrap key only needs the encryption half. */
function asKeys(encryptKey: Uint8Array): VaultKeys {
  return { encryptKey, idKey: new Uint8Array(0) };
}

function wrapAad(id: string): Uint8Array {
  return new TextEncoder().encode(`efsbak-key/${VERSION}/${id}`);
}

function labelAad(id: string): Uint8Array {
  return new TextEncoder().encode(`efsbak-key-label/${id}`);
}

async function writeKeyFile(storage: Storage, unlocked: UnlockedKeys, options: KeyFileOptions): Promise<KeyFile> {
  const password = options.password;
  if (password.length === 0) throw new EfsbakError("Cannot add a key: the password is empty", { exitCode: 1 });
  const kdf = options.kdf ?? DEFAULT_KDF;
  const within = (v: number, [min, max]: readonly [number, number]) => Number.isInteger(v) && v >= min && v <= max;
  const ok = within(kdf.memoryKib, KDF_LIMITS.memoryKib) && within(kdf.iterations, KDF_LIMITS.iterations) && within(kdf.parallelism, KDF_LIMITS.parallelism);
  if (!ok || kdf.memoryKib * kdf.iterations > KDF_MAX_WORK_KIB) {
    throw new EfsbakError(`Cannot add a key: Argon2id parameters ${JSON.stringify(kdf)} are outside what readers accept`, { exitCode: 1 });
  }
  const id = randomId();
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const wrapKey = await deriveWrapKey(password, salt, kdf);
  const plain = new Uint8Array(WRAPPED_PLAIN_BYTES);
  plain[0] = 1;
  plain.set(fromHex(unlocked.vaultId, 16) ?? new Uint8Array(16), 1);
  plain.set(unlocked.master, 17);
  const wrapped = seal(asKeys(wrapKey), plain, wrapAad(id));
  plain.fill(0);
  wrapKey.fill(0);
  const label = options.label ? seal(unlocked.keys, new TextEncoder().encode(options.label), labelAad(id)) : null;
  const file: KeyFile = {
    format: FORMAT,
    version: VERSION,
    id,
    created_at: options.now.toISOString(),
    kdf: { algorithm: "argon2id", memory_kib: kdf.memoryKib, iterations: kdf.iterations, parallelism: kdf.parallelism, salt: Buffer.from(salt).toString("base64") },
    cipher: "aes-256-gcm",
    wrapped: Buffer.from(wrapped).toString("base64"),
    label: label ? Buffer.from(label).toString("base64") : null,
  };
  await storage.save(objectKey("keys", id), encodeKeyFile(file));
  return file;
}

/** The 49-byte wrapped plaintext, or null when the password does not open this key file. */
async function tryUnwrap(file: KeyFile, password: string): Promise<Uint8Array | null> {
  const k = file.kdf;
  const wrapKey = await deriveWrapKey(password, Buffer.from(k.salt, "base64"), { memoryKib: k.memory_kib, iterations: k.iterations, parallelism: k.parallelism });
  try {
    const plain = unseal(asKeys(wrapKey), Buffer.from(file.wrapped, "base64"), wrapAad(file.id));
    return plain.length === WRAPPED_PLAIN_BYTES && plain[0] === 1 ? new Uint8Array(plain) : null;
  } catch {
    return null;
  } finally {
    wrapKey.fill(0);
  }
}

async function readKeyFiles(storage: Storage): Promise<{ key: string; file?: KeyFile; error?: VaultDamageError }[]> {
  const out: { key: string; file?: KeyFile; error?: VaultDamageError }[] = [];
  for await (const o of storage.list(KEYS_PREFIX)) {
    try {
      out.push({ key: o.key, file: decodeKeyFile(o.key, await storage.load(o.key)) });
    } catch (err) {
      if (err instanceof NotFoundError) continue; // removed meanwhile
      if (err instanceof VaultDamageError) out.push({ key: o.key, error: err });
      else throw err;
    }
  }
  return out;
}

function infoOf(file: KeyFile, unlocked: UnlockedKeys | null): KeyInfo {
  let label: string | null = null;
  if (file.label && unlocked) {
    try {
      label = new TextDecoder().decode(unseal(unlocked.keys, Buffer.from(file.label, "base64"), labelAad(file.id)));
    } catch {
      label = null; // sealed by another vault's keys, or damaged: show none rather than fail a listing
    }
  }
  const { salt: _salt, ...kdf } = file.kdf;
  return { id: file.id, created_at: file.created_at, label, current: unlocked?.keyId === file.id, kdf };
}

function findKey(all: KeyInfo[], ref: string): KeyInfo {
  const r = ref.toLowerCase();
  const matches = r.length >= 4 ? all.filter((k) => k.id.startsWith(r)) : all.filter((k) => k.id === r);
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) throw new EfsbakError(`Cannot find key "${ref}" in this vault`, { exitCode: 1, hint: 'see "efsbak vault key list"' });
  throw new EfsbakError(`Cannot tell which key "${ref}" means: ${matches.length} keys start with it`, { exitCode: 1, hint: "give more digits" });
}
