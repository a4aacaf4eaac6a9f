/**
 * `--metrics-file PATH`: after any command, a Prometheus textfile (node_exporter's textfile
 * collector format) describing every vault the command opened, read back fresh from the vault
 * so it shows what the command left behind.
 *
 *   track the vaults the command opens (ctx.openVault)
 *   after the command: reopen each (same keys, no new password prompt), read jobs, recovery
 *   points and pack sizes -> samples -> text -> PATH.tmp-<pid>-<rand>, fsync, rename to PATH
 *
 * The rename makes the update atomic: node_exporter never reads half a file, and the temp
 * file's name does not end in ".prom", so the collector ignores it.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { FINAL_STATES, listJobs, type JobRecord } from "../vault/job-record.ts";
import { listLifecycleMarks, listRecoveryPoints, type RecoveryPoint } from "../vault/recovery-point.ts";
import { openVault, type Vault } from "../vault/vault.ts";
import type { CliIo, Context } from "./context.ts";

/** Jobs created this long before now are counted in efsbak_jobs. */
export const JOBS_WINDOW_MS = 24 * 3600 * 1000;

/** One sample: labels and value. */
interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** One metric family. */
interface Family {
  name: string;
  /** Default "gauge". */
  type?: "gauge" | "counter";
  help: string;
  samples: Sample[];
}

/** The vaults a command opened, by name. */
export interface VaultTracker {
  readonly opened: Map<string, Vault>;
}

/**
 * Records every vault the context opens (the newest open of each wins), under one label per
 * vault whatever spelling was typed: the plans' name of the vault at that location, else the
 * location itself (an absolute directory, or s3://bucket/prefix).
 */
export function trackVaults(ctx: Context): VaultTracker {
  const opened = new Map<string, Vault>();
  const open = ctx.openVault.bind(ctx);
  ctx.openVault = async (target, options) => {
    const v = await open(target, options);
    opened.set(vaultLabel(ctx, target.spec ? target.name : null, v.storage.location), v);
    return v;
  };
  return { opened };
}

function vaultLabel(ctx: Context, name: string | null, location: string): string {
  if (name !== null) return name;
  let plans;
  try {
    plans = ctx.plans();
  } catch {
    return location; // invalid plans: the command has said so already
  }
  for (const [planName, spec] of plans?.vaults ?? []) {
    try {
      if (ctx.storageOf({ name: planName, url: spec.url, spec }).storage.location === location) return planName;
    } catch {
      // a vault table that cannot be opened is not this vault
    }
  }
  return location;
}

/** Escapes a label value for the text format: backslash, double quote and newline. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Renders families in the text exposition format, HELP and TYPE before each. */
export function renderMetrics(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${f.name} ${f.type ?? "gauge"}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
      out.push(`${f.name}${labels ? `{${labels}}` : ""} ${formatValue(s.value)}`);
    }
  }
  return `${out.join("\n")}\n`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  return String(v);
}

/** What one vault holds, as metrics need it. */
export interface VaultFacts {
  name: string;
  jobs: JobRecord[];
  rps: RecoveryPoint[];
  packs: { tier: "warm" | "cold"; size: number }[];
  coldRps: Set<string>;
}

/** Reads the facts of a vault: all job records, recovery points and pack sizes. */
export async function vaultFacts(name: string, vault: Vault): Promise<VaultFacts> {
  const [jobs, rps, marks] = await Promise.all([listJobs(vault), listRecoveryPoints(vault), listLifecycleMarks(vault)]);
  return { name, jobs, rps, packs: vault.index.packList(), coldRps: new Set(marks.keys()) };
}

const seconds = (iso: string) => Date.parse(iso) / 1000;

/** Builds the metric families for some vaults at `now` (the plan clock). */
export function buildMetrics(vaults: VaultFacts[], now: Date): Family[] {
  const f = (name: string, help: string): Family => ({ name, help, samples: [] });
  const lastSuccess = f("efsbak_last_success_timestamp_seconds", "End time of the newest backup job that COMPLETED, per resource (Unix seconds)");
  const duration = f("efsbak_job_duration_seconds", "Duration of the newest finished job of each type, per resource (empty resource: vault-wide jobs such as prune and check)");
  const bytes = f("efsbak_job_bytes", "Bytes of the newest finished backup job, per resource: read from the source, new to the vault, stored after compression");
  const files = f("efsbak_job_files", "Files in the newest finished backup job, per resource");
  const skippedEntries = f("efsbak_last_backup_skipped_entries", "Entries the newest finished backup job could not read and left out, per resource (job PARTIAL when above 0)");
  const counts = f("efsbak_jobs", `Jobs created in the last ${JOBS_WINDOW_MS / 3600_000}h, by resource, type and state`);
  const vaultBytes = f("efsbak_vault_bytes", "Bytes of pack files in the vault, by storage tier");
  const rpCount = f("efsbak_recovery_points", "Recovery points in the vault, per resource");
  const newestRp = f("efsbak_newest_recovery_point_timestamp_seconds", "Creation time of the newest AVAILABLE recovery point, per resource (Unix seconds)");
  const ttr = f("efsbak_drill_time_to_restore_seconds", "Time to restore of the newest drill that restored its recovery point, per resource");
  const drillOk = f("efsbak_drill_last_success_timestamp_seconds", "End time of the newest drill that COMPLETED, per resource (Unix seconds)");
  const since = now.getTime() - JOBS_WINDOW_MS;

  for (const v of vaults) {
    const newest = new Map<string, JobRecord>();
    const success = new Map<string, JobRecord>();
    const lastBackup = new Map<string, JobRecord>();
    const lastDrill = new Map<string, JobRecord>();
    const drillSuccess = new Map<string, JobRecord>();
    const windowCounts = new Map<string, { resource: string; type: string; state: string; n: number }>();
    // listJobs is newest first: the first job seen for a key is the newest.
    for (const j of v.jobs) {
      const resource = j.resource ?? "";
      const finished = FINAL_STATES.has(j.state) && j.started_at && j.ended_at;
      if (finished && !newest.has(`${resource}\0${j.type}`)) newest.set(`${resource}\0${j.type}`, j);
      if (j.type === "backup") {
        if (j.state === "COMPLETED" && j.ended_at && !success.has(resource)) success.set(resource, j);
        if ((j.state === "COMPLETED" || j.state === "PARTIAL") && !lastBackup.has(resource)) lastBackup.set(resource, j);
      }
      if (j.type === "drill") {
        const d = j.details as { time_to_restore_ms?: number | null } | undefined;
        if (typeof d?.time_to_restore_ms === "number" && !lastDrill.has(resource)) lastDrill.set(resource, j);
        if (j.state === "COMPLETED" && j.ended_at && !drillSuccess.has(resource)) drillSuccess.set(resource, j);
      }
      if (Date.parse(j.created_at) >= since) {
        const key = `${resource}\0${j.type}\0${j.state}`;
        const c = windowCounts.get(key) ?? { resource, type: j.type, state: j.state, n: 0 };
        c.n++;
        windowCounts.set(key, c);
      }
    }
    const base = (resource: string) => ({ vault: v.name, resource });
    for (const [resource, j] of sorted(success)) lastSuccess.samples.push({ labels: base(resource), value: seconds(j.ended_at!) });
    for (const [, j] of sorted(newest)) duration.samples.push({ labels: { ...base(j.resource ?? ""), type: j.type }, value: (Date.parse(j.ended_at!) - Date.parse(j.started_at!)) / 1000 });
    for (const [resource, j] of sorted(lastBackup)) {
      bytes.samples.push({ labels: { ...base(resource), kind: "read" }, value: j.bytes_read }, { labels: { ...base(resource), kind: "new" }, value: j.bytes_new }, { labels: { ...base(resource), kind: "stored" }, value: j.bytes_stored });
      files.samples.push({ labels: base(resource), value: j.files });
      skippedEntries.samples.push({ labels: base(resource), value: j.skipped_count ?? 0 });
    }
    for (const [, c] of sorted(windowCounts)) counts.samples.push({ labels: { ...base(c.resource), type: c.type, state: c.state }, value: c.n });
    const tiers = { warm: 0, cold: 0 };
    for (const p of v.packs) tiers[p.tier] += p.size;
    vaultBytes.samples.push({ labels: { vault: v.name, tier: "warm" }, value: tiers.warm }, { labels: { vault: v.name, tier: "cold" }, value: tiers.cold });
    const perResource = new Map<string, { n: number; newest: string | null }>();
    for (const rp of v.rps) {
      const e = perResource.get(rp.resource) ?? { n: 0, newest: null };
      e.n++;
      if (rp.status === "AVAILABLE" && (e.newest === null || rp.created_at > e.newest)) e.newest = rp.created_at;
      perResource.set(rp.resource, e);
    }
    for (const [resource, e] of sorted(perResource)) {
      rpCount.samples.push({ labels: base(resource), value: e.n });
      if (e.newest) newestRp.samples.push({ labels: base(resource), value: seconds(e.newest) });
    }
    for (const [resource, j] of sorted(lastDrill)) ttr.samples.push({ labels: base(resource), value: ((j.details as { time_to_restore_ms: number }).time_to_restore_ms) / 1000 });
    for (const [resource, j] of sorted(drillSuccess)) drillOk.samples.push({ labels: base(resource), value: seconds(j.ended_at!) });
  }
  return [lastSuccess, duration, bytes, files, skippedEntries, counts, vaultBytes, rpCount, newestRp, ttr, drillOk];
}

function sorted<V>(m: Map<string, V>): [string, V][] {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Writes text to path atomically: a temp file beside it, fsync, rename. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(16).slice(2, 10)}`);
  const fd = openSync(tmp, "wx", 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Writes the metrics file for the vaults a command opened, and returns the exit code to use:
 * the command's own, or 1 when the file could not be written after an otherwise good run.
 */
export async function writeMetricsAfter(ctx: Context | null, options: { tracker?: VaultTracker; exitCode: number; io?: CliIo; path?: string }): Promise<number> {
  const { exitCode } = options;
  const io = ctx?.io ?? options.io!;
  const path = resolve(io.cwd, ctx?.flags.metricsFile ?? options.path!);
  const now = ctx?.now() ?? new Date();
  try {
    const facts: VaultFacts[] = [];
    for (const [name, v] of [...(options.tracker?.opened ?? [])].sort(([a], [b]) => (a < b ? -1 : 1))) {
      try {
        // Reopen: the command may have added index files or repacked since it opened the vault.
        const fresh = await openVault(v.storage, { cold: v.cold, config: v.config, keys: v.keys, onIndexDamage: () => {} });
        facts.push(await vaultFacts(name, fresh));
      } catch (err) {
        // A vault that failed the command may fail here too: the run's own metrics still go out.
        ctx?.log.verbose(`No vault metrics for "${name}": ${(err as Error)?.message}`);
      }
    }
    const retries = ctx ? retryMetrics(ctx.storageRetries, options.tracker) : [];
    writeFileAtomic(path, renderMetrics([...lastRunMetrics(now, exitCode), ...retries, ...buildMetrics(facts, now)]));
    ctx?.log.verbose(`Wrote metrics to ${path}`);
    return exitCode;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    io.stderr.write(`error: Cannot write metrics file "${path}": ${e.code ?? e.message}\nhint: check that its directory exists and is writable\n`);
    return exitCode === 0 ? 1 : exitCode;
  }
}

/**
 * Retries of storage requests by the command that wrote the file, per vault (0 for a vault
 * opened without any): a counter that starts at 0 with each command.
 */
function retryMetrics(byLocation: ReadonlyMap<string, number>, tracker: VaultTracker | undefined): Family[] {
  const counts = new Map<string, number>();
  const names = new Map<string, string>();
  for (const [name, v] of tracker?.opened ?? []) {
    names.set(v.storage.location, name);
    counts.set(name, 0);
  }
  for (const [location, n] of byLocation) {
    const name = names.get(location) ?? location;
    counts.set(name, (counts.get(name) ?? 0) + n);
  }
  return [{
    name: "efsbak_storage_retries_total",
    type: "counter",
    help: "Storage requests the command that wrote this file retried (transient errors, timeouts, a missing object the vault names), per vault",
    samples: sorted(counts).map(([vault, value]) => ({ labels: { vault }, value })),
  }];
}

/** What every metrics file says, whatever the command did: when it ran and how it ended. */
function lastRunMetrics(now: Date, exitCode: number): Family[] {
  return [
    { name: "efsbak_last_run_timestamp_seconds", help: "When the efsbak command that wrote this file ended (Unix seconds, plan clock)", samples: [{ labels: {}, value: now.getTime() / 1000 }] },
    { name: "efsbak_last_run_exit_code", help: "Exit code of the efsbak command that wrote this file (0 success, 1 failure, 2 usage, 3 partial, 4 locked)", samples: [{ labels: {}, value: exitCode }] },
  ];
}
