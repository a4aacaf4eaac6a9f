/**
 * copy_actions through `run` (compiled binary): a rule's new recovery point goes into the
 * offsite vault with the action's lifecycle, as a COPY job in both vaults; the offsite vault
 * is encrypted and its password comes from its table's `password_file`. Validation names the
 * file, line and column of a bad copy action.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { bytes, snapshotTree } from "../support/tree.ts";
import { nightlyPlan, planWorkdir } from "../support/plans.ts";

let work: string;
const env = { EFSBAK_TEST_KDF: "cheap" };

const PLAN = `
[vaults.main]
url = "./main"

[vaults.offsite]
url = "./offsite"
encryption = "aes-256-gcm"
password_file = "offsite.pw"

[[resources]]
id = "home"
path = "data/home"
${nightlyPlan({ rule: [`start_window = "2h"`, `vault = "main"`, `lifecycle = { delete_after = "7d" }`, `copy_actions = [{ vault = "offsite", lifecycle = { delete_after = "365d" } }]`], selection: [`name = "all"`, `resources = ["home"]`] })}`;

async function efsbak(argv: string[], extra: Record<string, string> = {}) {
  return runBinary(argv, { cwd: work, env: { ...env, ...extra } });
}

beforeAll(() => {
  ensureBinary();
  work = planWorkdir("efsbak-copy-actions-", { "nightly.toml": PLAN });
  mkdirSync(join(work, "data/home/sub"), { recursive: true });
  writeFileSync(join(work, "data/home/a.txt"), "alpha\n");
  writeFileSync(join(work, "data/home/sub/big"), bytes(2 * 1024 * 1024, 3));
  writeFileSync(join(work, "offsite.pw"), "offsite-secret\n");
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("copy_actions", () => {
  test("validate accepts them", async () => {
    const r = await efsbak(["validate", "plans"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test("run copies the new recovery point into the offsite vault with its own lifecycle", async () => {
    const init = await efsbak(["vault", "init", "./offsite", "--encryption", "aes-256-gcm"], { EFSBAK_PASSWORD: "offsite-secret" });
    expect(init.code).toBe(0);
    const r = await efsbak(["run", "plans", "--now", "2026-03-01T05:30:00Z", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.jobs.map((j: { type: string; state: string; vault: string }) => [j.type, j.vault, j.state])).toEqual([
      ["backup", "main", "COMPLETED"],
      ["copy", "offsite", "COMPLETED"],
    ]);
    const main = JSON.parse((await efsbak(["recovery-points", "--vault", "main", "--json"])).stdout).recovery_points;
    const off = JSON.parse((await efsbak(["recovery-points", "--vault", "offsite", "--json"], { EFSBAK_PASSWORD: "offsite-secret" })).stdout).recovery_points;
    expect(off.map((p: { id: string }) => p.id)).toEqual(main.map((p: { id: string }) => p.id));
    expect(main[0].delete_at).toMatch(/^2026-03-08T05:30/);
    expect(off[0].delete_at).toMatch(/^2027-03-01T05:30/);
    const jobs = JSON.parse((await efsbak(["jobs", "--vault", "main", "--type", "copy", "--json"])).stdout).jobs;
    expect(jobs.map((j: { state: string }) => j.state)).toEqual(["COMPLETED"]);
    const target = join(work, "out");
    mkdirSync(target);
    expect((await efsbak(["restore", "latest", "--vault", "offsite", "--target", target], { EFSBAK_PASSWORD: "offsite-secret" })).code).toBe(0);
    expect(snapshotTree(join(target, readdirSync(target)[0]))).toEqual(snapshotTree(join(work, "data/home")));
    expect((await efsbak(["check", "--read-data", "--vault", "offsite"], { EFSBAK_PASSWORD: "offsite-secret" })).code).toBe(0);

    // Lifecycle reaches the copy too: two years on, run deletes it in the offsite vault (opened
    // with its password_file) as it deletes the original in main.
    const later = await efsbak(["run", "plans", "--now", "2028-03-05T12:00:00Z", "--json"]);
    expect(later.stderr).not.toContain("lifecycle failed");
    const lc = JSON.parse(later.stdout).lifecycle;
    expect(lc.offsite.deleted).toEqual([off[0].id]);
    expect(lc.main.deleted).toContain(main[0].id);
    const offAfter = JSON.parse((await efsbak(["recovery-points", "--vault", "offsite", "--json"], { EFSBAK_PASSWORD: "offsite-secret" })).stdout).recovery_points;
    expect(offAfter.map((p: { id: string }) => p.id)).not.toContain(off[0].id);
  }, 120_000);

  test("a bad copy action is reported with its position", async () => {
    const dir = join(work, "bad");
    mkdirSync(dir);
    const lines = PLAN.replace('password_file = "offsite.pw"', 'password_file = "offsite.pw"\npassword_command = "echo x"').replace('copy_actions = [{ vault = "offsite", lifecycle = { delete_after = "365d" } }]', 'copy_actions = [{ vault = "elsewhere" }, { vault = "offsite", lifecycle = { delete_after = "soon" } }, { vault = "main", colour = 1 }]');
    writeFileSync(join(dir, "a.toml"), lines);
    const r = await efsbak(["validate", "bad", "--json"]);
    expect(r.code).toBe(2);
    const problems = JSON.parse(r.stdout).problems as { file: string; line: number; col: number; message: string }[];
    const line = lines.split("\n").findIndex((l) => l.startsWith("copy_actions")) + 1;
    const at = problems.filter((p) => p.line === line).map((p) => p.message).join("\n");
    expect(at).toContain('Unknown vault "elsewhere"');
    expect(at).toContain('"soon"');
    expect(at).toContain("colour");
    expect(at).toContain("own vault");
    expect(problems.every((p) => p.col > 0)).toBe(true);
    const both = problems.find((p) => p.message.includes('"password_file" and "password_command"'));
    expect(both?.line).toBe(lines.split("\n").findIndex((l) => l.startsWith("password_command")) + 1);
  }, 60_000);
});
