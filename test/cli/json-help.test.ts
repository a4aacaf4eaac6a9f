/**
 * Every command: `--help` lists its exit codes (EXIT STATUS), and `--json` prints exactly one
 * JSON document on stdout in the shapes of DESIGN.md (logs stay on stderr).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMMANDS, GROUPS } from "../../src/cli/commands.ts";
import { runInProcess } from "../support/cli.ts";
import { makeTree } from "../support/tree.ts";
import { localPlan, nightlyPlan, planWorkdir, removeWorkdir } from "../support/plans.ts";

let work: string;
let rps: string[] = [];

const PLAN = localPlan({ "fs-home": "data/home" }, { extra: nightlyPlan({ rule: [`vault = "main"`], selection: [`name = "home"`, `resources = ["fs-home"]`] }) });

const ALL = [...Object.keys(COMMANDS), ...Object.entries(GROUPS).flatMap(([g, subs]) => Object.keys(subs).map((s) => `${g} ${s}`))];

function cli(args: string[]) {
  return runInProcess([...args, "--plans", join(work, "plans")], { cwd: work });
}

beforeAll(async () => {
  work = planWorkdir("efsbak-cli-json-", { "plan.toml": PLAN });
  makeTree(join(work, "data"), { home: { "a.txt": "alpha\n", sub: { "b.txt": "beta\n" } } });
  for (let i = 0; i < 2; i++) {
    writeFileSync(join(work, "data/home/a.txt"), `alpha ${i}\n`);
    const r = await cli(["backup", "fs-home", "--json"]);
    expect(r.code).toBe(0);
    rps.push(JSON.parse(r.stdout).recovery_point);
  }
});

afterAll(() => {
  removeWorkdir(work);
});

describe("--help of every command lists its exit codes", () => {
  for (const name of ALL) {
    test(name, async () => {
      const r = await runInProcess([...name.split(" "), "--help"], { cwd: tmpdir() });
      expect(r.code).toBe(0);
      const section = r.stdout.split("EXIT STATUS\n")[1];
      expect(section).toBeDefined();
      const codes = section.split("\n").filter((l) => /^ {2}\d {2}\S/.test(l)).map((l) => Number(l.trim()[0]));
      expect(codes).toContain(0);
      expect(codes).toContain(2);
      expect(codes.every((c) => c >= 0 && c <= 4)).toBe(true);
    });
  }
});

const JOB_FIELDS = ["id", "type", "plan", "rule", "resource", "vault", "scheduled_for", "started_at", "ended_at", "state", "files", "bytes_read", "bytes_new", "bytes_stored", "warnings", "error"];
const RP_FIELDS = ["id", "resource", "plan", "rule", "created_at", "completed_at", "status", "tier", "cold_at", "delete_at", "size_bytes", "files", "tags"];

/** Each command with arguments that work on the fixture, and what its document must hold. */
const CASES: { name: string; args: () => string[]; code?: number; stderr?: boolean; check(doc: Record<string, any>): void }[] = [
  { name: "run", args: () => ["run", "--now", "2026-03-01T05:10:00Z"], check: (d) => { expect(d.jobs[0]).toContainKeys(JOB_FIELDS); expect(d.decisions[0]).toContainKeys(["action", "plan", "rule", "resource", "reason"]); } },
  { name: "validate", args: () => ["validate"], check: (d) => expect(d).toMatchObject({ valid: true, vaults: 1, resources: 1 }) },
  { name: "backup", args: () => ["backup", "fs-home"], check: (d) => { expect(d.job).toContainKeys(JOB_FIELDS); expect(d.recovery_point).toBe(d.job.recovery_point); } },
  { name: "restore", args: () => ["restore", rps[0], "--target", join(work, "restored")], check: (d) => { expect(d.job).toContainKeys(JOB_FIELDS); expect(d.restore_dir).toContain("efsbak-restore_"); expect(d.fragments).toEqual([]); } },
  { name: "recovery-points", args: () => ["recovery-points"], check: (d) => expect(d.recovery_points[0]).toContainKeys(RP_FIELDS) },
  { name: "ls", args: () => ["ls", rps[0]], check: (d) => expect(JSON.stringify(d)).toContain("a.txt") },
  { name: "diff", args: () => ["diff", rps[0], rps[1]], check: (d) => expect(JSON.stringify(d)).toContain("a.txt") },
  { name: "jobs", args: () => ["jobs"], check: (d) => expect(d.jobs[0]).toContainKeys(JOB_FIELDS) },
  { name: "check", args: () => ["check", "--read-data"], check: (d) => { expect(d.job.type).toBe("check"); expect(d.problems).toEqual([]); } },
  { name: "prune", args: () => ["prune"], check: (d) => { expect(d.job.type).toBe("prune"); expect(d.dry_run).toBe(false); } },
  { name: "drill", args: () => ["drill"], check: (d) => { expect(d.jobs[0]).toContainKeys(JOB_FIELDS); expect(d.jobs[0].details.files_verified).toBe(2); } },
  { name: "report", args: () => ["report"], check: (d) => { expect(d.resources[0].resource).toBe("fs-home"); expect(d.vaults[0].vault).toBe("main"); } },
  { name: "completion", args: () => ["completion", "bash"], check: (d) => { expect(d.shell).toBe("bash"); expect(d.script).toContain("complete -o filenames -F _efsbak efsbak"); } },
  { name: "vault init", args: () => ["vault", "init", "./vault-2"], check: (d) => expect(d.vault.location).toContain("vault-2") },
  { name: "find", args: () => ["find", "*.txt"], check: (d) => { expect(d.count).toBe(d.matches.length); expect(d.count).toBeGreaterThanOrEqual(4); expect(d.matches[0]).toContainKeys(["recovery_point", "path", "type", "size", "mtime"]); } },
  { name: "copy", args: () => ["copy", rps[0], "--to", "./copy-dest"], check: (d) => { expect(d).toMatchObject({ recovery_point: rps[0], from: "main", rehashed: false, already: false }); expect(d.blobs_copied).toBeGreaterThan(0); expect(d.jobs.to).toMatchObject({ type: "copy", state: "COMPLETED" }); } },
  { name: "stats", args: () => ["stats"], check: (d) => { expect(d.vault).toContainKeys(["logical_bytes", "unique_bytes", "stored_bytes", "dedup_ratio", "compression_ratio"]); expect(d.recovery_points[0]).toContainKeys(["recovery_point", "freed_bytes"]); } },
  { name: "recovery-points delete", args: () => ["recovery-points", "delete", rps[0], "--dry-run"], check: (d) => { expect(d.dry_run).toBe(true); expect(d.decisions[0]).toMatchObject({ rp: rps[0], action: "delete" }); } },
  // dump's stdout is the data: its summary goes to stderr as the one document.
  { name: "dump", args: () => ["dump", rps[0], "sub/b.txt"], stderr: true, check: (d) => expect(d).toMatchObject({ recovery_point: rps[0], type: "file", bytes: 5 }) },
  // The console serves until stopped (test/console/console.test.ts runs it); here a usage error, as a document.
  { name: "console", args: () => ["console", "--listen", "nowhere"], code: 2, check: (d) => expect(d.error.message).toContain('Cannot read --listen "nowhere"') },
  // Not encrypted: an error, which --json prints as a document too.
  { name: "vault key", args: () => ["vault", "key", "list"], code: 1, check: (d) => expect(d.error.message).toContain("not encrypted") },
  { name: "vault lock", args: () => ["vault", "lock"], check: (d) => expect(d).toEqual({ vault: "main", lock: null }) },
];

describe("--json on every command prints one document", () => {
  test("every command has a case", () => {
    expect(CASES.map((c) => c.name).sort()).toEqual([...ALL].sort());
  });
  for (const c of CASES) {
    test(c.name, async () => {
      const r = await cli([...c.args(), "--json"]);
      expect(r.code).toBe(c.code ?? 0);
      const doc = JSON.parse(c.stderr ? r.stderr : r.stdout);
      c.check(doc);
      // Nothing but the document: no progress, no log lines.
      expect((c.stderr ? r.stderr : r.stdout).trim().startsWith("{")).toBe(true);
      expect(r.stderr).not.toContain("\x1b[2K");
    });
  }
});
