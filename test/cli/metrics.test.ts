/**
 * `--metrics-file PATH`: the Prometheus textfile after backup, drill, prune and check, parsed
 * back and compared with what the vault holds; label escaping; atomic replacement.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { escapeLabel, renderMetrics } from "../../src/cli/metrics.ts";
import { runInProcess } from "../support/cli.ts";
import { bytes, makeTree } from "../support/tree.ts";
import { localPlan, removeWorkdir } from "../support/plans.ts";

let work: string;

const PLAN = localPlan({ "fs-home": "data/home" });

function cli(args: string[]) {
  return runInProcess([...args, "--plans", join(work, "plans")], { cwd: work });
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format strictly enough to catch mistakes: HELP, TYPE, samples, escapes. */
function parseProm(text: string): { samples: Sample[]; help: Map<string, string>; type: Map<string, string> } {
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      help.set(m[1], m[2]);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter)$/.exec(line);
    if (m) {
      type.set(m[1], m[2]);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? "";
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/gy;
    let pos = 0;
    for (let l = re.exec(body); l; l = re.exec(body)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      pos = re.lastIndex;
    }
    if (pos !== body.length) throw new Error(`bad labels: ${body}`);
    if (!help.has(m[1]) || !type.has(m[1])) throw new Error(`${m[1]} has no HELP/TYPE before its samples`);
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, help, type };
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

function packBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) total += statSync(join(e.parentPath, e.name)).size;
  return total;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "efsbak-cli-metrics-"));
  makeTree(join(work, "data"), { home: { "a.txt": "alpha\n", "big.bin": bytes(1_500_000, 5) }, 'we"ird\\name': { "x.txt": "x\n" } });
  mkdirSync(join(work, "plans"));
  mkdirSync(join(work, "textfile"));
  writeFileSync(join(work, "plans/plan.toml"), PLAN);
});

afterAll(() => {
  removeWorkdir(work);
});

describe("label escaping and rendering", () => {
  const cases = [
    { name: "plain", in: "fs-home", out: "fs-home" },
    { name: "quote", in: 'a"b', out: 'a\\"b' },
    { name: "backslash", in: "a\\b", out: "a\\\\b" },
    { name: "newline", in: "a\nb", out: "a\\nb" },
    { name: "all at once", in: '\\"\n', out: '\\\\\\"\\n' },
  ];
  for (const c of cases) test(c.name, () => expect(escapeLabel(c.in)).toBe(c.out));

  test("a rendered family round-trips through the parser", () => {
    const text = renderMetrics([{ name: "efsbak_x", help: "help", samples: [{ labels: { resource: 'q"\\\n' }, value: 1.5 }] }]);
    expect(text).toBe('# HELP efsbak_x help\n# TYPE efsbak_x gauge\nefsbak_x{resource="q\\"\\\\\\n"} 1.5\n');
    expect(parseProm(text).samples).toEqual([{ name: "efsbak_x", labels: { resource: 'q"\\\n' }, value: 1.5 }]);
  });
});

describe("--metrics-file", () => {
  const prom = () => join(work, "textfile/efsbak.prom");

  test("after a backup: last success, duration, bytes, files, job counts, vault size, recovery points", async () => {
    const r = await cli(["backup", "fs-home", "--json", "--metrics-file", prom()]);
    expect(r.code).toBe(0);
    const job = JSON.parse(r.stdout).job;
    const { samples, type } = parseProm(readFileSync(prom(), "utf8"));
    const home = { vault: "main", resource: "fs-home" };
    expect(value(samples, "efsbak_last_success_timestamp_seconds", home)).toBe(Date.parse(job.ended_at) / 1000);
    expect(value(samples, "efsbak_job_duration_seconds", { ...home, type: "backup" })).toBe((Date.parse(job.ended_at) - Date.parse(job.started_at)) / 1000);
    expect(value(samples, "efsbak_job_bytes", { ...home, kind: "read" })).toBe(1_500_006);
    expect(value(samples, "efsbak_job_bytes", { ...home, kind: "new" })).toBe(job.bytes_new);
    expect(value(samples, "efsbak_job_bytes", { ...home, kind: "stored" })).toBe(job.bytes_stored);
    expect(value(samples, "efsbak_job_files", home)).toBe(2);
    expect(value(samples, "efsbak_jobs", { ...home, type: "backup", state: "COMPLETED" })).toBe(1);
    expect(value(samples, "efsbak_vault_bytes", { vault: "main", tier: "warm" })).toBe(packBytes(join(work, "vault/packs")));
    expect(value(samples, "efsbak_vault_bytes", { vault: "main", tier: "cold" })).toBe(0);
    expect(value(samples, "efsbak_recovery_points", home)).toBe(1);
    expect(type.get("efsbak_jobs")).toBe("gauge");
    // Replaced atomically: no temp file is left beside it.
    expect(readdirSync(join(work, "textfile"))).toEqual(["efsbak.prom"]);
  });

  test("after a drill: its job, time to restore, and the counts of recent jobs", async () => {
    const r = await cli(["drill", "--json", "--metrics-file", prom()]);
    expect(r.code).toBe(0);
    const job = JSON.parse(r.stdout).jobs[0];
    const { samples } = parseProm(readFileSync(prom(), "utf8"));
    const home = { vault: "main", resource: "fs-home" };
    expect(value(samples, "efsbak_jobs", { ...home, type: "drill", state: "COMPLETED" })).toBe(1);
    expect(value(samples, "efsbak_drill_time_to_restore_seconds", home)).toBe(job.details.time_to_restore_ms / 1000);
    expect(value(samples, "efsbak_drill_last_success_timestamp_seconds", home)).toBe(Date.parse(job.ended_at) / 1000);
  });

  test("label values from resource ids are escaped", async () => {
    const odd = realpathSync(join(work, "data", 'we"ird\\name'));
    const r = await cli(["backup", odd, "--vault", "main", "--metrics-file", prom()]);
    expect(r.code).toBe(0);
    const text = readFileSync(prom(), "utf8");
    expect(text).toContain(`resource="${odd.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`);
    const { samples } = parseProm(text);
    expect(value(samples, "efsbak_recovery_points", { vault: "main", resource: odd })).toBe(1);
    expect(value(samples, "efsbak_recovery_points", { vault: "main", resource: "fs-home" })).toBe(1);
  });

  test("after prune and check, their jobs are counted too (vault-wide: empty resource)", async () => {
    expect((await cli(["prune", "--metrics-file", prom()])).code).toBe(0);
    expect((await cli(["check", "--metrics-file", prom()])).code).toBe(0);
    const { samples } = parseProm(readFileSync(prom(), "utf8"));
    expect(value(samples, "efsbak_jobs", { vault: "main", resource: "", type: "prune", state: "COMPLETED" })).toBe(1);
    expect(value(samples, "efsbak_jobs", { vault: "main", resource: "", type: "check", state: "COMPLETED" })).toBe(1);
    expect(value(samples, "efsbak_job_duration_seconds", { vault: "main", resource: "", type: "check" })).toBeGreaterThanOrEqual(0);
  });

  test("a metrics file that cannot be written fails an otherwise good run, exit 1, and says why", async () => {
    const r = await cli(["jobs", "--metrics-file", join(work, "no/such/dir/efsbak.prom")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Cannot write metrics file");
    expect(r.stderr).toContain("ENOENT");
  });

  test("a command that opens no vault writes the run's time and exit code, and no vault samples", async () => {
    const path = join(work, "textfile/none.prom");
    const r = await cli(["validate", "--metrics-file", path]);
    expect(r.code).toBe(0);
    expect(readdirSync(join(work, "textfile"))).toContain("none.prom");
    const text = readFileSync(path, "utf8");
    expect(text).toMatch(/^efsbak_last_run_exit_code 0$/m);
    expect(text).toMatch(/^efsbak_last_run_timestamp_seconds \d+/m);
    expect(text).not.toMatch(/vault="/);
  });
});
