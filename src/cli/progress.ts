/**
 * Progress on a TTY: one line on stderr, redrawn in place at most 10 times a second and
 * cleared at the end. Nothing at all off a TTY, with --json or with --quiet.
 */
import type { BackupProgress } from "../backup/backup.ts";
import { type ScanTotals, scanTotals } from "../backup/scan.ts";
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import type { Context } from "./context.ts";
import { formatBytes, formatCount, formatSeconds } from "./output.ts";

/** A progress display: feed it updates, then call done. */
export interface ProgressLine<T> {
  update(p: T): void;
  done(): void;
}

/** Fits "text  path" into a line of `width` characters, shortening the path from the left. */
export function fitLine(text: string, { path, width }: { path: string; width: number }): string {
  const full = path ? `${text}  ${path}` : text;
  if (full.length <= width) return full;
  const room = width - text.length - 3;
  if (path && room >= 8) return `${text}  …${path.slice(path.length - room)}`;
  return `${text.slice(0, Math.max(1, width - 1))}…`;
}

/**
 * Draws lines built by `render` (given seconds elapsed) on the context's stderr TTY. A render
 * may return [text, current path]: the path is shortened from the left to fit the terminal.
 */
export function progressLine<T>(ctx: Context, render: (p: T, seconds: number) => string | [string, string], options: { phaseOf?: (p: T) => string } = {}): ProgressLine<T> {
  if (!ctx.interactive) return { update() {}, done() {} };
  const out = ctx.io.stderr;
  const t0 = performance.now();
  let last = 0;
  let drawn = false;
  let phase: string | undefined;
  // A pseudo-terminal may report 0 columns (e.g. under script(1)): assume 100 then.
  const columns = () => {
    const c = (out as { columns?: number }).columns;
    return c && c >= 20 ? c : 100;
  };
  return {
    update(p) {
      const now = performance.now();
      // A new phase is drawn at once, so that even a short one shows.
      const next = options.phaseOf?.(p);
      if (now - last < 100 && next === phase) return;
      phase = next;
      last = now;
      const r = render(p, (now - t0) / 1000);
      const line = typeof r === "string" ? fitLine(r, { path: "", width: columns() - 1 }) : fitLine(r[0], { path: r[1], width: columns() - 1 });
      out.write(`\r\x1b[2K${line}`);
      drawn = true;
    },
    done() {
      if (drawn) out.write("\r\x1b[2K");
      drawn = false;
    },
  };
}

/**
 * Progress of a backup: files, bytes, rate, current path. The total is unknown up front: a
 * quick scan beside the backup counts it (backup/scan.ts), and until it is done the size of
 * the parent recovery point stands in; either gives percent and ETA.
 */
export function backupProgress(ctx: Context, estimateBytes?: number, scan?: ScanTotals): ProgressLine<BackupProgress> {
  return progressLine<BackupProgress>(ctx, (p, s) => {
    const rate = p.bytesRead / Math.max(s, 0.001);
    const seen = p.bytesRead + p.bytesSkipped;
    let eta = "";
    const total = scan?.done ? scan.bytes : estimateBytes;
    if (scan && !scan.done && !estimateBytes) eta = `  (counting: ${formatCount(scan.files)} files, ${formatBytes(scan.bytes)})`;
    if (total && total > 0) {
      const estimateBytes = total;
      const pct = Math.min(99.9, (100 * seen) / estimateBytes);
      const left = Math.max(0, estimateBytes - seen);
      const pace = seen / Math.max(s, 0.001);
      eta = `  ~${pct.toFixed(1)}%  ETA ${pace > 0 && left > 0 ? formatSeconds(left / pace) : "-"}`;
    }
    const skipped = p.bytesSkipped > 0 ? ` (+${formatBytes(p.bytesSkipped)} unchanged)` : "";
    const files = scan?.done ? `${formatCount(p.files)}/${formatCount(scan.files)}` : formatCount(p.files);
    return [`backing up ${files} files  ${formatBytes(p.bytesRead)} read${skipped}  ${formatBytes(rate)}/s${eta}  ${formatSeconds(s)}`, p.currentPath];
  });
}

/** On a terminal only: a quick count of what the backup of `path` will see (stop it when the backup ends). */
export function backupScan(ctx: Context, path: string): ScanTotals | undefined {
  return ctx.interactive ? scanTotals(path) : undefined;
}

/** The size of the resource's newest recovery point, as the ETA estimate of its next backup; only looked up on a TTY. */
export async function backupEstimate(ctx: Context, { vault, resource }: { vault: Vault; resource: string }): Promise<number | undefined> {
  if (!ctx.interactive) return undefined;
  const rps = await listRecoveryPoints(vault).catch(() => []);
  return rps.filter((r) => r.resource === resource && (r.status === "AVAILABLE" || r.status === "PARTIAL")).at(-1)?.size_bytes;
}

/** Progress counted in steps of named phases (check, prune): phase, done/total, rate, ETA. */
export interface PhaseProgress {
  phase: string;
  done: number;
  /** 0 while unknown. */
  total: number;
  /** Bytes moved so far in this phase, when the phase moves bytes. */
  bytes?: number;
}

/** Draws phase progress; the rate and ETA restart with each phase. */
export function phaseProgress(ctx: Context, { verb, units = {} }: { verb: string; units?: Record<string, string> }): ProgressLine<PhaseProgress> {
  let phase = "";
  let phaseStart = 0;
  const line = progressLine<PhaseProgress>(ctx, (p, s) => {
    if (p.phase !== phase) {
      phase = p.phase;
      phaseStart = s;
    }
    const t = Math.max(s - phaseStart, 0.001);
    const unit = units[p.phase] ?? "";
    const rate = p.done / t;
    const counts = p.total > 0 ? `${formatCount(p.done)}/${formatCount(p.total)}${unit}  ${Math.min(100, (100 * p.done) / p.total).toFixed(1)}%` : `${formatCount(p.done)}${unit}`;
    // Rates over the first moments of a phase mean little: show them after 0.3 s.
    const settled = t >= 0.3;
    const eta = settled && p.total > 0 && rate > 0 && p.done < p.total ? `  ETA ${formatSeconds((p.total - p.done) / rate)}` : "";
    const bytes = p.bytes ? `  ${formatBytes(p.bytes)}${settled ? `  ${formatBytes(p.bytes / t)}/s` : ""}` : settled ? `  ${rate.toFixed(rate < 10 ? 1 : 0)}/s` : "";
    return `${verb}: ${p.phase} ${counts}${bytes}${eta}  ${formatSeconds(s)}`;
  }, { phaseOf: (p) => p.phase });
  return line;
}

/** Progress of a drill: restoring, then verifying, each with percent and ETA. */
export function drillProgress<T extends { phase: string; bytes: number; totalBytes: number; files: number; currentPath: string }>(ctx: Context, resource: string): ProgressLine<T> {
  let phase = "";
  let phaseStart = 0;
  return progressLine<T>(ctx, (p, s) => {
    if (p.phase !== phase) {
      phase = p.phase;
      phaseStart = s;
    }
    const t = Math.max(s - phaseStart, 0.001);
    const rate = p.bytes / t;
    const pct = p.totalBytes > 0 ? Math.min(100, (100 * p.bytes) / p.totalBytes) : 100;
    const eta = rate > 0 && p.totalBytes > p.bytes ? formatSeconds((p.totalBytes - p.bytes) / rate) : "-";
    return [`drill ${resource}: ${p.phase} ${pct.toFixed(1)}%  ${formatCount(p.files)} files  ${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}  ${formatBytes(rate)}/s  ETA ${eta}`, p.currentPath];
  }, { phaseOf: (p) => p.phase });
}

/** Progress with a known total: adds percent and ETA. */
export function totalProgress<T extends { bytes: number; totalBytes: number; files: number; currentPath: string }>(ctx: Context, verb: string): ProgressLine<T> {
  return progressLine<T>(ctx, (p, s) => {
    const rate = p.bytes / Math.max(s, 0.001);
    const pct = p.totalBytes > 0 ? Math.min(100, (100 * p.bytes) / p.totalBytes) : 100;
    const eta = rate > 0 && p.totalBytes > p.bytes ? formatSeconds((p.totalBytes - p.bytes) / rate) : "-";
    return [`${verb} ${pct.toFixed(1)}%  ${formatCount(p.files)} files  ${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}  ${formatBytes(rate)}/s  ETA ${eta}`, p.currentPath];
  });
}
