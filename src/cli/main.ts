/**
 * argv -> exit code. The one place that maps errors to exit codes and prints them:
 *
 *   extract global flags -> find the command -> --help? print usage with EXIT STATUS
 *   check options -> citty runCommand -> Outcome -> stdout (JSON or text) -> exit code
 *   EfsbakError -> its message and hint on stderr, its exit code; anything else -> "internal
 *   error" (stack only with --verbose), exit 1
 *
 * Exit codes: 0 success, 1 failure, 2 usage or plan error, 3 partial (a job PARTIAL or
 * EXPIRED, or fragments in lost+found), 4 another job holds the lock.
 */
import { NATIVE_ADDONS, nativeLoadError } from "../native.ts";
import { renderUsage, runCommand } from "citty";
import { EfsbakError, PlanError, UsageError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { checkKnownOptions, extractGlobals, extractRepeated, impliedValue } from "./args.ts";
import type { EfsbakCommand, Outcome } from "./command.ts";
import { createContext, type CliIo, type Context } from "./context.ts";
import { trackVaults, writeMetricsAfter, type VaultTracker } from "./metrics.ts";
import { COMMANDS, GROUPS } from "./commands.ts";
import { startNotifications } from "./notifications.ts";

const GLOBAL_HELP = `GLOBAL OPTIONS

  --plans DIR      plans directory (default "plans")
  --json           one JSON document on stdout; logs stay on stderr
  --quiet, -q      only errors
  --verbose, -v    more detail (and stacks of internal errors)
  --now ISO-8601   plan clock for schedules, windows and lifecycle (also EFSBAK_NOW)
  --metrics-file PATH
                   afterwards, write a Prometheus textfile (node_exporter's textfile
                   collector format) about the vaults the command used, atomically
  --limit-upload MIB, --limit-download MIB
                   cap what S3 vaults send / receive, in MiB/s (e.g. 4 or 0.5);
                   over the vault's limit_upload / limit_download`;

/** Runs the CLI in process and returns the exit code (never exits). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const after: { metrics?: { ctx: Context; tracker: VaultTracker }; notifications?: { settle(): Promise<void> } } = {};
  const code = await runOnce(argv, io, (ctx) => {
    if (ctx.flags.metricsFile) after.metrics = { ctx, tracker: trackVaults(ctx) };
    after.notifications = startNotifications(ctx);
  });
  // Deliveries under way end within their timeout; they never change the exit code.
  await after.notifications?.settle().catch(() => {});
  if (after.metrics) return writeMetricsAfter(after.metrics.ctx, { tracker: after.metrics.tracker, exitCode: code });
  // Failed before a context existed (a usage error): the metrics file still says so.
  const metricsFile = metricsFileOf(argv);
  return metricsFile ? writeMetricsAfter(null, { io, path: metricsFile, exitCode: code }) : code;
}

function metricsFileOf(argv: string[]): string | null {
  try {
    return extractGlobals(argv).globals.metricsFile;
  } catch {
    return null;
  }
}

async function runOnce(argv: string[], io: CliIo, onContext: (ctx: Context) => void): Promise<number> {
  let json = argv.includes("--json");
  let verbose = argv.includes("--verbose") || argv.includes("-v");
  try {
    const { globals, rest } = extractGlobals(argv);
    json = globals.json;
    verbose = globals.verbose;
    if (globals.version && rest.length === 0) {
      io.stdout.write(json ? `${JSON.stringify({ version: VERSION })}\n` : `efsbak ${VERSION}\n`);
      return 0;
    }
    const found = findCommand(rest);
    if (!found) {
      if (globals.help || rest.length === 0) {
        io.stdout.write(rootHelp());
        return rest.length === 0 && !globals.help ? 2 : 0;
      }
      const group = GROUPS[rest[0]];
      if (group) throw new UsageError(`Cannot run "efsbak ${rest[0]}": name a subcommand (${Object.keys(group).join(", ")})`, `see "efsbak ${rest[0]} --help"`);
      throw new UsageError(`Unknown command "${rest[0]}"`, 'see "efsbak --help"');
    }
    const { cmd, args } = found;
    if (globals.help) {
      io.stdout.write(await commandHelp(cmd));
      return 0;
    }
    const ctx = createContext(io, globals);
    onContext(ctx);
    let raw = args;
    for (const [name, value] of Object.entries(cmd.implied)) raw = impliedValue(raw, name, value);
    const { values: repeated, rest: plain } = extractRepeated(raw, cmd.repeatable);
    checkKnownOptions(plain, cmd.def.args as object as import("citty").ArgsDef, cmd.name);
    let outcome: Outcome | undefined;
    await runCommand({ ...cmd.def, run: async (c) => { outcome = await cmd.run({ ctx, args: c.args, repeated }); } }, { rawArgs: plain }).catch((err) => {
      if ((err as { name?: string })?.name === "CLIError") throw new UsageError(`${(err as Error).message.replace(/\.$/, "")}`, `see "efsbak ${cmd.name} --help"`);
      throw err;
    });
    noteNativeFallback(ctx);
    if (!outcome) return 0;
    if (outcome.streamed) return outcome.exitCode;
    if (json) io.stdout.write(`${JSON.stringify(outcome.json, null, 2)}\n`);
    else if (outcome.text && !(globals.quiet && outcome.exitCode === 0)) io.stdout.write(outcome.text.endsWith("\n") ? outcome.text : `${outcome.text}\n`);
    return outcome.exitCode;
  } catch (err) {
    return reportError(err, io, { json, verbose });
  }
}

/**
 * Says once, after the command, when a native addon could not load and the portable fallback
 * did its work (same bytes, several times slower): most often a $TMPDIR mounted noexec.
 */
function noteNativeFallback(ctx: Context): void {
  const failed = NATIVE_ADDONS.flatMap((name) => {
    const error = nativeLoadError(name);
    return error ? [`${name} (${error.split("\n")[0]})`] : [];
  });
  if (failed.length === 0) return;
  ctx.log.warn(`Native code could not be loaded: ${failed.join(", ")}; the portable fallback was used (same results, several times slower)`);
  ctx.log.warn('hint: the binary unpacks its addons into $TMPDIR, which must allow exec (e.g. TMPDIR=/var/tmp); EFSBAK_NATIVE=0 uses the fallback without this warning');
}

function reportError(err: unknown, io: CliIo, opts: { json: boolean; verbose: boolean }): number {
  if (err instanceof EfsbakError) {
    if (opts.json) {
      const doc: Record<string, unknown> = { message: err.message, exit_code: err.exitCode };
      if (err.hint) doc.hint = err.hint;
      if (err instanceof PlanError) doc.problems = err.problems;
      io.stdout.write(`${JSON.stringify({ error: doc }, null, 2)}\n`);
    }
    const lines = err instanceof PlanError ? err.message : `error: ${err.message}`;
    io.stderr.write(`${lines}\n${err.hint ? `hint: ${err.hint}\n` : ""}`);
    if (opts.verbose && err.cause) io.stderr.write(`cause: ${String((err.cause as Error)?.stack ?? err.cause)}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  if (opts.json) io.stdout.write(`${JSON.stringify({ error: { message: `internal error: ${e?.message ?? String(err)}`, exit_code: 1 } }, null, 2)}\n`);
  io.stderr.write(`internal error: ${e?.message ?? String(err)}\n`);
  if (opts.verbose && e?.stack) io.stderr.write(`${e.stack}\n`);
  else io.stderr.write("hint: run again with --verbose for details, and report it if it persists\n");
  return 1;
}

function findCommand(rest: string[]): { cmd: EfsbakCommand; args: string[] } | null {
  const first = rest.findIndex((a) => !a.startsWith("-"));
  if (first < 0) return null;
  const name = rest[first];
  const before = rest.slice(0, first);
  // A name that is a command and a group ("recovery-points" lists, "recovery-points delete"
  // deletes): the subcommand when the next word names one.
  const next = rest.slice(first + 1).find((a) => !a.startsWith("-"));
  if (COMMANDS[name] && !(next !== undefined && GROUPS[name]?.[next])) return { cmd: COMMANDS[name], args: [...before, ...rest.slice(first + 1)] };
  const group = GROUPS[name];
  if (group) {
    const tail = rest.slice(first + 1);
    const second = tail.findIndex((a) => !a.startsWith("-"));
    if (second >= 0 && group[tail[second]]) return { cmd: group[tail[second]], args: [...before, ...tail.slice(0, second), ...tail.slice(second + 1)] };
  }
  return null;
}

function rootHelp(): string {
  const rows: string[] = [];
  for (const c of Object.values(COMMANDS)) rows.push(`  ${c.name.padEnd(17)} ${c.description}`);
  for (const [g, subs] of Object.entries(GROUPS)) for (const c of Object.values(subs)) rows.push(`  ${c.name.padEnd(17)} ${c.description}`);
  return `efsbak ${VERSION}: deduplicated, incremental backups of directory trees, driven by TOML plans

USAGE  efsbak <command> [OPTIONS]

COMMANDS

${rows.join("\n")}

${GLOBAL_HELP}

EXIT STATUS

  0  success
  1  failure
  2  usage or plan error
  3  partial: a job ended PARTIAL or EXPIRED, or a restore put fragments in lost+found
  4  another job holds the lock

Use "efsbak <command> --help" for more about a command.
`;
}

async function commandHelp(cmd: EfsbakCommand): Promise<string> {
  const usage = await renderUsage({ ...cmd.def, meta: { name: `efsbak ${cmd.name}`, description: cmd.description } });
  const repeat = cmd.repeatable.length ? `\n(${cmd.repeatable.map((r) => `--${r}`).join(", ")} may be given more than once)\n` : "";
  return `${usage}${repeat}\n${GLOBAL_HELP}\n\nEXIT STATUS\n\n${cmd.exitStatus.map((l) => `  ${l}`).join("\n")}\n`;
}
