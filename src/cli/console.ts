/** `efsbak console`: the local web console (dashboard, jobs, recovery points, browse, restore, plans). */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { EfsbakError, UsageError } from "../errors.ts";
import { newToken } from "../console/auth.ts";
import { createRestoreTasks } from "../console/restore-task.ts";
import { startConsole } from "../console/server.ts";
import { createVaultSet, type VaultInfo } from "../console/vaults.ts";
import { VERSION } from "../version.ts";
import { COMMON_EXIT, command } from "./command.ts";
import type { VaultTarget } from "./context.ts";

const DEFAULT_LISTEN = "127.0.0.1:8420";

/** "127.0.0.1:8420", "[::1]:0", ":9000" -> host and port. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`Cannot read --listen "${text}": expected HOST:PORT`, 'e.g. "127.0.0.1:8420"; port 0 picks a free one');
  return { host: m[1] ?? (m[2] || "127.0.0.1"), port };
}

/** The token from --token-file (made there, readable by the owner only, when the file is missing or empty), or a new one. */
export function consoleToken(file: string | undefined, cwd: string): { token: string; made: boolean } {
  if (!file) return { token: newToken(), made: true };
  const path = resolve(cwd, file);
  const existing = existsSync(path) ? readFileSync(path, "utf8").trim() : "";
  if (existing) {
    if (existing.length < 16) throw new UsageError(`Cannot use the token in "${file}": it is shorter than 16 characters`, "put a longer random token there, or empty the file to have one made");
    return { token: existing, made: false };
  }
  const token = newToken();
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return { token, made: true };
}

/** The console command. */
export const consoleCommand = command({
  name: "console",
  description: "serve the local web console: dashboard, jobs, recovery points, browse and download, restore, plans",
  args: {
    vault: { type: "string", description: "a vault to show (name from the plans, or a path or s3:// URL; default: every vault in the plans)", valueHint: "NAME|URL" },
    listen: { type: "string", description: `address to listen on (default ${DEFAULT_LISTEN})`, valueHint: "HOST:PORT" },
    "token-file": { type: "string", description: "read the token from this file (made there when missing) instead of printing a new one", valueHint: "FILE" },
    "read-only": { type: "boolean", description: "browse and download only: no restores" },
  },
  repeatable: ["vault"],
  exitStatus: COMMON_EXIT,
  async run({ ctx, args, repeated }) {
    const { host, port } = parseListen((args.listen as string | undefined) ?? DEFAULT_LISTEN);
    const refs = repeated.vault;
    const targets: VaultTarget[] = refs.length ? refs.map((r) => ctx.vaultTarget(r)) : [...(ctx.plans()?.vaults.keys() ?? [])].map((n) => ctx.vaultTarget(n));
    if (targets.length === 0) throw new UsageError("Cannot start the console: no --vault given and no plans define one", "add --vault NAME_OR_PATH, or --plans DIR");
    const byName = new Map(targets.map((t) => [t.name, t]));
    const infos: VaultInfo[] = targets.map((t) => ({ name: t.name, location: ctx.storageOf(t).storage.location }));
    const vaults = createVaultSet(infos, (name, o) => ctx.openVault(byName.get(name)!, { onIndexDamage: o.onIndexDamage }));
    const { token, made } = consoleToken(args["token-file"] as string | undefined, ctx.io.cwd);
    const readOnly = !!args["read-only"];
    const tasks = createRestoreTasks({ now: () => ctx.now(), chown: process.getuid?.() === 0, signal: ctx.io.signal });
    let server;
    try {
      server = startConsole({
        host,
        port,
        token,
        deps: { vaults, plans: () => ctx.plans(), lockOf: (n) => byName.get(n)?.spec?.lock, now: () => ctx.now(), readOnly, tasks, version: VERSION, warn: (m) => ctx.log.warn(m) },
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message;
      throw new EfsbakError(`Cannot listen on "${host}:${port}": ${code}`, { exitCode: 1, hint: code === "EADDRINUSE" ? 'another program uses that port; choose another with --listen, e.g. "127.0.0.1:0" for a free one' : "choose another address with --listen", cause: err });
    }
    const lines = [`efsbak console at ${server.url}${readOnly ? " (read-only)" : ""}`, `vaults: ${infos.map((v) => v.name).join(", ")}`];
    if (!args["token-file"]) lines.push(`token: ${token}`);
    else if (made) lines.push(`token: written to ${args["token-file"]}`);
    else lines.push(`token: the one in ${args["token-file"]}`);
    // With --json, stdout carries only the document written when the console stops.
    (ctx.flags.json ? ctx.io.stderr : ctx.io.stdout).write(`${lines.join("\n")}\nstop with Ctrl-C\n`);
    await new Promise<void>((done) => {
      if (!ctx.io.signal) return; // an in-process caller without a signal: serve until the process ends
      if (ctx.io.signal.aborted) done();
      ctx.io.signal.addEventListener("abort", () => done(), { once: true });
    });
    await server.stop();
    return { exitCode: 0, json: { url: server.url, stopped: true }, text: "Console stopped" };
  },
});
