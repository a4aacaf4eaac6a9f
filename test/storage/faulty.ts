/**
 * faulty(storage): a Storage that injects faults, for tests of retries, check and restore.
 *
 *   const f = faulty(memoryStorage());
 *   f.on("load", { nth: 3, error: "transient" });          // the 3rd load fails once
 *   f.on("save", { key: /^packs\//, times: 2, error: "transient" });
 *   f.on("load", { key: "data/ab", flipBit: true });        // every load of it is corrupt
 *   const s = withRetry(f, { sleep: async () => {} });      // faulty under withRetry
 *
 * A rule counts the calls of its op whose key matches; it hits calls nth … nth+times-1
 * (nth default 1; times default 1 when nth is given, else every call), each with probability
 * `rate` (seeded PRNG). A hit applies, in order: delayMs, then error | flipBit | truncate.
 * Rules are checked in the order added; every hitting rule applies.
 */
import { NotFoundError, StorageError, type ByteRange, type ObjectInfo, type Storage, type ListOptions } from "../../src/storage/storage.ts";
import { rng } from "../support/random.ts";

/** The operations a rule can target. */
export type FaultOp = "save" | "load" | "stat" | "list" | "remove";

/** One fault rule; see the file comment for counting. */
export interface FaultRule {
  /** 1-based number of the matching call to hit first; default every call. */
  nth?: number;
  /** How many matching calls to hit from nth on. */
  times?: number;
  /** Only calls on this key (list: this prefix), or keys matching this pattern. */
  key?: string | RegExp;
  /** Hit a matching call with this probability (0..1), from a seeded PRNG. */
  rate?: number;
  /** transient: StorageError{permanent:false}; permanent: {permanent:true}; notfound: NotFoundError (stat: null, list: nothing). */
  error?: "transient" | "permanent" | "notfound";
  /** load: flip one bit of the returned bytes; save: of the stored bytes. */
  flipBit?: boolean;
  /** load: return only the first N bytes; save: store only the first N. */
  truncate?: number;
  /** Wait this long before the call (through the injected sleep). */
  delayMs?: number;
  /** list only: fail (with `error`) after yielding this many objects instead of at the start. */
  afterItems?: number;
}

/** A storage with fault rules and call counters. */
export interface FaultyStorage extends Storage {
  /** Adds a rule; returns the storage for chaining. */
  on(op: FaultOp, rule: FaultRule): FaultyStorage;
  /** Removes every rule (counters stay). */
  clear(): FaultyStorage;
  /** Calls per operation, counted on entry. */
  readonly calls: Record<FaultOp, number>;
  /** Faults injected per operation. */
  readonly hits: Record<FaultOp, number>;
}

interface ActiveRule extends FaultRule {
  op: FaultOp;
  seen: number;
  hit: number;
}

/** Wraps storage with injectable faults. */
export function faulty(storage: Storage, options: { seed?: number; sleep?: (ms: number) => Promise<void> } = {}): FaultyStorage {
  const rules: ActiveRule[] = [];
  const calls: Record<FaultOp, number> = { save: 0, load: 0, stat: 0, list: 0, remove: 0 };
  const hits: Record<FaultOp, number> = { save: 0, load: 0, stat: 0, list: 0, remove: 0 };
  const random = rng(options.seed ?? 1);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const location = storage.location;

  function keyMatches(rule: FaultRule, key: string): boolean {
    if (rule.key === undefined) return true;
    return typeof rule.key === "string" ? rule.key === key : rule.key.test(key);
  }

  /** The rules that hit this call, counters advanced. */
  function hitting(op: FaultOp, key: string): ActiveRule[] {
    calls[op]++;
    const out: ActiveRule[] = [];
    for (const r of rules) {
      if (r.op !== op || !keyMatches(r, key)) continue;
      r.seen++;
      const first = r.nth ?? 1;
      const times = r.times ?? (r.nth !== undefined ? 1 : Infinity);
      if (r.seen < first || r.hit >= times) continue;
      if (r.rate !== undefined && random() >= r.rate) continue;
      r.hit++;
      out.push(r);
    }
    if (out.length > 0) hits[op]++;
    return out;
  }

  function errorOf(kind: NonNullable<FaultRule["error"]>, op: FaultOp, key: string): Error {
    if (kind === "notfound") return new NotFoundError(key, location);
    return new StorageError(`Cannot ${op} "${key}" in "${location}": injected ${kind} fault`, { permanent: kind === "permanent", key });
  }

  function flip(data: Uint8Array): Uint8Array {
    if (data.length === 0) return data;
    const out = data.slice();
    const bit = Math.floor(random() * out.length * 8);
    out[bit >> 3]! ^= 1 << (bit & 7);
    return out;
  }

  function mangle(rs: ActiveRule[], data: Uint8Array): Uint8Array {
    let out = data;
    for (const r of rs) {
      if (r.truncate !== undefined) out = out.slice(0, Math.max(0, r.truncate));
      if (r.flipBit) out = flip(out);
    }
    return out;
  }

  async function before(op: FaultOp, key: string, rs: ActiveRule[]): Promise<void> {
    for (const r of rs) if (r.delayMs) await sleep(r.delayMs);
    for (const r of rs) {
      if (r.error && !(op === "list" && r.afterItems !== undefined)) throw errorOf(r.error, op, key);
    }
  }

  const self: FaultyStorage = {
    location,
    calls,
    hits,
    on(op: FaultOp, rule: FaultRule) {
      rules.push({ ...rule, op, seen: 0, hit: 0 });
      return self;
    },
    clear() {
      rules.length = 0;
      return self;
    },
    async save(key: string, data: Uint8Array) {
      const rs = hitting("save", key);
      await before("save", key, rs);
      await storage.save(key, mangle(rs, data));
    },
    async load(key: string, range?: ByteRange) {
      const rs = hitting("load", key);
      await before("load", key, rs);
      return mangle(rs, await storage.load(key, range));
    },
    async stat(key: string) {
      const rs = hitting("stat", key);
      if (rs.some((r) => r.error === "notfound")) {
        for (const r of rs) if (r.delayMs) await sleep(r.delayMs);
        return null;
      }
      await before("stat", key, rs);
      return storage.stat(key);
    },
    async *list(prefix: string, options?: ListOptions): AsyncGenerator<ObjectInfo> {
      const rs = hitting("list", prefix);
      if (rs.some((r) => r.error === "notfound" && r.afterItems === undefined)) return;
      await before("list", prefix, rs);
      const late = rs.filter((r) => r.error && r.afterItems !== undefined);
      const failAt = late.length ? Math.min(...late.map((r) => r.afterItems!)) : Infinity;
      let n = 0;
      for await (const info of storage.list(prefix, options)) {
        if (n === failAt) throw errorOf(late.find((r) => r.afterItems === failAt)!.error!, "list", prefix);
        n++;
        yield info;
      }
      if (n === failAt) throw errorOf(late.find((r) => r.afterItems === failAt)!.error!, "list", prefix);
    },
    async remove(key: string) {
      const rs = hitting("remove", key);
      await before("remove", key, rs);
      await storage.remove(key);
    },
  };
  return self;
}

