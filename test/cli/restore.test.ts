/**
 * `efsbak restore` and `efsbak check` take the vault's shared lock, in process on a local
 * vault: while a prune holds the exclusive one they exit 4 naming it, write nothing and
 * record no job; once it is gone they run as usual. On a vault they cannot write (read-only
 * use) they run without a lock and without a job record, and say so in one warning.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
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
  // Both released their claims (an emptied folder goes too).
  expect(existsSync(join(vault, "locks")) ? readdirSync(join(vault, "locks")) : []).toEqual([]);
});

test("read-only use: on a vault whose locks/ and jobs/ cannot be written, restore and check go on with one warning and record no job", async () => {
  const src = join(work, "src-ro");
  const vault = join(work, "vault-ro");
  makeTree(src, { "c.bin": bytes(80_000, 6), "d.txt": "dee\n" });
  const run = (argv: string[]) => runInProcess([...argv, "--vault", vault], { cwd: work });
  expect((await run(["backup", src])).code).toBe(0);
  const jobsBefore = readdirSync(join(vault, "jobs")).length;
  const locked = [join(vault, "locks"), join(vault, "jobs")];
  for (const d of locked) mkdirSync(d, { recursive: true, mode: 0o700 }); // an emptied folder is removed
  for (const d of locked) readOnlyDir(d, true);
  try {
    const warning = `Cannot lock vault "${vault}": writing to "locks/" was refused`;
    const restored = await run(["restore", "latest", "--target", join(work, "out-ro"), "--json"]);
    expect(restored.code).toBe(0);
    expect(restored.stderr.split("\n").filter((l) => l.trim() !== "")).toHaveLength(1);
    expect(restored.stderr).toContain(warning);
    expect(restored.stderr).toContain("; going on without a lock (read-only use)");
    const out = JSON.parse(restored.stdout);
    expect(out.job).toBeNull();
    expect(snapshotTree(out.restore_dir)).toEqual(snapshotTree(src));
    const checked = await run(["check", "--read-data", "--json"]);
    expect(checked.code).toBe(0);
    expect(checked.stderr.split("\n").filter((l) => l.trim() !== "")).toHaveLength(1);
    expect(checked.stderr).toContain(warning);
    expect(JSON.parse(checked.stdout).job).toBeNull();
  } finally {
    for (const d of locked) readOnlyDir(d, false);
  }
  expect(readdirSync(join(vault, "jobs")).length).toBe(jobsBefore);
  expect(readdirSync(join(vault, "locks"))).toEqual([]);
});

/** Makes a directory unwritable (root ignores modes, so as root it is made immutable), or undoes it. */
function readOnlyDir(dir: string, on: boolean): void {
  if (process.getuid?.() === 0) {
    const r = Bun.spawnSync(["chattr", on ? "+i" : "-i", dir], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`chattr failed: ${r.stderr.toString()}`);
  } else {
    chmodSync(dir, on ? 0o555 : 0o700);
  }
}
