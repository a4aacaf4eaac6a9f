/**
 * Operator experience through dist/efsbak, as a new user would meet it: progress drawn and
 * cleared on a pseudo-terminal (script(1)) and absent in a pipe; plans with a restore test,
 * `run`, `drill`, `report`, the metrics file; the recipes (systemd units, the cron line of
 * docs/operations.md, the CI files) run or checked as written.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import { join } from "node:path";
import { BINARY, ensureBinary, runBinary } from "../support/cli.ts";
import { makeTree } from "../support/tree.ts";
import { ensureDebianPackage } from "../support/apt.ts";
import { localPlan, planWorkdir, removeWorkdir } from "../support/plans.ts";

const ROOT = join(import.meta.dir, "../..");
const ERASE = "\r\x1b[2K";
let work: string;

const PLAN = localPlan({ "fs-home": { path: "data/home", lines: [`tags = { backup = "hourly" }`] } }, { url: "./.efsbak/vault", extra: `
[plan]
name = "ops"

[[plan.rules]]
name = "hourly"
schedule = "@hourly"
start_window = "1h"
vault = "main"

[[plan.selections]]
name = "tagged"
tags = { backup = "hourly" }

[[restore_tests]]
name = "drill"
schedule = "@daily"
start_window = "23h"
tags = { backup = "hourly" }
algorithm = "random"
` });

function run(args: string[], env: Record<string, string> = {}) {
  return runBinary(args, { cwd: work, env });
}

/** Runs a command line on a pseudo-terminal (util-linux script) and returns what the terminal got. */
function onTerminal(command: string): { code: number; output: string } {
  const r = Bun.spawnSync(["script", "-qfec", command, "/dev/null"], { cwd: work, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", TERM: "xterm" } });
  return { code: r.exitCode ?? -1, output: r.stdout.toString() };
}

/** Random, incompressible bytes, fast. */
function noise(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) randomFillSync(b, i, Math.min(65536, n - i));
  return b;
}

beforeAll(() => {
  ensureBinary();
  ensureDebianPackage("/usr/bin/script", "bsdutils");
  ensureDebianPackage("/usr/bin/systemd-analyze", "systemd");
  work = planWorkdir("efsbak-ops-", { "ops.toml": PLAN });
  makeTree(join(work, "data"), { home: { "notes.txt": "hello\n", docs: { "a.md": "# a\n" } } });
  // Big enough that a backup takes a few seconds and draws its progress line several times.
  mkdirSync(join(work, "data/big"));
  for (let i = 0; i < 4; i++) writeFileSync(join(work, `data/big/part-${i}.bin`), noise(48 * 1024 * 1024));
});

afterAll(() => {
  removeWorkdir(work);
});

describe("progress on a pseudo-terminal", () => {
  test("backup draws files, bytes and rate in place, and clears the line before its result", () => {
    const r = onTerminal(`${BINARY} backup data/big --vault ./big-vault`);
    expect(r.code).toBe(0);
    const frames = r.output.split(ERASE).slice(1);
    const drawn = frames.filter((f) => f.startsWith("backing up "));
    expect(drawn.length).toBeGreaterThanOrEqual(2);
    // Once the quick scan beside the backup has counted, files show as done/total with percent and ETA.
    expect(drawn.at(-1)).toMatch(/^backing up \d+(\/\d+)? files {2}[\d.]+ (KiB|MiB|GiB) read {2}[\d.]+ (KiB|MiB|GiB)\/s( {2}~[\d.]+% {2}ETA [-\d.ms ]+)? {2}[\d.ms ]+ {2}.*part-\d\.bin$/);
    // Cleared: the erase right before the result, with nothing of the progress left on its line.
    expect(frames.at(-1)).toMatch(/^Backed up ".*big" to \.\/big-vault: 4 files/);
  });

  test("restore, check and drill draw on a terminal too", () => {
    const cases = [
      { cmd: `${BINARY} restore latest --resource ${join(work, "data/big")} --vault ./big-vault --target ./restored`, draws: /^restoring [\d.]+% {2}\d+ files/ },
      { cmd: `${BINARY} check --read-data --vault ./big-vault`, draws: /^checking: read-data \d+\/\d+ packs/ },
      { cmd: `${BINARY} drill --vault ./big-vault`, draws: /^drill .*: verifying [\d.]+%/ },
    ];
    for (const c of cases) {
      const r = onTerminal(c.cmd);
      expect(r.code).toBe(0);
      const frames = r.output.split(ERASE).slice(1);
      expect(frames.some((f) => c.draws.test(f))).toBe(true);
      expect(frames.at(-1)).not.toMatch(c.draws);
    }
  });

  test("the same backup in a pipe prints no progress at all", async () => {
    writeFileSync(join(work, "data/big/part-0.bin"), noise(48 * 1024 * 1024));
    const r = await run(["backup", "data/big", "--vault", "./big-vault"]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("\x1b");
    expect(r.stderr).not.toContain("\r");
    expect(r.stdout).toMatch(/^Backed up /);
  });
});

describe("a new user's day", () => {
  test("validate, run (backup and due drill), metrics, report, no failed jobs", async () => {
    expect((await run(["validate", "plans/"])).code).toBe(0);
    const prom = join(work, "efsbak.prom");
    const r = await run(["run", "plans/", "--metrics-file", prom, "--json", "--now", "2026-03-01T04:10:00Z"]);
    expect(r.stderr).not.toContain("error");
    expect(r.code).toBe(0);
    const jobs = JSON.parse(r.stdout).jobs;
    expect(jobs.map((j: { type: string; state: string }) => `${j.type}:${j.state}`)).toEqual(["backup:COMPLETED", "drill:COMPLETED"]);
    expect(jobs[1].details.files_verified).toBe(2);
    expect(jobs[1].recovery_point).toBe(jobs[0].recovery_point);
    const metrics = readFileSync(prom, "utf8");
    expect(metrics).toMatch(/^efsbak_jobs\{vault="main",resource="fs-home",type="drill",state="COMPLETED"\} 1$/m);
    expect(metrics).toMatch(/^efsbak_recovery_points\{vault="main",resource="fs-home"\} 1$/m);
    const report = JSON.parse((await run(["report", "--since", "24h", "--json", "--now", "2026-03-01T04:20:00Z"])).stdout);
    expect(report.resources[0]).toMatchObject({ resource: "fs-home", backups: { succeeded: 1, failed: 0 }, drills: { succeeded: 1 }, problems: [] });
    expect((await run(["jobs", "--state", "FAILED"])).stdout.trim()).toBe("No jobs");
  });

  test("completion scripts parse in their shells", async () => {
    for (const shell of ["bash", "zsh", "fish"]) {
      if (!Bun.which(shell)) continue;
      const r = await run(["completion", shell]);
      expect(r.code).toBe(0);
      const file = join(work, `efsbak.${shell}`);
      writeFileSync(file, r.stdout);
      const check = Bun.spawnSync([shell, "-n", file], { stderr: "pipe" });
      expect(check.stderr.toString()).toBe("");
      expect(check.exitCode).toBe(0);
    }
  });
});

describe("recipes, as written", () => {
  const unit = readFileSync(join(ROOT, "scripts/systemd/efsbak.service"), "utf8");
  const timer = readFileSync(join(ROOT, "scripts/systemd/efsbak.timer"), "utf8");

  test("the service is a hardened oneshot that runs the plans", () => {
    for (const line of ["Type=oneshot", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes", "Nice=10", "IOSchedulingClass=idle"]) expect(unit.split("\n")).toContain(line);
    expect(unit).toMatch(/^EnvironmentFile=-\/etc\/efsbak\/efsbak\.env$/m);
    expect(unit).toMatch(/^ReadWritePaths=\S+/m);
    expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/efsbak run plans\/ /m);
    expect(timer).toMatch(/^OnCalendar=hourly$/m);
    expect(timer).toMatch(/^Persistent=true$/m);
    expect(timer).toMatch(/^RandomizedDelaySec=\S+$/m);
  });

  test("systemd-analyze verify accepts both units without a warning", () => {
    const dir = join(work, "units");
    mkdirSync(dir, { recursive: true });
    // verify checks that ExecStart exists: point it at the binary built here.
    writeFileSync(join(dir, "efsbak.service"), unit.replaceAll("/usr/local/bin/efsbak", BINARY));
    writeFileSync(join(dir, "efsbak.timer"), timer);
    const r = Bun.spawnSync(["systemd-analyze", "verify", join(dir, "efsbak.service"), join(dir, "efsbak.timer")], { stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test("the service's ExecStart works from its WorkingDirectory with its EnvironmentFile", async () => {
    const exec = /^ExecStart=(.*)$/m.exec(unit)![1];
    const metricsDir = join(work, "textfile");
    mkdirSync(metricsDir, { recursive: true });
    writeFileSync(join(work, "efsbak.env"), `# secrets\nEFSBAK_NOW=2026-03-01T05:10:00Z\n`);
    const env = Object.fromEntries(readFileSync(join(work, "efsbak.env"), "utf8").split("\n").filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    const argv = exec.replace("/var/lib/node_exporter/textfile_collector", metricsDir).split(" ").slice(1);
    const r = await run(argv, env);
    expect(r.stderr).not.toContain("error");
    expect(r.code).toBe(0);
    expect(existsSync(join(metricsDir, "efsbak.prom"))).toBe(true);
  });

  test("the cron line of docs/operations.md runs as written", () => {
    const docs = readFileSync(join(ROOT, "docs/operations.md"), "utf8");
    const line = /^```cron\n(.*)\n```$/m.exec(docs)![1];
    const fields = line.split(" ");
    expect(fields.slice(0, 6)).toEqual(["17", "*", "*", "*", "*", "root"]);
    const command = fields.slice(6).join(" ")
      .replace("/srv/efsbak-plans", work)
      .replace("/etc/efsbak/efsbak.env", join(work, "efsbak.env"))
      .replace("/usr/local/bin/efsbak", BINARY)
      .replace("/var/lib/node_exporter/textfile_collector", join(work, "cron-textfile"));
    mkdirSync(join(work, "cron-textfile"), { recursive: true });
    writeFileSync(join(work, "efsbak.env"), "EFSBAK_NOW=2026-03-02T05:10:00Z\n");
    const r = Bun.spawnSync(["/bin/sh", "-c", command], { env: { PATH: "/usr/bin:/bin" }, stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    // --quiet: nothing on stdout either when all is well, so cron mails nothing.
    expect(r.stdout.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    const prom = readFileSync(join(work, "cron-textfile/efsbak.prom"), "utf8");
    const last = Number(/^efsbak_last_success_timestamp_seconds\{vault="main",resource="fs-home"\} (\S+)$/m.exec(prom)![1]);
    // The backup this run made, on the clock the env file set.
    expect(Math.abs(last - Date.parse("2026-03-02T05:10:00Z") / 1000)).toBeLessThan(60);
  });

  test("the GitHub Actions workflow runs efsbak with the vault's credentials from secrets", () => {
    const wf = Bun.YAML.parse(readFileSync(join(ROOT, "scripts/ci/github-actions.yml"), "utf8")) as any;
    expect(wf.on.schedule[0].cron).toMatch(/^\S+ \* \* \* \*$/);
    const job = wf.jobs.efsbak;
    expect(job.env.AWS_ACCESS_KEY_ID).toMatch(/^\$\{\{ secrets\.\w+ \}\}$/);
    expect(job.env.AWS_SECRET_ACCESS_KEY).toMatch(/^\$\{\{ secrets\.\w+ \}\}$/);
    expect(job.env.EFSBAK_PASSWORD).toMatch(/^\$\{\{ secrets\.\w+ \}\}$/);
    const runs = job.steps.map((s: { run?: string }) => s.run ?? "").join("\n");
    expect(runs).toMatch(/^npx efsbak run plans\/( |$)/m);
    expect(runs).toContain("npm ci");
    expect(wf.concurrency.group).toBe("efsbak");
  });

  test("the GitLab CI job runs efsbak on schedule, one at a time", () => {
    const ci = Bun.YAML.parse(readFileSync(join(ROOT, "scripts/ci/gitlab-ci.yml"), "utf8")) as any;
    const job = ci.efsbak;
    expect(job.script.some((l: string) => /^npx efsbak run plans\/( |$)/.test(l))).toBe(true);
    expect(job.rules[0].if).toContain('"schedule"');
    expect(job.resource_group).toBe("efsbak");
    expect(job.before_script).toContain("npm install --global bun@1");
  });
});
