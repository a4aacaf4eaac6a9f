/**
 * Operator and GitOps correctness through dist/efsbak (issue 17): `run DIR` reads one plans
 * directory, piped stdout is never cut short, "latest" names one resource's newest complete
 * recovery point, a created vault is always announced, and the metrics file is written
 * after failures too, with one label per vault whatever spelling was typed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
    // And through a shell pipeline (a pipe(2) for sure), as the issue measured it.
    const shell = Bun.spawnSync(["sh", "-c", `"${ensureBinary()}" ls latest --vault ./vault-of-other --resource res-a --json | (sleep 1; wc -c)`], { cwd: work, stdout: "pipe" });
    expect(Number(shell.stdout.toString().trim())).toBe(want);
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

describe("the vault lock stored in the vault", () => {
  test("prune from a directory without plans keeps what the stored lock holds; the lock only tightens", async () => {
    const elsewhere = join(work, "elsewhere");
    mkdirSync(elsewhere, { recursive: true });
    const at = (iso: string) => ["--now", iso];
    for (const v of ["locked", "unlocked"]) {
      const b = await run(["backup", "data/b", "--vault", `./${v}`, "--delete-after", "1d", "--json", ...at("2026-03-01T04:00:00Z")]);
      expect(b.code).toBe(0);
    }
    const set = await run(["vault", "lock", "--vault", "./locked", "--min-retention", "30d", "--max-retention", "3650d"]);
    expect(set.code).toBe(0);
    const loosen = await run(["vault", "lock", "--vault", "./locked", "--min-retention", "7d"]);
    expect(loosen.code).toBe(1);
    expect(loosen.stderr).toContain('Cannot loosen the lock of vault "./locked": min_retention is 30d');
    const raise = await run(["vault", "lock", "--vault", "./locked", "--max-retention", "4000d"]);
    expect(raise.code).toBe(1);
    const shown = await run(["vault", "lock", "--vault", "./locked", "--json"]);
    expect(JSON.parse(shown.stdout).lock).toMatchObject({ min_retention: "30d", min_retention_ms: 30 * 86_400_000, max_retention_ms: 3650 * 86_400_000 });

    // Three days later, from a directory with no plans: the recovery point is past its
    // delete_at; the unlocked vault loses it, the locked one keeps it.
    const prune = (v: string) => runBinary(["prune", "--vault", join(work, v), "--json", ...at("2026-03-04T04:00:00Z")], { cwd: elsewhere, env: { EFSBAK_GC_MIN_AGE: "0" } });
    const control = JSON.parse((await prune("unlocked")).stdout);
    expect(control.deleted.length).toBe(1);
    const kept = await prune("locked");
    expect(kept.code).toBe(0);
    const doc = JSON.parse(kept.stdout);
    expect(doc.deleted).toEqual([]);
    expect(doc.decisions[0].action).toBe("expired");
    const rps = JSON.parse((await runBinary(["recovery-points", "--vault", join(work, "locked"), "--json", ...at("2026-03-04T04:00:00Z")], { cwd: elsewhere })).stdout).recovery_points;
    expect(rps.map((rp: { status: string }) => rp.status)).toEqual(["EXPIRED"]);
  });

  test("run writes a stricter plan lock into the vault, and a looser one never loosens it", async () => {
    mkdirSync(join(work, "lockplans"), { recursive: true });
    const plan = (min: string) => `${planWith("./locked", { "res-b": "data/b" })}\n[vaults.main.lock]\nmin_retention = "${min}"\n`;
    writeFileSync(join(work, "lockplans/p.toml"), plan("60d"));
    const r = await run(["run", "lockplans/", "--now", "2026-03-04T05:10:00Z"]);
    expect(r.code).toBe(0);
    const lockOf = async () => JSON.parse((await run(["vault", "lock", "--vault", "./locked", "--json"])).stdout).lock;
    expect((await lockOf()).min_retention).toBe("60d");
    writeFileSync(join(work, "lockplans/p.toml"), plan("7d"));
    const looser = await run(["run", "lockplans/", "--now", "2026-03-04T06:10:00Z"]);
    expect(looser.code).toBe(0);
    expect(looser.stderr).toContain("looser than the one stored in the vault");
    expect((await lockOf()).min_retention).toBe("60d");
  });
});

describe("a vault this user may only read", () => {
  test("restore, ls, recovery-points and check work, each saying once that it records no job", async () => {
    expect((await run(["backup", "data/b", "--vault", "./ro"])).code).toBe(0);
    const jobsBefore = JSON.parse((await run(["jobs", "--vault", "./ro", "--json"])).stdout).jobs.length;
    // Tests run as root, whom file modes do not stop: run the binary as nobody, on a vault
    // nobody may read but not write.
    Bun.spawnSync(["chmod", "0755", work]);
    Bun.spawnSync(["chmod", "-R", "a+rX,a-w", join(work, "ro")]);
    mkdirSync(join(work, "ro-out"), { mode: 0o777 });
    Bun.spawnSync(["chmod", "0777", join(work, "ro-out")]);
    const asNobody = (args: string[]) => {
      const r = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ensureBinary(), ...args], { cwd: work, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp" } });
      return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    };
    try {
      const probe = asNobody(["backup", "data/b", "--vault", "./ro"]);
      expect(probe.code).toBe(1); // nobody really cannot write there
      // A local vault's hint fits the error: no talk of credentials.
      expect(probe.stderr).toContain("hint: this user may not write there");
      expect(probe.stderr).not.toContain("credentials");
      for (const args of [["restore", "latest", "--target", "ro-out"], ["check"]]) {
        const r = asNobody([...args, "--vault", "./ro", "--json"]);
        expect({ args, code: r.code }).toEqual({ args, code: 0 });
        expect(r.stderr.split("\n").filter((l) => l.includes("read-only")).length).toBe(1);
        expect(JSON.parse(r.stdout).job).toBeNull(); // no lock, no job record: said once on stderr
      }
      expect(readdirSync(join(work, "ro-out")).some((n) => n.startsWith("efsbak-restore_"))).toBe(true);
      for (const args of [["ls", "latest"], ["recovery-points"]]) {
        const r = asNobody([...args, "--vault", "./ro"]);
        expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
      }
    } finally {
      Bun.spawnSync(["chmod", "-R", "u+w", join(work, "ro")]);
    }
    expect(JSON.parse((await run(["jobs", "--vault", "./ro", "--json"])).stdout).jobs.length).toBe(jobsBefore);
  });
});

describe("output", () => {
  test("check and prune --json spell every key in snake_case", async () => {
    const keys = (v: unknown, out: string[] = []): string[] => {
      if (Array.isArray(v)) v.forEach((x) => keys(x, out));
      else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) out.push(k), keys(x, out);
      return out;
    };
    for (const cmd of [["check", "--read-data"], ["prune"], ["prune", "--dry-run"]]) {
      const r = await run([...cmd, "--vault", "./vault-of-other", "--json"]);
      expect(r.code).toBe(0);
      const all = keys(JSON.parse(r.stdout));
      expect(all.length).toBeGreaterThan(10);
      expect({ cmd, camel: all.filter((k) => /[A-Z]/.test(k)) }).toEqual({ cmd, camel: [] });
    }
    const doc = JSON.parse((await run(["check", "--vault", "./vault-of-other", "--json"])).stdout);
    expect(doc).toContainKeys(["recovery_points", "unindexed_packs", "packs_read", "bytes_read", "leftovers"]);
  });

  test("the jobs MESSAGE column shows the first warning's text", async () => {
    mkdirSync(join(work, "data/w"), { recursive: true });
    writeFileSync(join(work, "data/w/a.txt"), "a\n");
    expect(Bun.spawnSync(["mkfifo", join(work, "data/w/pipe")]).exitCode).toBe(0);
    expect((await run(["backup", "data/w", "--vault", "./warned"])).code).toBe(0);
    const warnings = JSON.parse((await run(["jobs", "--vault", "./warned", "--json"])).stdout).jobs[0].warnings as string[];
    expect(warnings.length).toBe(1);
    const text = (await run(["jobs", "--vault", "./warned"])).stdout;
    expect(text).toContain(warnings[0]);
    expect(text).not.toContain("1 warnings");
  });
});
