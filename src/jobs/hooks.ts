/**
 * Hooks: commands a backup job runs before it reads anything and after it ends, to pause
 * writers or dump a database first (`hooks = { before, after, timeout }` on a resource or rule).
 *
 *   before: the rule's, then the resource's; the first that fails (exit ≠ 0, killed, timed
 *     out) fails the job before anything is read, and the later ones do not run
 *   after:  the resource's, then the rule's (the reverse), always, also after a failure or a
 *     PARTIAL stop, with the outcome in EFSBAK_STATE / _RECOVERY_POINT / _ERROR; a failing
 *     after is a warning on the job, never a failure
 *
 * A string runs through /bin/sh -c, an array directly, each in its own process group, which is
 * killed (TERM, then KILL 2 s later) at the timeout or when the job is stopped. The last 16 KiB
 * of stdout and stderr together go into the job record. The pure parts (environment, output
 * tail, records, messages) are apart from runProcess, the one place that spawns.
 */
import type { HookRecord } from "../vault/job-record.ts";
export type { HookRecord } from "../vault/job-record.ts";
import { spawn } from "node:child_process";
import { EfsbakError } from "../errors.ts";
import type { HookCommand, HooksSpec } from "../plan/plans.ts";

/** Output kept per hook (stdout and stderr together, the end of it). */
export const HOOK_OUTPUT_BYTES = 16 * 1024;
const KILL_GRACE_MS = 2_000;

/** A hooks table and where it was declared, for messages (`resource "fs-home"`). */
export interface HookSet extends HooksSpec {
  from: string;
}


/** What the job tells its hooks (as EFSBAK_* variables). */
export interface HookContext {
  jobId: string;
  resource: string;
  path: string;
  plan?: string | null;
  rule?: string | null;
  vault: string;
  /** after only: the outcome. */
  state?: string;
  recoveryPoint?: string | null;
  error?: string | null;
}

/** Variables never passed to a hook: the vault's password. */
const WITHHELD = ["EFSBAK_PASSWORD", "EFSBAK_PASSWORD_FILE", "EFSBAK_PASSWORD_COMMAND"];

/** The environment of a hook: ours, without the password, plus the EFSBAK_* variables. */
export function hookEnv(base: Record<string, string | undefined>, c: HookContext & { phase: "before" | "after" }): Record<string, string> {
  const phase = c.phase;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !WITHHELD.includes(k)) env[k] = v;
  Object.assign(env, {
    EFSBAK_HOOK: phase,
    EFSBAK_JOB_ID: c.jobId,
    EFSBAK_RESOURCE: c.resource,
    EFSBAK_PATH: c.path,
    EFSBAK_PLAN: c.plan ?? "",
    EFSBAK_RULE: c.rule ?? "",
    EFSBAK_VAULT: c.vault,
  });
  if (phase === "after") {
    Object.assign(env, { EFSBAK_STATE: c.state ?? "", EFSBAK_RECOVERY_POINT: c.recoveryPoint ?? "", EFSBAK_ERROR: c.error ?? "" });
  }
  return env;
}

/** A command as shown in records and messages. */
export function describeCommand(command: HookCommand): string {
  return typeof command === "string" ? command : command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ");
}

/** Keeps the last `limit` bytes written to it. */
export function createOutputTail(limit = HOOK_OUTPUT_BYTES): { write(chunk: Uint8Array): void; text(): string; dropped(): number } {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let dropped = 0;
  return {
    write(chunk) {
      chunks.push(chunk);
      kept += chunk.length;
      while (kept - chunks[0].length >= limit) {
        kept -= chunks[0].length;
        dropped += chunks.shift()!.length;
      }
    },
    text() {
      const all = new Uint8Array(kept);
      let at = 0;
      for (const c of chunks) all.set(c, at), (at += c.length);
      const cut = Math.max(0, kept - limit);
      // A cut inside a UTF-8 character shows as one replacement character, not an error.
      const body = new TextDecoder().decode(all.subarray(cut));
      return cut + dropped > 0 ? `[… ${cut + dropped} bytes before]\n${body}` : body;
    },
    dropped: () => dropped + Math.max(0, kept - limit),
  };
}

/** Why a hook counts as failed, or null when it succeeded. */
export function hookFailure(h: HookRecord, timeoutMs: number): string | null {
  if (h.timed_out) return `timed out after ${Math.round(timeoutMs / 1000)}s and was killed`;
  if (h.signal) return `was killed by ${h.signal}`;
  if (h.exit_code !== 0) return `exited with code ${h.exit_code}`;
  return null;
}

/** A `before` hook failed: the job fails, nothing is read. */
export class HookError extends EfsbakError {
  constructor(h: HookRecord, reason: string) {
    super(`Hook "before" of ${h.from} failed: "${h.command}" ${reason}`, {
      exitCode: 1,
      hint: 'nothing was read; its output is in the job record ("efsbak jobs --json")',
    });
  }
}

/** Options of runHooks. */
export interface RunHooksOptions {
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
}

/**
 * Runs the `before` hooks of sets in order (rule's first) and returns their records; throws
 * nothing: the failure, if any, comes back as `failed` (later hooks did not run).
 */
export async function runBeforeHooks(sets: HookSet[], c: HookContext, options: RunHooksOptions = {}): Promise<{ records: HookRecord[]; failed: HookError | null }> {
  const records: HookRecord[] = [];
  for (const set of sets) {
    if (!set.before) continue;
    const h = await runHook("before", set, c, options);
    records.push(h);
    const reason = hookFailure(h, set.timeoutMs);
    if (reason) return { records, failed: new HookError(h, reason) };
  }
  return { records, failed: null };
}

/** Runs every `after` hook (in reverse order of sets); failures come back as warnings. */
export async function runAfterHooks(sets: HookSet[], c: HookContext, options: RunHooksOptions = {}): Promise<{ records: HookRecord[]; warnings: string[] }> {
  const records: HookRecord[] = [];
  const warnings: string[] = [];
  for (const set of [...sets].reverse()) {
    if (!set.after) continue;
    const h = await runHook("after", set, c, { ...options, signal: undefined }); // after runs even when the job was stopped
    records.push(h);
    const reason = hookFailure(h, set.timeoutMs);
    if (reason) warnings.push(`Hook "after" of ${h.from} failed: "${h.command}" ${reason}`);
  }
  return { records, warnings };
}

async function runHook(phase: "before" | "after", set: HookSet, c: HookContext, options: RunHooksOptions): Promise<HookRecord> {
  const command = phase === "before" ? set.before! : set.after!;
  const r = await runProcess(command, { env: hookEnv(options.env ?? process.env, { ...c, phase }), timeoutMs: set.timeoutMs, signal: options.signal });
  const record: HookRecord = { phase, from: set.from, command: describeCommand(command), exit_code: r.exitCode, duration_ms: r.durationMs, output: r.output, timed_out: r.timedOut };
  if (r.signal) record.signal = r.signal;
  return record;
}

/** What runProcess saw. */
export interface ProcessResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  output: string;
}

/** Options of runProcess. */
export interface RunProcessOptions {
  env: Record<string, string>;
  timeoutMs: number;
  /** Written to the process's stdin, which is then closed (default: no stdin). */
  stdin?: string;
  signal?: AbortSignal;
  outputBytes?: number;
}

/**
 * Runs a command in its own process group and waits for it; kills the group at the timeout
 * or on abort. Never throws: a command that cannot start ends with exit code 127.
 */
export function runProcess(command: HookCommand, options: RunProcessOptions): Promise<ProcessResult> {
  const argv = typeof command === "string" ? ["/bin/sh", "-c", command] : command;
  const tail = createOutputTail(options.outputBytes ?? HOOK_OUTPUT_BYTES);
  const t0 = performance.now();
  return new Promise((resolvePromise) => {
    let timedOut = false;
    let settled = false;
    const child = spawn(argv[0], argv.slice(1), { env: options.env, detached: true, stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    let graceTimer: ReturnType<typeof setTimeout> | null = null;
    const stop = () => {
      killGroup("SIGTERM");
      graceTimer = setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, options.timeoutMs);
    options.signal?.addEventListener("abort", stop, { once: true });
    child.stdout?.on("data", (b: Buffer) => tail.write(b));
    child.stderr?.on("data", (b: Buffer) => tail.write(b));
    if (options.stdin !== undefined && child.stdin) {
      child.stdin.on("error", () => {}); // a command that does not read its stdin
      child.stdin.end(options.stdin);
    }
    const finish = (exitCode: number | null, signal: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (graceTimer) clearTimeout(graceTimer);
      options.signal?.removeEventListener("abort", stop);
      // Whatever the command left running in its group (a daemon it started) keeps going,
      // but is not waited for: its pipes are let go.
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolvePromise({ exitCode, signal, timedOut, durationMs: Math.round(performance.now() - t0), output: tail.text() });
    };
    child.on("error", (err) => {
      tail.write(new TextEncoder().encode(`cannot run "${argv[0]}": ${err.message}\n`));
      finish(127, null);
    });
    child.on("exit", (code, sig) => {
      // Give the pipes a moment to deliver the last output.
      let closed = false;
      child.on("close", () => {
        closed = true;
        finish(code, sig);
      });
      setTimeout(() => closed || finish(code, sig), 200);
    });
  });
}
