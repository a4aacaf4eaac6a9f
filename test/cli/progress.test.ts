/**
 * Progress lines, in process with a fake terminal on stderr: drawn in place (\r, erase line)
 * and cleared for backup, restore, check, prune and drill; never off a TTY, with --json or
 * with --quiet; never wider than the terminal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../src/cli/main.ts";
import { fitLine } from "../../src/cli/progress.ts";
import { bytes, makeTree } from "../support/tree.ts";
import { localPlan, planWorkdir, removeWorkdir } from "../support/plans.ts";

let work: string;
const ERASE = "\r\x1b[2K";

const PLAN = localPlan({ "fs-home": "data/home" });

async function tty(args: string[], options: { isTTY?: boolean; columns?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli([...args, "--plans", join(work, "plans")], {
    stdout: { write: (s: string) => void (stdout += s) },
    stderr: { write: (s: string) => void (stderr += s), isTTY: options.isTTY ?? true, columns: options.columns ?? 80 } as { write(s: string): void; isTTY: boolean },
    env: {},
    cwd: work,
  });
  return { code, stdout, stderr };
}

/** The progress frames drawn on stderr (text after each erase), and whether the last erase clears. */
function frames(stderr: string): { drawn: string[]; cleared: boolean } {
  const parts = stderr.split(ERASE);
  return { drawn: parts.slice(1).filter((p) => p !== ""), cleared: stderr.includes(ERASE) && stderr.endsWith(ERASE) };
}

beforeAll(async () => {
  work = planWorkdir("efsbak-cli-progress-", { "plan.toml": PLAN });
  makeTree(join(work, "data"), { home: { "a.txt": "alpha\n", deep: { "very-long-directory-name-to-shorten": { "big.bin": bytes(3_000_000, 2) } } } });
});

afterAll(() => {
  removeWorkdir(work);
});

describe("fitLine", () => {
  const cases = [
    { name: "fits as is", text: "abc", path: "d/e", width: 20, want: "abc  d/e" },
    { name: "path shortened from the left", text: "abc", path: "one/two/three/four.txt", width: 20, want: "abc  …three/four.txt" },
    { name: "no room for a path", text: "a long progress text", path: "x/y", width: 12, want: "a long prog…" },
    { name: "no path", text: "abcdef", path: "", width: 4, want: "abc…" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const got = fitLine(c.text, { path: c.path, width: c.width });
      expect(got).toBe(c.want);
      expect(got.length).toBeLessThanOrEqual(c.width);
    });
  }
});

describe("progress on a terminal", () => {
  test("backup draws files, bytes and rate in place, then clears", async () => {
    const r = await tty(["backup", "fs-home"]);
    expect(r.code).toBe(0);
    const f = frames(r.stderr);
    expect(f.drawn.length).toBeGreaterThan(0);
    expect(f.drawn[0]).toMatch(/^backing up \d+(\/\d+)? files {2}[\d.]+ (B|KiB|MiB) read {2}[\d.]+ (B|KiB|MiB|GiB)\/s/);
    expect(f.cleared).toBe(true);
    for (const line of f.drawn) expect(line.length).toBeLessThan(80);
    // Results stay on stdout, untouched by progress.
    expect(r.stdout).not.toContain("\x1b");
    expect(r.stdout).toMatch(/^Backed up "fs-home"/);
  });

  test("a second backup estimates percent and ETA from the first", async () => {
    writeFileSync(join(work, "data/home/a.txt"), "changed\n");
    const r = await tty(["backup", "fs-home"], { columns: 200 });
    expect(r.code).toBe(0);
    expect(frames(r.stderr).drawn.join("\n")).toMatch(/~[\d.]+%  ETA /);
  });

  const others: { name: string; args: () => string[]; draws: RegExp }[] = [
    { name: "restore", args: () => ["restore", "latest", "--resource", "fs-home", "--target", join(work, "out")], draws: /^restoring [\d.]+%  \d+ files  .* ETA / },
    { name: "check --read-data", args: () => ["check", "--read-data"], draws: /^checking: (config|index|packs|read-data|recovery-points|trees) \d+/ },
    { name: "prune", args: () => ["prune"], draws: /^pruning: marking \d+ trees/ },
    { name: "drill", args: () => ["drill"], draws: /^drill fs-home: (restoring|verifying) [\d.]+%  \d+ files/ },
  ];
  for (const c of others) {
    test(`${c.name} draws and clears`, async () => {
      const r = await tty(c.args());
      expect(r.code).toBe(0);
      const f = frames(r.stderr);
      expect(f.drawn.some((l) => c.draws.test(l))).toBe(true);
      expect(f.cleared).toBe(true);
    });
  }
  test("drill draws both phases", async () => {
    const f = frames((await tty(["drill"])).stderr);
    expect(f.drawn.some((l) => l.includes(": restoring "))).toBe(true);
    expect(f.drawn.some((l) => l.includes(": verifying "))).toBe(true);
  });
});

describe("no progress", () => {
  const cases: { name: string; args: string[]; isTTY: boolean }[] = [
    { name: "off a terminal", args: ["backup", "fs-home"], isTTY: false },
    { name: "with --json", args: ["backup", "fs-home", "--json"], isTTY: true },
    { name: "with --quiet", args: ["backup", "fs-home", "--quiet"], isTTY: true },
    { name: "drill with --json", args: ["drill", "--json"], isTTY: true },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      writeFileSync(join(work, "data/home/a.txt"), `changed ${c.name}\n`);
      const r = await tty(c.args, { isTTY: c.isTTY });
      expect(r.code).toBe(0);
      expect(r.stderr).not.toContain("\x1b[2K");
      expect(r.stderr).not.toContain("\r");
    });
  }
});
