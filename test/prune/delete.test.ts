/** Manual deletion against the vault lock, pure: deletable now, or refused until created_at + min_retention. */
import { describe, expect, test } from "bun:test";
import { planDelete } from "../../src/prune/delete.ts";
import { fakeRecoveryPoint } from "../support/vault.ts";

const DAY = 86_400_000;

describe("planDelete", () => {
  const rp = fakeRecoveryPoint("t", { id: "r1", created_at: "2026-01-01T00:00:00.000Z" });
  const cases = [
    { name: "no lock: deletable", now: "2026-01-01T00:00:01Z", lock: undefined, until: null },
    { name: "max_retention alone does not refuse", now: "2026-01-01T00:00:01Z", lock: { maxRetentionMs: DAY }, until: null },
    { name: "younger than min_retention: refused with the date", now: "2026-01-05T23:59:59Z", lock: { minRetentionMs: 5 * DAY }, until: "2026-01-06T00:00:00.000Z" },
    { name: "exactly min_retention old: deletable", now: "2026-01-06T00:00:00Z", lock: { minRetentionMs: 5 * DAY }, until: null },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const [d] = planDelete([rp], { now: new Date(c.now), lock: c.lock });
      expect(d!.action).toBe(c.until ? "refused" : "delete");
      expect(d!.deletable_at).toBe(c.until);
    });
  }
});
