/**
 * planGc (prune/gc.ts), the pure decision of which packs are deleted, repacked or kept: a
 * hand-built index and reference sets, table-driven cases at every boundary (no live blob,
 * the REPACK_BELOW share, cold-only data in warm packs, cold packs, duplicates, the safety
 * age), and a golden plan for a fixture vault (UPDATE_GOLDEN=1 rewrites it).
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type GcPlan, REPACK_BELOW, planGc } from "../../src/prune/gc.ts";
import type { References } from "../../src/prune/references.ts";
import { BlobIndex, type Tier } from "../../src/vault/blob-index.ts";
import { toHex } from "../../src/vault/id.ts";
import { BLOB_DATA, BLOB_TREE } from "../../src/vault/pack.ts";
import { golden, readFixture } from "../support/golden.ts";

const HOUR = 3_600_000;
/** The default safety age (prune/lifecycle.ts GC_MIN_PACK_AGE_MS). */
const MIN_AGE = HOUR;

/** A pack of the fixture: blobs by name, in the order they are indexed. */
interface FixturePack {
  id: string;
  tier: Tier;
  size: number;
  /** Age by storage time; null when the listing does not show the pack. */
  age_ms: number | null;
  blobs: { name: string; type: "data" | "tree"; stored: number }[];
}

/** A vault as planGc sees it: the index, the references, and the ages storage reports. */
interface GcFixture {
  min_age_ms: number;
  packs: FixturePack[];
  /** Packs in storage that no index names (an interrupted backup's): only their ages are known. */
  unindexed: { id: string; age_ms: number }[];
  refs: { warm: string[]; cold: string[]; trees: string[] };
}

/** A blob id for a readable name (a BLAKE3-like uniform 32 bytes). */
function blobId(name: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(name).digest());
}

function runPlan(fx: GcFixture): GcPlan {
  const index = new BlobIndex();
  for (const p of fx.packs) {
    const no = index.addPack(p.id, p.tier, p.size);
    let offset = 0;
    for (const b of p.blobs) {
      index.add(no, { type: b.type === "tree" ? BLOB_TREE : BLOB_DATA, compressed: false, rawLength: b.stored, storedLength: b.stored, crc: 0, id: blobId(b.name), offset });
      offset += b.stored;
    }
  }
  const hexes = (names: string[]) => new Set(names.map((n) => toHex(blobId(n))));
  const refs: References = { warm: hexes(fx.refs.warm), cold: hexes(fx.refs.cold), trees: hexes(fx.refs.trees) };
  const ages = new Map<string, number>();
  for (const p of fx.packs) if (p.age_ms !== null) ages.set(p.id, p.age_ms);
  for (const u of fx.unindexed) ages.set(u.id, u.age_ms);
  return planGc(index, refs, { packAgeMs: (id) => ages.get(id), minAgeMs: fx.min_age_ms });
}

/** One pack of 1000 bytes holding the given blobs, old enough to collect. */
function pack(id: string, blobs: [name: string, stored: number, type?: "tree"][], extra: Partial<FixturePack> = {}): FixturePack {
  return { id, tier: "warm", size: 1000, age_ms: 2 * HOUR, blobs: blobs.map(([name, stored, type]) => ({ name, stored, type: type ?? "data" })), ...extra };
}

function fixture(packs: FixturePack[], refs: Partial<GcFixture["refs"]> = {}, extra: Partial<GcFixture> = {}): GcFixture {
  return { min_age_ms: MIN_AGE, packs, unindexed: [], refs: { warm: [], cold: [], trees: [], ...refs }, ...extra };
}

/** The plan, in short: which packs go and which are repacked, and the totals. */
function summary(plan: GcPlan) {
  return {
    delete: plan.deletePacks.map((p) => p.packId),
    repack: plan.repackPacks.map((p) => p.packId),
    kept: plan.keptPacks,
    reclaimed: plan.bytesReclaimed,
    toCold: plan.toCold,
  };
}

describe("planGc: pack by pack", () => {
  const cases: { name: string; fx: GcFixture; expect: ReturnType<typeof summary> }[] = [
    {
      name: "a pack no recovery point uses is deleted whole",
      fx: fixture([pack("p", [["a", 400], ["b", 500]])]),
      expect: { delete: ["p"], repack: [], kept: 0, reclaimed: 1000, toCold: 0 },
    },
    {
      name: "a wholly used warm pack is kept",
      fx: fixture([pack("p", [["a", 400], ["b", 500]])], { warm: ["a", "b"] }),
      expect: { delete: [], repack: [], kept: 1, reclaimed: 0, toCold: 0 },
    },
    {
      name: "a warm pack used below REPACK_BELOW is repacked; the dead share is reclaimed",
      fx: fixture([pack("p", [["a", 400], ["b", 500]])], { warm: ["a"] }),
      expect: { delete: [], repack: ["p"], kept: 0, reclaimed: 600, toCold: 0 },
    },
    {
      name: "a warm pack used exactly at REPACK_BELOW is kept",
      fx: fixture([pack("p", [["a", REPACK_BELOW * 1000], ["b", 50]])], { warm: ["a"] }),
      expect: { delete: [], repack: [], kept: 1, reclaimed: 0, toCold: 0 },
    },
    {
      name: "a warm pack used one byte below REPACK_BELOW is repacked",
      fx: fixture([pack("p", [["a", REPACK_BELOW * 1000 - 1], ["b", 50]])], { warm: ["a"] }),
      expect: { delete: [], repack: ["p"], kept: 0, reclaimed: 101, toCold: 0 },
    },
    {
      name: "a warm pack holding data only cold recovery points use is repacked to the cold tier, however full",
      fx: fixture([pack("p", [["a", 500], ["b", 500]])], { warm: ["a"], cold: ["b"] }),
      expect: { delete: [], repack: ["p"], kept: 0, reclaimed: 0, toCold: 1 },
    },
    {
      name: "a warm pack of cold-only data counts every cold blob",
      fx: fixture([pack("p", [["a", 300], ["b", 300], ["c", 300]])], { cold: ["a", "b"] }),
      expect: { delete: [], repack: ["p"], kept: 0, reclaimed: 400, toCold: 2 },
    },
    {
      name: "a cold pack with dead blobs is never repacked",
      fx: fixture([pack("p", [["a", 100], ["b", 800]], { tier: "cold" })], { cold: ["a"] }),
      expect: { delete: [], repack: [], kept: 1, reclaimed: 0, toCold: 0 },
    },
    {
      name: "a cold pack whose data warm recovery points use again stays cold",
      fx: fixture([pack("p", [["a", 900]], { tier: "cold" })], { warm: ["a"] }),
      expect: { delete: [], repack: [], kept: 1, reclaimed: 0, toCold: 0 },
    },
    {
      name: "a wholly dead cold pack is deleted",
      fx: fixture([pack("p", [["a", 900]], { tier: "cold" })]),
      expect: { delete: ["p"], repack: [], kept: 0, reclaimed: 1000, toCold: 0 },
    },
    {
      name: "a tree blob is live only when a recovery point reaches it",
      fx: fixture([pack("t1", [["t", 950, "tree"]]), pack("t2", [["u", 950, "tree"]])], { trees: ["t"] }),
      expect: { delete: ["t2"], repack: [], kept: 1, reclaimed: 1000, toCold: 0 },
    },
    {
      name: "a tree id among the data references does not keep the tree",
      fx: fixture([pack("t1", [["t", 950, "tree"]])], { warm: ["t"], cold: ["t"] }),
      expect: { delete: ["t1"], repack: [], kept: 0, reclaimed: 1000, toCold: 0 },
    },
    {
      name: "a data id among the tree references does not keep the data",
      fx: fixture([pack("p", [["a", 950]])], { trees: ["a"] }),
      expect: { delete: ["p"], repack: [], kept: 0, reclaimed: 1000, toCold: 0 },
    },
    {
      name: "a pack holding only copies indexed in an earlier pack is deleted, the first copy kept",
      fx: fixture([pack("first", [["a", 950]]), pack("copy", [["a", 950]])], { warm: ["a"] }),
      expect: { delete: ["copy"], repack: [], kept: 1, reclaimed: 1000, toCold: 0 },
    },
    {
      name: "a dead pack younger than the safety age is kept",
      fx: fixture([pack("p", [["a", 950]], { age_ms: MIN_AGE - 1 })]),
      expect: { delete: [], repack: [], kept: 1, reclaimed: 0, toCold: 0 },
    },
    {
      name: "a dead pack exactly the safety age old is deleted",
      fx: fixture([pack("p", [["a", 950]], { age_ms: MIN_AGE })]),
      expect: { delete: ["p"], repack: [], kept: 0, reclaimed: 1000, toCold: 0 },
    },
    {
      name: "a young partly used pack is not repacked",
      fx: fixture([pack("p", [["a", 100], ["b", 800]], { age_ms: 0 })], { warm: ["a"] }),
      expect: { delete: [], repack: [], kept: 1, reclaimed: 0, toCold: 0 },
    },
    {
      name: "a young warm pack of cold-only data is not repacked",
      fx: fixture([pack("p", [["a", 900]], { age_ms: 10_000 })], { cold: ["a"] }),
      expect: { delete: [], repack: [], kept: 1, reclaimed: 0, toCold: 0 },
    },
    {
      name: "a pack storage does not list (age unknown) is not protected",
      fx: fixture([pack("p", [["a", 950]], { age_ms: null })]),
      expect: { delete: ["p"], repack: [], kept: 0, reclaimed: 1000, toCold: 0 },
    },
    {
      name: "a safety age of 0 collects a pack written just now",
      fx: fixture([pack("p", [["a", 950]], { age_ms: 0 })], {}, { min_age_ms: 0 }),
      expect: { delete: ["p"], repack: [], kept: 0, reclaimed: 1000, toCold: 0 },
    },
    {
      name: "packs no index names are never in the plan, young or old",
      fx: fixture([pack("p", [["a", 950]])], { warm: ["a"] }, { unindexed: [{ id: "young", age_ms: 0 }, { id: "old", age_ms: 1000 * HOUR }] }),
      expect: { delete: [], repack: [], kept: 1, reclaimed: 0, toCold: 0 },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(summary(runPlan(c.fx))).toEqual(c.expect);
    });
  }

  test("blob counts and reasons", () => {
    const plan = runPlan(fixture([pack("dead", [["a", 500]]), pack("part", [["b", 100], ["c", 100]]), pack("coldish", [["d", 950]])], { warm: ["b"], cold: ["d"] }));
    expect([plan.liveBlobs, plan.deadBlobs]).toEqual([2, 2]);
    expect(plan.deletePacks.map((p) => p.reason)).toEqual(["no recovery point uses it"]);
    expect(plan.repackPacks.map((p) => [p.packId, p.liveBlobs, p.liveBytes, p.reason])).toEqual([
      ["part", 1, 100, "only 10% of it is in use"],
      ["coldish", 1, 950, "1 blobs are used only by cold recovery points"],
    ]);
  });

  test("a young pack still counts its dead blobs", () => {
    const plan = runPlan(fixture([pack("p", [["a", 500], ["b", 400]], { age_ms: 0 })], { warm: ["a"] }));
    expect([plan.liveBlobs, plan.deadBlobs, plan.keptPacks]).toEqual([1, 1, 1]);
  });
});

describe("planGc golden", () => {
  test("gc-vault: the plan is exactly golden/gc-vault.plan.json", () => {
    const fx = readFixture<GcFixture>(join(import.meta.dir, "golden", "gc-vault.input.json"));
    const { expected, actual } = golden(join(import.meta.dir, "golden", "gc-vault.plan.json"), runPlan(fx));
    expect(actual).toBe(expected);
  });
});
