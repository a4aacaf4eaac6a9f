/**
 * The vaults a console shows, opened lazily and kept open. One vault failing to open (damaged,
 * unreachable, wrong password) never hides the others: the failure is kept and shown, and the
 * next request tries again.
 *
 * An open vault's blob index is as old as its opening; before reading blobs (browse, download,
 * restore) `fresh` lists index/ and reopens when another process added or replaced index files,
 * so recovery points made while the console runs can be browsed too. Keys stay on the server:
 * an encrypted vault is unlocked by the opener (from the environment), never by the page.
 */
import type { VaultDamageError } from "../errors.ts";
import type { Vault } from "../vault/vault.ts";

/** Opens one vault by name (the CLI's opener: same plans, same password sources). */
export type VaultOpener = (name: string, options: { onIndexDamage: (err: VaultDamageError) => void }) => Promise<Vault>;

/** A vault the console knows of. */
export interface VaultInfo {
  name: string;
  /** Where it lives, for people (never credentials). */
  location: string;
}

/** Open vaults, by name. */
export interface VaultSet {
  readonly vaults: readonly VaultInfo[];
  /** The open vault (opened on first use); throws what opening threw. */
  get(name: string): Promise<Vault>;
  /** As get, reopened first if its index files changed since it was opened. */
  fresh(name: string): Promise<Vault>;
  /** Damaged index files skipped when the vault was last opened. */
  indexProblems(name: string): string[];
}

interface Entry {
  vault: Promise<Vault> | null;
  problems: string[];
  /** index/ keys listed just before the vault was opened. */
  seen: string[];
}

/** A set of vaults opened on demand. */
export function createVaultSet(vaults: VaultInfo[], open: VaultOpener): VaultSet {
  const entries = new Map<string, Entry>(vaults.map((v) => [v.name, { vault: null, problems: [], seen: [] }]));

  function entry(name: string): Entry {
    const e = entries.get(name);
    if (!e) throw new UnknownVaultError(name);
    return e;
  }

  function openInto(e: Entry, name: string, seen: string[] | null): Promise<Vault> {
    const problems: string[] = [];
    const p = open(name, { onIndexDamage: (err) => problems.push(err.message) }).then(async (v) => {
      e.problems = problems;
      // A reopening lists before it opens (a file added meanwhile only makes the next `fresh`
      // reopen once more); the first opening lists after, as storage is known only then.
      e.seen = seen ?? (await indexKeys(v));
      return v;
    });
    e.vault = p;
    // A failed opening is not kept: the next request tries again.
    p.catch(() => {
      if (e.vault === p) e.vault = null;
    });
    return p;
  }

  return {
    vaults,
    get(name) {
      const e = entry(name);
      return e.vault ?? openInto(e, name, null);
    },
    async fresh(name) {
      const e = entry(name);
      const vault = await (e.vault ?? openInto(e, name, null));
      const now = await indexKeys(vault);
      const known = new Set(e.seen);
      const changed = now.length !== known.size || now.some((k) => !known.has(k));
      return changed ? openInto(e, name, now) : vault;
    },
    indexProblems(name) {
      return entry(name).problems;
    },
  };
}

async function indexKeys(vault: Vault): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of vault.storage.list("index/")) keys.push(o.key);
  return keys;
}

/** A request named a vault the console does not show. */
export class UnknownVaultError extends Error {
  constructor(name: string) {
    super(`Cannot find vault "${name}" in this console`);
  }
}
