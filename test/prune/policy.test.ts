/**
 * planLifecycle (prune/policy.ts), the pure decision of which recovery points are deleted,
 * kept EXPIRED by the vault lock, or moved to the cold tier: table-driven cases at the
 * boundaries, the vault lock as prune applies it (the stronger of the vault's and the plans'),
 * and a golden plan for a fixture vault (UPDATE_GOLDEN=1 rewrites it).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type LifecycleDecision, type VaultLock, planLifecycle } from "../../src/prune/policy.ts";
import { strongerLock } from "../../src/vault/vault-lock.ts";
import type { RecoveryPoint } from "../../src/vault/recovery-point.ts";
import { golden, readFixture } from "../support/golden.ts";
import { fakeRecoveryPoint } from "../support/vault.ts";

const DAY = 86_400_000;
const T0 = "2026-01-01T00:00:00.000Z";

/** A recovery point created at T0 + createdDays, with dates given in days after T0. */
function rp(id: string, dates: { created?: number; cold?: number; delete?: number } = {}): RecoveryPoint {
  const at = (days: number | undefined) => (days === undefined ? null : new Date(Date.parse(T0) + days * DAY).toISOString());
  return fakeRecoveryPoint("tree", { id, resource: "data", created_at: at(dates.created ?? 0)!, cold_at: at(dates.cold), delete_at: at(dates.delete) });
}

function plan(rps: RecoveryPoint[], nowDays: number, options: { lock?: VaultLock; cold?: string[] } = {}): LifecycleDecision[] {
  return planLifecycle(rps, { now: new Date(Date.parse(T0) + nowDays * DAY), lock: options.lock, cold: new Set(options.cold ?? []) });
}

const MS = 1 / DAY; // one millisecond, in days

describe("planLifecycle: one recovery point at a time", () => {
  const cases: { name: string; rp: RecoveryPoint; now: number; lock?: VaultLock; cold?: string[]; action: LifecycleDecision["action"] | null }[] = [
    { name: "no dates, no lock: left out", rp: rp("a"), now: 1000, action: null },
    { name: "delete_at in the future: left out", rp: rp("a", { delete: 30 }), now: 30 - MS, action: null },
    { name: "delete_at reached to the millisecond: delete", rp: rp("a", { delete: 30 }), now: 30, action: "delete" },
    { name: "delete_at passed: delete", rp: rp("a", { delete: 30 }), now: 31, action: "delete" },
    { name: "cold_at not reached: left out", rp: rp("a", { cold: 7 }), now: 7 - MS, action: null },
    { name: "cold_at reached: cold", rp: rp("a", { cold: 7 }), now: 7, action: "cold" },
    { name: "cold_at reached but already cold: left out", rp: rp("a", { cold: 7 }), now: 8, cold: ["a"], action: null },
    { name: "cold_at and delete_at both reached: delete wins", rp: rp("a", { cold: 7, delete: 30 }), now: 30, action: "delete" },
    { name: "already cold and delete_at reached: delete", rp: rp("a", { cold: 7, delete: 100 }), now: 100, cold: ["a"], action: "delete" },
    { name: "min_retention keeps a recovery point past delete_at: expired", rp: rp("a", { delete: 2 }), now: 3, lock: { minRetentionMs: 5 * DAY }, action: "expired" },
    { name: "min_retention one millisecond short: still expired", rp: rp("a", { delete: 2 }), now: 5 - MS, lock: { minRetentionMs: 5 * DAY }, action: "expired" },
    { name: "min_retention reached to the millisecond: delete", rp: rp("a", { delete: 2 }), now: 5, lock: { minRetentionMs: 5 * DAY }, action: "delete" },
    { name: "min_retention alone deletes nothing", rp: rp("a"), now: 1000, lock: { minRetentionMs: 5 * DAY }, action: null },
    { name: "min_retention does not hold back cold", rp: rp("a", { cold: 1, delete: 2 }), now: 1, lock: { minRetentionMs: 5 * DAY }, action: "cold" },
    { name: "min_retention keeps an expired point warm: expired, not cold", rp: rp("a", { cold: 1, delete: 2 }), now: 3, lock: { minRetentionMs: 5 * DAY }, action: "expired" },
    { name: "younger than max_retention: left out", rp: rp("a"), now: 60 - MS, lock: { maxRetentionMs: 60 * DAY }, action: null },
    { name: "max_retention reached to the millisecond: delete without a delete_at", rp: rp("a"), now: 60, lock: { maxRetentionMs: 60 * DAY }, action: "delete" },
    { name: "max_retention overrides a later delete_at", rp: rp("a", { delete: 365 }), now: 61, lock: { maxRetentionMs: 60 * DAY }, action: "delete" },
    { name: "max_retention deletes rather than moving to cold", rp: rp("a", { cold: 7 }), now: 61, lock: { maxRetentionMs: 60 * DAY }, action: "delete" },
    { name: "age counts from created_at, not from now", rp: rp("a", { created: 10, delete: 12 }), now: 14, lock: { minRetentionMs: 5 * DAY }, action: "expired" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const out = plan([c.rp], c.now, { lock: c.lock, cold: c.cold });
      if (c.action === null) expect(out).toEqual([]);
      else {
        expect(out.map((d) => [d.rp, d.action])).toEqual([["a", c.action]]);
        expect(out[0].resource).toBe("data");
      }
    });
  }

  test("an expired decision says when the lock lets it go", () => {
    const [d] = plan([rp("a", { created: 1, delete: 2 })], 3, { lock: { minRetentionMs: 5 * DAY } });
    expect(d.reason).toContain("until 2026-01-07T00:00:00.000Z");
  });

  test("recovery points keep their order, and those needing nothing are left out", () => {
    const out = plan([rp("c", { delete: 1 }), rp("b"), rp("a", { cold: 1 })], 2);
    expect(out.map((d) => `${d.rp}:${d.action}`)).toEqual(["c:delete", "a:cold"]);
  });
});

describe("planLifecycle under the vault lock prune applies (strongerLock of vault and plans)", () => {
  // The recovery point: created at T0, delete_at T0+10d unless `deleteAt` says (null: none), planned at T0+20d.
  const cases: { name: string; vault?: VaultLock; plans?: VaultLock; deleteAt?: null; action: LifecycleDecision["action"] | null }[] = [
    { name: "no lock: delete", action: "delete" },
    { name: "the vault's min_retention binds a prune whose plans have none", vault: { minRetentionMs: 30 * DAY }, action: "expired" },
    { name: "the plans cannot shorten the vault's min_retention", vault: { minRetentionMs: 30 * DAY }, plans: { minRetentionMs: DAY }, action: "expired" },
    { name: "the plans may lengthen min_retention", vault: { minRetentionMs: DAY }, plans: { minRetentionMs: 30 * DAY }, action: "expired" },
    { name: "the vault's max_retention alone keeps a point without delete_at", vault: { maxRetentionMs: 400 * DAY }, deleteAt: null, action: null },
    { name: "the shorter max_retention wins", vault: { maxRetentionMs: 400 * DAY }, plans: { maxRetentionMs: 15 * DAY }, deleteAt: null, action: "delete" },
    { name: "the plans cannot lengthen the vault's max_retention", vault: { maxRetentionMs: 15 * DAY }, plans: { maxRetentionMs: 400 * DAY }, deleteAt: null, action: "delete" },
    { name: "crossed bounds: max_retention gives way to min_retention", vault: { minRetentionMs: 30 * DAY }, plans: { maxRetentionMs: 15 * DAY }, action: "expired" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const lock = strongerLock(c.vault, c.plans);
      const out = plan([rp("a", { delete: c.deleteAt === null ? undefined : 10 })], 20, { lock });
      expect(out.map((d) => d.action)).toEqual(c.action === null ? [] : [c.action]);
    });
  }

  test("crossed bounds never delete by max_retention what min_retention protects", () => {
    const lock = strongerLock({ minRetentionMs: 30 * DAY }, { maxRetentionMs: 15 * DAY })!;
    expect(lock).toEqual({ minRetentionMs: 30 * DAY, maxRetentionMs: 30 * DAY });
    expect(plan([rp("a")], 29, { lock })).toEqual([]);
    expect(plan([rp("a")], 30, { lock }).map((d) => d.action)).toEqual(["delete"]);
  });
});

/** The golden fixture: a vault's recovery points, the lock, the cold marks and the plan clock. */
interface PolicyFixture {
  now: string;
  lock: { min_retention_days?: number; max_retention_days?: number };
  cold: string[];
  rps: { id: string; resource: string; created_at: string; cold_at: string | null; delete_at: string | null }[];
}

describe("planLifecycle golden", () => {
  for (const name of ["policy-daily", "policy-mixed"]) {
    test(`${name}: the plan is exactly golden/${name}.plan.json`, () => {
      const fx = readFixture<PolicyFixture>(join(import.meta.dir, "golden", `${name}.input.json`));
      const lock: VaultLock = {};
      if (fx.lock.min_retention_days !== undefined) lock.minRetentionMs = fx.lock.min_retention_days * DAY;
      if (fx.lock.max_retention_days !== undefined) lock.maxRetentionMs = fx.lock.max_retention_days * DAY;
      const rps = fx.rps.map((r) => fakeRecoveryPoint("tree", r));
      const decisions = planLifecycle(rps, { now: new Date(fx.now), lock, cold: new Set(fx.cold) });
      const { expected, actual } = golden(join(import.meta.dir, "golden", `${name}.plan.json`), decisions);
      expect(actual).toBe(expected);
    });
  }
});
