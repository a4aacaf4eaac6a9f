/** Looking into a storage from tests. */
import type { Storage } from "../../src/storage/storage.ts";

/** Every key under prefix, sorted (list() promises no order). */
export async function listKeys(storage: Pick<Storage, "list">, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of storage.list(prefix)) out.push(o.key);
  return out.sort();
}
