/**
 * Operator and GitOps correctness through dist/efsbak (issue 17): `run DIR` reads one plans
 * directory, piped stdout is never cut short, "latest" names one resource's newest complete
 * recovery point, a created vault is always announced, and the metrics file is written
 * after failures too, with one label per vault whatever spelling was typed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { makeTree } from "../support/tree.ts";
import { localStorage } from "../../src/storage/local.ts";
import { listRecoveryPoints, saveRecoveryPoint } from "../../src/vault/recovery-point.ts";
import { openVault, readConfig, type Vault } from "../../src/vault/vault.ts";

let work: string;

function run(args: string[], env: Record<string, string> = {}) {
  return runBinary(args, { cwd: work, env });
}

function planWith(vaultUrl: string, resources: Record<string, string>): string {
  const res = Object.entries(resources).map(([id, path]) => `[[resources]]\nid = "${id}"\npath = "${path}"\n`).join("\n");
  return `[vaults.main]\nurl = "${vaultUrl}"\n\n${res}\n[plan]\nname = "p"\n\n[[plan.rules]]\nname = "hourly"\nschedule = "@hourly"\nstart_window = "1h"\nvault = "main"\n\n[[plan.selections]]\nname = "all"\nresources = [${Object.keys(resources).map((r) => `"${r}"`).join(", ")}]\n`;
}

/** Opens an unencrypted local vault in process. */
async function openLocalVault(dir: string): Promise<Vault> {
  const storage = localStorage(dir);
  return openVault(storage, { cold: localStorage(join(dir, "cold")), config: (await readConfig(storage))!, keys: null });
}

beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-gitops-"));
  const many: Record<string, string> = {};
  for (let i = 0; i < 6000; i++) many[`a-file-with-a-rather-long-name-number-${i}.txt`] = `file ${i}\n`;
  makeTree(join(work, "data"), { a: many, b: { "b.txt": "b\n" } });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("run DIR", () => {
  test("looks vault names up in DIR, not in ./plans", async () => {
    mkdirSync(join(work, "plans"), { recursive: true });
    mkdirSync(join(work, "other"), { recursive: true });
    writeFileSync(join(work, "plans/p.toml"), planWith("./vault-of-plans", { "res-b": "data/b" }));
    writeFileSync(join(work, "other/p.toml"), planWith("./vault-of-other", { "res-a": "data/a", "res-b": "data/b" }));
    const r = await run(["run", "other/", "--json", "--now", "2026-03-01T04:10:00Z"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.jobs.map((j: { state: string }) => j.state)).toEqual(["COMPLETED", "COMPLETED"]);
    expect(existsSync(join(work, "vault-of-other/config"))).toBe(true);
    expect(existsSync(join(work, "vault-of-plans"))).toBe(false);
    // The new vault is announced off a TTY too, and in the JSON.
    expect(doc.vault_created).toBe(true);
    expect(r.stderr).toContain('Created vault "main"');
    const again = await run(["run", "other/", "--json", "--now", "2026-03-01T04:20:00Z"]);
    expect(JSON.parse(again.stdout).vault_created).toBe(false);
    expect(again.stderr).not.toContain("Created vault");
  });
});

describe("piped stdout", () => {
  test("a slow reader on a real pipe gets every byte (output > 1 MB)", async () => {
    const fast = await run(["ls", "latest", "--vault", "./vault-of-other", "--resource", "res-a", "--json"]);
    expect(fast.code).toBe(0);
    const want = Buffer.byteLength(fast.stdout);
    expect(want).toBeGreaterThan(1_000_000);
    const proc = Bun.spawn([ensureBinary(), "ls", "latest", "--vault", "./vault-of-other", "--resource", "res-a", "--json"], { cwd: work, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    // Read nothing for a second (the writer fills the pipe and must wait), then slowly.
    await Bun.sleep(1000);
    const reader = proc.stdout.getReader();
    let got = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got += value.length;
      await Bun.sleep(2);
    }
    expect(await proc.exited).toBe(0);
    expect(got).toBe(want);
  });
});

describe("latest", () => {
  test("refuses with exit 2 and lists the resources when the vault holds several", async () => {
    for (const cmd of [["ls", "latest"], ["restore", "latest", "--target", "out"]]) {
      const r = await run([...cmd, "--vault", "./vault-of-other"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("res-a, res-b");
      expect(r.stderr).toContain("--resource");
    }
  });

  test("passes over a PARTIAL recovery point of the resource", async () => {
    const rps = JSON.parse((await run(["recovery-points", "--vault", "./vault-of-other", "--resource", "res-b", "--json"])).stdout).recovery_points;
    const complete = rps.at(-1).id;
    // A newer PARTIAL one, as a backup stopped at its completion window leaves.
    const vault = await openLocalVault(join(work, "vault-of-other"));
    const rp = (await listRecoveryPoints(vault)).find((r) => r.id === complete)!;
    const partialId = `ffff${complete.slice(4)}`;
    await saveRecoveryPoint(vault, { ...rp, id: partialId, status: "PARTIAL", created_at: "2026-03-01T05:00:00.000Z" });
    const r = await run(["ls", "latest", "--vault", "./vault-of-other", "--resource", "res-b", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).recovery_point).toBe(complete);
    // Named by id, the PARTIAL one is still usable.
    expect(JSON.parse((await run(["ls", partialId, "--vault", "./vault-of-other", "--json"])).stdout).recovery_point).toBe(partialId);
  });
});

describe("metrics file", () => {
  test("is written after a failure, with the exit code, and one vault label for any spelling", async () => {
    const prom = join(work, "m.prom");
    const bad = await run(["ls", "latest", "--vault", "./no-such-vault", "--metrics-file", prom]);
    expect(bad.code).toBe(1);
    expect(readFileSync(prom, "utf8")).toMatch(/^efsbak_last_run_exit_code 1$/m);
    expect(readFileSync(prom, "utf8")).toMatch(/^efsbak_last_run_timestamp_seconds \d+/m);
    const usage = await run(["ls", "--metrics-file", prom]);
    expect(usage.code).toBe(2);
    expect(readFileSync(prom, "utf8")).toMatch(/^efsbak_last_run_exit_code 2$/m);
    const labels = new Set<string>();
    for (const spelling of ["./vault-of-other", "vault-of-other/", join(work, "vault-of-other"), `file://${join(work, "vault-of-other")}`]) {
      const r = await run(["recovery-points", "--vault", spelling, "--plans", "other", "--metrics-file", prom]);
      expect(r.code).toBe(0);
      for (const m of readFileSync(prom, "utf8").matchAll(/^efsbak_vault_bytes\{vault="([^"]*)"/gm)) labels.add(m[1]);
    }
    expect([...labels]).toEqual(["main"]);
  });
});
