/**
 * Progress on a TTY: one line on stderr, redrawn in place at most 10 times a second and
 * cleared at the end. Nothing at all off a TTY, with --json or with --quiet.
 */
import type { BackupProgress } from "../backup/backup.ts";
import type { Context } from "./context.ts";
import { formatBytes, formatCount, formatSeconds } from "./output.ts";

/** A progress display: feed it updates, then call done. */
export interface ProgressLine<T> {
  update(p: T): void;
  done(): void;
}

/** Draws lines built by `render` (given seconds elapsed) on the context's stderr TTY. */
export function progressLine<T>(ctx: Context, render: (p: T, seconds: number) => string): ProgressLine<T> {
  if (!ctx.interactive) return { update() {}, done() {} };
  const out = ctx.io.stderr;
  const t0 = performance.now();
  let last = 0;
  let drawn = false;
  const columns = () => (out as { columns?: number }).columns ?? 100;
  return {
    update(p) {
      const now = performance.now();
      if (now - last < 100) return;
      last = now;
      let line = render(p, (now - t0) / 1000);
      if (line.length > columns() - 1) line = `${line.slice(0, columns() - 2)}…`;
      out.write(`\r\x1b[2K${line}`);
      drawn = true;
    },
    done() {
      if (drawn) out.write("\r\x1b[2K");
      drawn = false;
    },
  };
}

/** Progress of a backup: files, bytes, rate, current path (the total is unknown up front). */
export function backupProgress(ctx: Context): ProgressLine<BackupProgress> {
  return progressLine<BackupProgress>(ctx, (p, s) =>
    `${formatCount(p.files)} files  ${formatBytes(p.bytesRead)} read  ${formatBytes(p.bytesRead / Math.max(s, 0.001))}/s  ${formatSeconds(s)}  ${p.currentPath}`);
}

/** Progress with a known total: adds percent and ETA. */
export function totalProgress<T extends { bytes: number; totalBytes: number; files: number; currentPath: string }>(ctx: Context, verb: string): ProgressLine<T> {
  return progressLine<T>(ctx, (p, s) => {
    const rate = p.bytes / Math.max(s, 0.001);
    const pct = p.totalBytes > 0 ? Math.min(100, (100 * p.bytes) / p.totalBytes) : 100;
    const eta = rate > 0 && p.totalBytes > p.bytes ? formatSeconds((p.totalBytes - p.bytes) / rate) : "-";
    return `${verb} ${pct.toFixed(1)}%  ${formatCount(p.files)} files  ${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}  ${formatBytes(rate)}/s  ETA ${eta}  ${p.currentPath}`;
  });
}
