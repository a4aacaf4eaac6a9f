/** Loading many small JSON objects (recovery points, job records, lifecycle marks) at once. */
import { VaultDamageError } from "../errors.ts";
import { NotFoundError } from "../storage/storage.ts";
import type { Vault } from "./vault.ts";

const CONCURRENCY = 8;

/**
 * Loads the objects at `keys`, CONCURRENCY at a time, in no particular order. An object that
 * vanished meanwhile (a concurrent prune) is skipped; a damaged one goes to onDamage when
 * given, else throws.
 */
export async function loadJsonObjects<T>(vault: Pick<Vault, "loadJson">, keys: string[], options: { onDamage?: (err: VaultDamageError) => void } = {}): Promise<T[]> {
  const out: T[] = [];
  const queue = keys.slice();
  async function worker() {
    for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
      try {
        out.push(await vault.loadJson<T>(key));
      } catch (err) {
        if (err instanceof NotFoundError) continue;
        if (err instanceof VaultDamageError && options.onDamage) options.onDamage(err);
        else throw err;
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return out;
}
