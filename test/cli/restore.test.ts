/**
 * `efsbak restore` and `efsbak check` take the vault's shared lock, in process on a local
 * vault: while a prune holds the exclusive one they exit 4 naming it, write nothing and
 * record no job; once it is gone they run as usual.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localStorage } from "../../src/storage/local.ts";
import { acquireVaultLock } from "../../src/vault/lock.ts";
import { openVault } from "../../src/vault/vault.ts";
import { runInProcess } from "../support/cli.ts";
import { bytes, makeTree, snapshotTree } from "../support/tree.ts";

let work: string;
beforeAll(() => void (work = mkdtempSync(join(tmpdir(), "efsbak-restore-lock-"))));
afterAll(() => rmSync(work, { recursive: true, force: true }));

test("restore and check exit 4 while a prune holds the vault, and run once it is gone", async () => {
  const src = join(work, "src");
  const vault = join(work, "vault");
  makeTree(src, { "a.bin": bytes(120_000, 5), sub: { "b.txt": "bee\n" } });
  const run = (argv: string[]) => runInProcess([...argv, "--vault", vault], { cwd: work });
  expect((await run(["backup", src, "--json"])).code).toBe(0);

  const storage = localStorage(vault);
  const prune = await acquireVaultLock(await openVault(storage, { cold: localStorage(join(vault, "cold")) }), { purpose: "a prune", exclusive: true, settleMs: 0, host: "other-host", pid: 4242, isAlive: () => true });
  const into = join(work, "out");
  try {
    await Bun.sleep(5); // a later storage time than the prune's claim
    const restored = await run(["restore", "latest", "--target", into]);
    expect(restored.code).toBe(4);
    expect(restored.stderr).toContain('Cannot start a restore: a prune holds the lease (host "other-host", pid 4242');
    expect(existsSync(into)).toBe(false);
    const checked = await run(["check", "--read-data"]);
    expect(checked.code).toBe(4);
    expect(checked.stderr).toContain('Cannot start a check: a prune holds the lease (host "other-host"');
    const jobs = JSON.parse((await run(["jobs", "--json"])).stdout).jobs as { type: string }[];
    expect(jobs.map((j) => j.type)).toEqual(["backup"]); // refused before any job was recorded
    const claims: string[] = [];
    for await (const o of storage.list("locks/")) claims.push(o.key);
    expect(claims.length).toBe(1); // the refused claims were removed; the prune's is left
  } finally {
    await prune.release();
  }

  const restored = await run(["restore", "latest", "--target", into, "--json"]);
  expect({ code: restored.code, stderr: restored.stderr }).toEqual({ code: 0, stderr: "" });
  const out = JSON.parse(restored.stdout);
  expect(out.job.type).toBe("restore");
  expect(out.fragments).toEqual([]);
  expect(snapshotTree(out.restore_dir)).toEqual(snapshotTree(src));
  expect((await run(["check", "--read-data"])).code).toBe(0);
  expect(readdirSync(join(vault, "locks"))).toEqual([]); // both released their claims
});
