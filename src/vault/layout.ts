/**
 * The key scheme of a vault: the one place that turns (kind, id) into an object key.
 *
 *   config                      format version and parameters (plaintext JSON)
 *   config.sealed               encrypted vaults of format 2: config's content, sealed (EFSO)
 *   keys/<id>                   wrapped master keys (encrypted vaults)
 *   packs/<id[0:2]>/<id>        pack files (data or tree blobs), warm tier
 *   index/<id>                  index files: blob -> pack, offset, length
 *   rps/<id>                    recovery points
 *   lifecycle/<rp id>           lifecycle state of a recovery point (moved to the cold tier)
 *   jobs/<job id>/<seq>         job records; each state change is a new object
 *   locks/<id>                  vault locks (shared: backup, restore, check, drill; exclusive: prune)
 *   leases/<resource>/<id>      per-resource backup leases (<resource> a keyed hash when encrypted)
 *   due/<slot>/<time>           "a job exists for this occurrence": slot = hash of (type, plan,
 *                               rule, resource), keyed when encrypted; time = occurrence, 12 hex ms
 *   vault-lock/<id>             the vault lock (min/max retention), one object per tightening
 * The cold tier is a second storage (VAULT/cold, cold_path, or the same bucket under
 * PREFIX/cold with a cold storage class) holding packs/ with the same key scheme.
 */
import { createHash, createHmac } from "node:crypto";

/** Kinds of object the vault stores. */
export type ObjectKind = "packs" | "index" | "rps" | "lifecycle" | "jobs" | "locks" | "leases" | "keys" | "due" | "vault-lock";

/** Key of the config object. */
export const CONFIG_KEY = "config";

/** Key of the sealed copy of config (encrypted vaults of format 2), which authenticates it. */
export const CONFIG_SEAL_KEY = "config.sealed";

/**
 * True for keys a reader only loads because the vault named them (packs named by the index,
 * index files and recovery points named by a listing): such a load that finds nothing is
 * retried a little (storage/retry.ts mustExist), as some S3-compatible stores are not
 * read-after-write consistent.
 */
export function namedByVault(key: string): boolean {
  return key.startsWith("packs/") || key.startsWith("index/") || key.startsWith("rps/");
}

/** Key of a pack. */
export function packKey(packId: string): string {
  return `packs/${packId.slice(0, 2)}/${packId}`;
}

/** Key of an object of a flat kind (index, rps, locks, keys). */
export function objectKey(kind: "index" | "rps" | "lifecycle" | "locks" | "keys" | "vault-lock", id: string): string {
  return `${kind}/${id}`;
}

/** Key of one state record of a job. */
export function jobKey(jobId: string, seq: number): string {
  return `jobs/${jobId}/${seq.toString().padStart(4, "0")}`;
}

/**
 * Key of a lease on a resource. The resource name is encoded to a safe key segment; with the
 * vault's id key (encrypted vaults) it is a keyed hash instead, so the name stays secret.
 */
export function leaseKey(resource: string, id: string, options: { key?: Uint8Array | null } = {}): string {
  return `${leasePrefix(resource, options.key)}${id}`;
}

/** The folder holding all leases of a resource (see leaseKey for `key`). */
export function leasePrefix(resource: string, key?: Uint8Array | null): string {
  return `leases/${leasePrefixSegment(resource, key)}/`;
}

function leasePrefixSegment(resource: string, key?: Uint8Array | null): string {
  if (key) return createHmac("sha256", key).update(`efsbak lease/${resource}`).digest("hex").slice(0, 32);
  return Buffer.from(resource, "utf8").toString("base64url") || "_";
}

/** What a due mark is about: one scheduled occurrence of a rule (or restore test) for a resource. */
export interface DueSlot {
  type: string;
  plan: string | null;
  rule: string;
  resource: string;
}

/**
 * Key of the due mark of an occurrence (see the table above). The slot is a hash, so names of
 * any length and character fit; with the vault's id key (encrypted vaults) it reveals nothing.
 */
export function dueKey(slot: DueSlot, occurrenceMs: number, key?: Uint8Array | null): string {
  const text = `efsbak due/${slot.type}\0${slot.plan ?? ""}\0${slot.rule}\0${slot.resource}`;
  const hash = key ? createHmac("sha256", key).update(text).digest("hex") : createHash("sha256").update(text).digest("hex");
  return `due/${hash.slice(0, 32)}/${Math.max(0, occurrenceMs).toString(16).padStart(12, "0")}`;
}

/** The id part of a key (last segment). */
export function idOfKey(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1);
}
