/**
 * `efsbak completion bash|zsh|fish`: every command, subcommand and option of the command
 * table is in each script; the scripts parse (bash -n, zsh -n, fish -n), and bash and fish
 * really complete commands, subcommands, options and option values. zsh and fish are
 * installed with apt-get when missing (support/apt.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMMANDS, GROUPS } from "../../src/cli/commands.ts";
import { runInProcess } from "../support/cli.ts";
import { ensureDebianPackage } from "../support/apt.ts";

let work: string;
const scripts: Record<string, string> = {};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "efsbak-cli-completion-"));
  for (const shell of ["bash", "zsh", "fish"]) {
    const r = await runInProcess(["completion", shell], { cwd: work });
    expect(r.code).toBe(0);
    scripts[shell] = r.stdout;
    writeFileSync(join(work, `efsbak.${shell}`), r.stdout);
  }
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function optionsOf(args: object): string[] {
  return Object.entries(args).filter(([, d]) => (d as { type?: string }).type !== "positional").map(([n]) => `--${n}`);
}

describe("efsbak completion", () => {
  for (const shell of ["bash", "zsh", "fish"]) {
    test(`the ${shell} script names every command, subcommand and option`, () => {
      const s = scripts[shell];
      for (const [name, cmd] of Object.entries(COMMANDS)) {
        expect(s).toContain(name);
        for (const o of optionsOf(cmd.def.args ?? {})) expect(s).toContain(shell === "fish" ? `-l ${o.slice(2)}` : o);
      }
      for (const [group, subs] of Object.entries(GROUPS)) {
        expect(s).toContain(group);
        for (const sub of Object.keys(subs)) expect(s).toContain(sub);
      }
      for (const g of ["--plans", "--json", "--quiet", "--verbose", "--now", "--metrics-file"]) expect(s).toContain(shell === "fish" ? `-l ${g.slice(2)}` : g);
    });
  }

  test("the bash script passes bash -n", () => {
    const r = Bun.spawnSync(["bash", "-n", join(work, "efsbak.bash")], { stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test("bash completes commands, subcommands, options and their values", () => {
    const probe = (words: string[]) => {
      const script = `source ${JSON.stringify(join(work, "efsbak.bash"))}
COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(" ")}); COMP_CWORD=${words.length - 1}; _efsbak; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = Bun.spawnSync(["bash", "-c", script], { stderr: "pipe", cwd: work });
      expect(r.stderr.toString()).toBe("");
      return r.stdout.toString().split("\n").filter(Boolean).sort();
    };
    expect(probe(["efsbak", "dr"])).toEqual(["drill"]);
    expect(probe(["efsbak", "re"])).toEqual(["recovery-points", "report", "restore"]);
    expect(probe(["efsbak", "vault", ""])).toEqual(Object.keys(GROUPS.vault).sort());
    expect(probe(["efsbak", "drill", "--al"])).toEqual(["--algorithm"]);
    expect(probe(["efsbak", "con"])).toEqual(["console"]);
    expect(probe(["efsbak", "console", "--re"])).toEqual(["--read-only"]);
    expect(probe(["efsbak", "console", "--to"])).toEqual(["--token-file"]);
    expect(probe(["efsbak", "drill", "--algorithm", ""])).toEqual(["latest", "random"]);
    expect(probe(["efsbak", "--plans", "plans", "report", "--si"])).toEqual(["--since"]);
    expect(probe(["efsbak", "jobs", "--state", "FA"])).toEqual(["FAILED"]);
    expect(probe(["efsbak", "completion", ""])).toEqual(["bash", "fish", "zsh"]);
    expect(probe(["efsbak", "--metrics"])).toEqual(["--metrics-file"]);
    // "recovery-points" is a command and a group: options of the list, and its subcommand.
    expect(probe(["efsbak", "recovery-points", ""])).toEqual(["delete"]);
    expect(probe(["efsbak", "recovery-points", "--ta"])).toEqual(["--tag"]);
    expect(probe(["efsbak", "recovery-points", "delete", "--dr"])).toEqual(["--dry-run"]);
    expect(probe(["efsbak", "st"])).toEqual(["stats"]);
    expect(probe(["efsbak", "d"])).toEqual(["diff", "drill", "dump"]);
    expect(probe(["efsbak", "find", "--ne"])).toEqual(["--newest"]);
  });

  test("the zsh script passes zsh -n", () => {
    const zsh = ensureDebianPackage("/usr/bin/zsh", "zsh");
    const r = Bun.spawnSync([zsh, "-n", join(work, "efsbak.zsh")], { stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test("the fish script passes fish -n and completes", () => {
    const fish = ensureDebianPackage("/usr/bin/fish", "fish");
    const file = join(work, "efsbak.fish");
    expect(Bun.spawnSync([fish, "-n", file]).exitCode).toBe(0);
    const probe = (line: string) => {
      const r = Bun.spawnSync([fish, "--no-config", "-c", `source ${file}; complete -C ${JSON.stringify(line)}`], { stderr: "pipe" });
      expect(r.stderr.toString()).toBe("");
      return r.stdout.toString().split("\n").filter(Boolean).map((l) => l.split("\t")[0]).sort();
    };
    expect(probe("efsbak dr")).toEqual(["drill"]);
    expect(probe("efsbak drill --algorithm ")).toEqual(["latest", "random"]);
    expect(probe("efsbak vault ")).toEqual(Object.keys(GROUPS.vault).sort());
  });

  test("an unknown shell is a usage error", async () => {
    const r = await runInProcess(["completion", "tcsh"], { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Cannot complete for shell "tcsh"');
  });
});
