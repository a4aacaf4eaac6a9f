/**
 * Passwords of encrypted vaults, from the process edges:
 *
 *   EFSBAK_PASSWORD           the password itself
 *   EFSBAK_PASSWORD_FILE      a file holding it (trailing line breaks dropped)
 *   EFSBAK_PASSWORD_COMMAND   a command printing it (run with sh -c; for secret managers)
 *   none of them, on a terminal: asked for, without echo
 *
 * The same with EFSBAK_NEW_… for a new password (`vault key add|passwd`). At most one source
 * of each kind may be set. A password never reaches a log, a message, a job record or argv:
 * only its source is ever named, and a command's output is never printed.
 * EFSBAK_TEST_KDF=cheap makes new key files with cheap Argon2id parameters: for tests only.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { EfsbakError, UsageError } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";
import type { VaultConfig } from "../vault/config.ts";
import { type KdfParams, TEST_KDF, type UnlockedKeys, unlockVault } from "../vault/keys.ts";

/**
 * What reading a password needs of a command's context (cli/context.ts Context has it):
 * declared here, so context.ts can use this module without a cycle back.
 */
export interface PasswordContext {
  io: { env: Record<string, string | undefined>; cwd: string; stderr: { write(s: string): void; isTTY?: boolean } };
  log: { warn(message: string): void };
}

/** Which password: the one that opens the vault, or a new one being set. */
export type PasswordKind = "current" | "new";

const VARS: Record<PasswordKind, [string, string, string]> = {
  current: ["EFSBAK_PASSWORD", "EFSBAK_PASSWORD_FILE", "EFSBAK_PASSWORD_COMMAND"],
  new: ["EFSBAK_NEW_PASSWORD", "EFSBAK_NEW_PASSWORD_FILE", "EFSBAK_NEW_PASSWORD_COMMAND"],
};

/** The variables that give a password, for messages. */
export function passwordVariables(kind: PasswordKind = "current"): string {
  const [a, b, c] = VARS[kind];
  return `${a}, ${b} or ${c}`;
}

/** The variable that gives the current password (set and not empty), or null when none does. */
export function passwordSource(env: Record<string, string | undefined>): string | null {
  return VARS.current.find((v) => env[v] !== undefined && env[v] !== "") ?? null;
}

/**
 * Gets a password. `action` names what it is for in messages ('unlock vault "main"');
 * `confirm` asks twice on a terminal (a new password).
 */
export async function readPassword(ctx: PasswordContext, options: { action: string; kind?: PasswordKind; confirm?: boolean }): Promise<string> {
  const kind = options.kind ?? "current";
  const [direct, file, command] = VARS[kind];
  const env = ctx.io.env;
  const given = [direct, file, command].filter((v) => env[v] !== undefined && env[v] !== "");
  if (given.length > 1) throw new UsageError(`Cannot ${options.action}: ${given.join(" and ")} are set together`, `set only one of ${passwordVariables(kind)}`);
  let password: string;
  if (given[0] === direct) {
    password = env[direct]!;
  } else if (given[0] === file) {
    password = readPasswordFile(ctx, env[file]!, file, options.action);
  } else if (given[0] === command) {
    password = await runPasswordCommand(ctx, env[command]!, command, options.action);
  } else {
    const empty = [direct, file, command].filter((v) => env[v] === "");
    if (empty.length) throw new EfsbakError(`Cannot ${options.action}: ${empty.join(" and ")} ${empty.length > 1 ? "are" : "is"} set but empty`, { exitCode: 1, hint: `give the ${kind === "new" ? "new " : ""}password in one of ${passwordVariables(kind)}` });
    if (!canPrompt(ctx)) {
      throw new EfsbakError(`Cannot ${options.action}: no ${kind === "new" ? "new " : ""}password given: set ${passwordVariables(kind)}`, { exitCode: 1, hint: "or run on a terminal to be asked for it" });
    }
    const label = kind === "new" ? "New password" : "Password";
    password = await promptHidden(ctx, `${label}: `);
    if (options.confirm && (await promptHidden(ctx, `${label} again: `)) !== password) {
      throw new EfsbakError(`Cannot ${options.action}: the two passwords differ`, { exitCode: 1 });
    }
  }
  if (password === "") throw new EfsbakError(`Cannot ${options.action}: the password is empty`, { exitCode: 1 });
  return password;
}

/** Unlocks an encrypted vault with the password from the environment (or a prompt). */
export async function unlockWithPassword(ctx: PasswordContext, options: { name: string; storage: Storage; config: VaultConfig }): Promise<UnlockedKeys> {
  const password = await readPassword(ctx, { action: `unlock vault "${options.name}"` });
  const unlocked = await unlockVault(options.storage, password, { config: options.config, name: options.name });
  for (const err of unlocked.refused ?? []) ctx.log.warn(`Vault "${options.name}": a key file was not tried: ${err.message}`);
  return unlocked;
}

/** Argon2id parameters for new key files: the defaults, or cheap ones under EFSBAK_TEST_KDF=cheap (tests only). */
export function newKeyKdf(ctx: PasswordContext): KdfParams | undefined {
  const v = ctx.io.env.EFSBAK_TEST_KDF;
  if (v === undefined || v === "") return undefined;
  if (v !== "cheap") throw new UsageError(`Cannot read EFSBAK_TEST_KDF "${v}": the only value is "cheap" (for tests)`, "unset it outside tests");
  ctx.log.warn("EFSBAK_TEST_KDF=cheap: the new key file uses test-only Argon2id parameters that barely protect its password; unset it outside tests");
  return TEST_KDF;
}

function readPasswordFile(ctx: PasswordContext, path: string, variable: string, action: string): string {
  let text: string;
  try {
    text = readFileSync(resolve(ctx.io.cwd, path), "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new EfsbakError(`Cannot ${action}: cannot read the password file "${path}" named by ${variable}: ${code}`, { exitCode: 1 });
  }
  return text.replace(/[\r\n]+$/, "");
}

async function runPasswordCommand(ctx: PasswordContext, commandLine: string, variable: string, action: string): Promise<string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.io.env)) if (v !== undefined) env[k] = v;
  let proc;
  try {
    proc = Bun.spawn(["sh", "-c", commandLine], { cwd: ctx.io.cwd, env, stdin: "inherit", stdout: "pipe", stderr: "pipe" });
  } catch (err) {
    throw new EfsbakError(`Cannot ${action}: cannot start the command in ${variable}: ${(err as NodeJS.ErrnoException).code ?? "failed"}`, { exitCode: 1 });
  }
  const [out, errText, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  // The command's own diagnostics are its business to keep clean; its output is the secret and is never shown.
  if (errText) ctx.io.stderr.write(errText.endsWith("\n") ? errText : `${errText}\n`);
  if (code !== 0) throw new EfsbakError(`Cannot ${action}: the command in ${variable} exited with status ${code}`, { exitCode: 1 });
  const password = out.replace(/[\r\n]+$/, "");
  if (password === "") throw new EfsbakError(`Cannot ${action}: the command in ${variable} printed nothing`, { exitCode: 1 });
  return password;
}

function canPrompt(ctx: PasswordContext): boolean {
  return !!ctx.io.stderr.isTTY && !!process.stdin.isTTY && typeof process.stdin.setRawMode === "function";
}

/** Reads one line from the terminal without echo (consola's prompt cannot mask input). */
async function promptHidden(ctx: PasswordContext, prompt: string): Promise<string> {
  const stdin = process.stdin;
  ctx.io.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((done, fail) => {
      let text = "";
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString("utf8")) {
          if (ch === "\r" || ch === "\n") {
            stdin.off("data", onData);
            return done(text);
          }
          if (ch === "\u0003" || (ch === "\u0004" && text === "")) {
            stdin.off("data", onData);
            return fail(new EfsbakError("Cannot get the password: cancelled", { exitCode: 1 }));
          }
          if (ch === "\u007f" || ch === "\b") text = [...text].slice(0, -1).join("");
          else if (ch >= " ") text += ch;
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    ctx.io.stderr.write("\n");
  }
}
