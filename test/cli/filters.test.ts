/**
 * Listing filters through the compiled binary: `recovery-points` and `jobs` with
 * `--tag k=v` (repeatable, all must match), `--host H` and `--since 7d|ISO`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hostname } from "node:os";
import { join } from "node:path";
import { localStorage } from "../../src/storage/local.ts";
import { openVault } from "../../src/vault/vault.ts";
import { saveRecoveryPoint } from "../../src/vault/recovery-point.ts";
import { runBinary } from "../support/cli.ts";
import { makeTree } from "../support/tree.ts";
import { fakeRecoveryPoint } from "../support/vault.ts";
import { localPlan, planWorkdir, removeWorkdir } from "../support/plans.ts";

let work: string;
let prod = "";
let dev = "";
const FOREIGN = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0";

function run(args: string[]) {
  return runBinary(args, { cwd: work });
}

async function ids(args: string[]): Promise<string[]> {
  const r = await run([...args, "--json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const doc = JSON.parse(r.stdout);
  return (doc.recovery_points ?? doc.jobs).map((x: { id: string; recovery_point?: string }) => (doc.jobs ? x.recovery_point : x.id));
}

beforeAll(async () => {
  work = planWorkdir("efsbak-cli-filters-", { "p.toml": localPlan({ data: "data" }) });
  makeTree(join(work, "data"), { "a.txt": "a" });
  const backup = async (args: string[]) => {
    const r = await run(["backup", "data", "--json", ...args]);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout).recovery_point as string;
  };
  prod = await backup(["--tag", "env=prod", "--tag", "team=web", "--now", "2026-05-01T00:00:00Z"]);
  dev = await backup(["--tag", "env=dev", "--tag", "team=web", "--now", "2026-05-09T00:00:00Z"]);
  const vault = await openVault(localStorage(join(work, "vault")), { cold: localStorage(join(work, "vault/cold")) });
  await saveRecoveryPoint(vault, fakeRecoveryPoint("00", { id: FOREIGN, resource: "data", host: "other-host", created_at: "2026-05-05T00:00:00.000Z", tags: { env: "prod" } }));
});

afterAll(() => {
  removeWorkdir(work);
});

describe("listing filters", () => {
  test("recovery-points --tag (all must match), --host, --since", async () => {
    expect(await ids(["recovery-points"])).toEqual([prod, FOREIGN, dev]);
    expect(await ids(["recovery-points", "--tag", "env=prod"])).toEqual([prod, FOREIGN]);
    expect(await ids(["recovery-points", "--tag", "env=prod", "--tag", "team=web"])).toEqual([prod]);
    expect(await ids(["recovery-points", "--tag", "team=ops"])).toEqual([]);
    expect(await ids(["recovery-points", "--host", "other-host"])).toEqual([FOREIGN]);
    expect(await ids(["recovery-points", "--host", hostname()])).toEqual([prod, dev]);
    expect(await ids(["recovery-points", "--since", "7d", "--now", "2026-05-10T00:00:00Z"])).toEqual([FOREIGN, dev]);
    expect(await ids(["recovery-points", "--since", "2026-05-08T00:00:00Z"])).toEqual([dev]);
    const bad = await run(["recovery-points", "--since", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Cannot read --since "soon"');
  });

  test("jobs take the same filters (a job carries its recovery point's tags)", async () => {
    expect(await ids(["jobs", "--tag", "env=prod"])).toEqual([prod]);
    expect(await ids(["jobs", "--tag", "team=web"])).toEqual([dev, prod]);
    expect(await ids(["jobs", "--host", hostname()])).toEqual([dev, prod]);
    expect(await ids(["jobs", "--host", "other-host"])).toEqual([]);
    expect(await ids(["jobs", "--since", "3d", "--now", "2026-05-10T00:00:00Z"])).toEqual([dev]);
    const text = await run(["jobs", "--tag", "env=dev"]);
    expect(text.code).toBe(0);
    expect(text.stdout.split("\n").filter(Boolean)).toHaveLength(2); // header + the dev backup
  });
});
