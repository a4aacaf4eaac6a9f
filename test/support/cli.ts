/**
 * Running the CLI in tests: in process (runCli with captured streams) and as the compiled
 * binary dist/efsbak (rebuilt when any source file is newer than it).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../src/cli/main.ts";

const ROOT = join(import.meta.dir, "../..");
/** Path of the compiled binary. */
export const BINARY = join(ROOT, "dist/efsbak");

/** What a CLI run produced. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process. */
export async function runInProcess(argv: string[], options: { cwd: string; env?: Record<string, string | undefined> }): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    stdout: { write: (s: string) => void (stdout += s) },
    stderr: { write: (s: string) => void (stderr += s) },
    env: options.env ?? {},
    cwd: options.cwd,
  });
  return { code, stdout, stderr };
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

let built = false;

/** Builds dist/efsbak if it is missing or older than src/. */
export function ensureBinary(): string {
  if (built) return BINARY;
  if (!existsSync(BINARY) || statSync(BINARY).mtimeMs < newestSource(join(ROOT, "src"))) {
    const r = Bun.spawnSync([process.execPath, "scripts/build.ts"], { cwd: ROOT, stderr: "pipe", stdout: "pipe" });
    if (r.exitCode !== 0) throw new Error(`build failed: ${r.stderr.toString()}`);
  }
  built = true;
  return BINARY;
}

/** Runs the compiled binary and waits for it. */
export async function runBinary(argv: string[], options: { cwd: string; env?: Record<string, string | undefined> }): Promise<CliRun> {
  const bin = ensureBinary();
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;
  const proc = Bun.spawn([bin, ...argv], { cwd: options.cwd, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
