/**
 * The console's JSON API (and downloads), one handler per route. Every vault is read on its
 * own, so one that is damaged or unreachable shows as an error beside the others; damaged
 * records (a job, a recovery point, an index file) are skipped and listed as problems.
 *
 *   GET  /api/info                      vaults, read-only, clock
 *   GET  /api/dashboard                 per vault: job counts 24 h / 7 d, resources, failures, sizes
 *   GET  /api/jobs?vault&state&type&resource
 *   GET  /api/job?vault&id
 *   GET  /api/rps?vault                 recovery points with status, tier, lifecycle dates
 *   GET  /api/ls?vault&rp&path&offset&limit
 *   GET  /api/download?vault&rp&path    a file's bytes, or a directory as tar
 *   POST /api/restore {vault, rp, path, target}   (refused when read-only)
 *   GET  /api/restores, /api/restore?id
 *   GET  /api/plans                     rules, schedules in words, next runs, last outcomes
 *   GET  /api/history?vault             the chart's columns
 */
import { resolveRecoveryPoint } from "../cli/rp-ref.ts";
import { isAbsolute } from "node:path";
import { EfsbakError, PlanError, UsageError } from "../errors.ts";
import { listJobs, type JobRecord } from "../vault/job-record.ts";
import type { Plans } from "../plan/plans.ts";
import { planLifecycle, type VaultLock } from "../prune/policy.ts";
import { displayName } from "../tree/name.ts";
import { listLifecycleMarks, listRecoveryPoints, type RecoveryPoint } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import { directoryTar, fileContent, listDirectory, locate, UnknownItemError, parsePath, treeLoader } from "./browse.ts";
import { planRules } from "./plans-view.ts";
import type { RestoreTasks } from "./restore-task.ts";
import { jobHistory, summarizeVault } from "./summary.ts";
import { UnknownVaultError, type VaultSet } from "./vaults.ts";

/** What the API reads and starts. */
export interface ApiDeps {
  vaults: VaultSet;
  /** The plans (throws PlanError when they are invalid); null without plans. */
  plans: () => Plans | null;
  lockOf: (vault: string) => VaultLock | undefined;
  now: () => Date;
  readOnly: boolean;
  tasks: RestoreTasks;
  version: string;
  /** Where failures that cannot be answered go (a download cut short by damage). */
  warn: (message: string) => void;
}

type Handler = (url: URL, req: Request, deps: ApiDeps) => Promise<Response>;

const PAGE_MAX = 1000;

const ROUTES: Record<string, Handler> = {
  "GET /api/info": async (_u, _r, d) => json({ vaults: d.vaults.vaults, readOnly: d.readOnly, now: d.now().toISOString(), version: d.version }),
  "GET /api/dashboard": dashboard,
  "GET /api/jobs": async (u, _r, d) => {
    const name = param(u, "vault");
    const problems: string[] = [];
    const jobs = await listJobs(await d.vaults.get(name), { state: u.searchParams.get("state") || undefined, type: u.searchParams.get("type") || undefined, resource: u.searchParams.get("resource") || undefined }, { onDamage: (e) => problems.push(e.message) });
    return json({ jobs, problems });
  },
  "GET /api/job": async (u, _r, d) => {
    const id = param(u, "id");
    const jobs = await listJobs(await d.vaults.get(param(u, "vault")), {}, { onDamage: () => {} });
    const job = jobs.find((j) => j.id === id);
    if (!job) throw new UnknownItemError(`Cannot find job "${id}" in vault "${param(u, "vault")}"`);
    return json({ job });
  },
  "GET /api/rps": async (u, _r, d) => {
    const name = param(u, "vault");
    const problems: string[] = [];
    const vault = await d.vaults.get(name);
    const rps = await listRecoveryPoints(vault, { onDamage: (e) => problems.push(e.message) });
    return json({ recovery_points: await rpStates(vault, rps, { lock: d.lockOf(name), now: d.now(), problems }), problems });
  },
  "GET /api/ls": async (u, _r, d) => {
    const { vault, rp } = await recoveryPoint(u, d);
    const offset = Number(u.searchParams.get("offset") ?? 0) || 0;
    const limit = Math.min(PAGE_MAX, Number(u.searchParams.get("limit") ?? 200) || 200);
    const page = await listDirectory(treeLoader(vault), rp, { path: u.searchParams.get("path") ?? "", offset, limit });
    return json({ rp: rp.id, resource: rp.resource, created_at: rp.created_at, ...page });
  },
  "GET /api/download": download,
  "POST /api/restore": startRestore,
  "GET /api/restores": async (_u, _r, d) => json({ restores: d.tasks.list() }),
  "GET /api/restore": async (u, _r, d) => {
    const task = d.tasks.get(param(u, "id"));
    if (!task) throw new UnknownItemError(`Cannot find restore "${param(u, "id")}"`);
    return json({ restore: task });
  },
  "GET /api/plans": plansPage,
  // damaged records are listed on the dashboard; the chart leaves them out
  "GET /api/history": async (u, _r, d) => json(jobHistory(await listJobs(await d.vaults.get(param(u, "vault")), {}, { onDamage: () => {} }), { now: d.now() })),
};

/** Answers an /api/ request; errors become JSON with a status (404, 400, 403, 502, 500). */
export async function handleApi(url: URL, req: Request, deps: ApiDeps): Promise<Response> {
  const route = ROUTES[`${req.method} ${url.pathname}`];
  if (!route) return json({ error: { message: `No such route: ${req.method} ${url.pathname}` } }, 404);
  try {
    return await route(url, req, deps);
  } catch (err) {
    return errorResponse(err);
  }
}

/** An error as the page shows it. */
export function errorDoc(err: unknown): { message: string; hint?: string } {
  if (err instanceof EfsbakError) return err.hint ? { message: err.message, hint: err.hint } : { message: err.message };
  if (err instanceof UnknownVaultError) return { message: err.message };
  return { message: `internal error: ${(err as Error)?.message ?? String(err)}` };
}

function errorResponse(err: unknown): Response {
  const status = err instanceof UnknownVaultError || err instanceof UnknownItemError ? 404
    : err instanceof UsageError || (err instanceof EfsbakError && err.exitCode === 2) ? 400
    : err instanceof EfsbakError ? 502
    : 500;
  return json({ error: errorDoc(err) }, status);
}

async function dashboard(_u: URL, _r: Request, d: ApiDeps): Promise<Response> {
  const now = d.now();
  const vaults = await Promise.all(d.vaults.vaults.map(async (info) => {
    try {
      const vault = await d.vaults.get(info.name);
      const problems = [...d.vaults.indexProblems(info.name)];
      const onDamage = (e: EfsbakError) => problems.push(e.message);
      const [jobs, rps, stored] = await Promise.all([listJobs(vault, {}, { onDamage }), listRecoveryPoints(vault, { onDamage }), storedBytes(vault)]);
      const summary = summarizeVault(jobs, rps, { now });
      return { ...info, ok: true, problems, summary, stored, dedupRatio: stored.warm + stored.cold > 0 ? summary.logicalBytes / (stored.warm + stored.cold) : null };
    } catch (err) {
      return { ...info, ok: false, error: errorDoc(err) };
    }
  }));
  return json({ now: now.toISOString(), vaults });
}

async function storedBytes(vault: Vault): Promise<{ warm: number; cold: number; packs: number }> {
  let warm = 0;
  let cold = 0;
  let packs = 0;
  for await (const o of vault.storage.list("packs/")) {
    warm += o.size;
    packs++;
  }
  if (vault.cold !== vault.storage) {
    for await (const o of vault.cold.list("packs/")) {
      cold += o.size;
      packs++;
    }
  }
  return { warm, cold, packs };
}

async function rpStates(vault: Vault, rps: RecoveryPoint[], o: { lock: VaultLock | undefined; now: Date; problems: string[] }): Promise<Record<string, unknown>[]> {
  const { lock, now } = o;
  let marks: Map<string, unknown>;
  try {
    marks = await listLifecycleMarks(vault);
  } catch (err) {
    o.problems.push(`Cannot read the lifecycle marks, so tiers show as warm: ${errorDoc(err).message}`);
    marks = new Map();
  }
  // Past retention but kept by the vault lock: EXPIRED, as `efsbak recovery-points` shows it.
  const expired = new Set(planLifecycle(rps, { now, lock, cold: new Set(marks.keys()) }).filter((x) => x.action === "expired").map((x) => x.rp));
  return rps.map((r) => ({
    id: r.id, resource: r.resource, source_path: r.source_path, plan: r.plan, rule: r.rule, created_at: r.created_at, completed_at: r.completed_at,
    status: expired.has(r.id) ? "EXPIRED" : r.status, tier: marks.has(r.id) ? "cold" : "warm", cold_at: r.cold_at, delete_at: r.delete_at,
    size_bytes: r.size_bytes, files: r.files, bytes_new: r.bytes_new, tags: r.tags, host: r.host, parent: r.parent, warnings: r.warnings.length,
  }));
}

async function recoveryPoint(u: URL, d: ApiDeps): Promise<{ name: string; vault: Vault; rp: RecoveryPoint; rps: RecoveryPoint[] }> {
  const name = param(u, "vault");
  // Blobs are read: an index older than the recovery point would not find them.
  const vault = await d.vaults.fresh(name);
  const rps = await listRecoveryPoints(vault, { onDamage: () => {} }); // listed on the recovery points page
  let rp: RecoveryPoint;
  try {
    rp = resolveRecoveryPoint(rps, param(u, "rp"));
  } catch (err) {
    // exit code 1: none has that id (404); 2: too short or ambiguous (400)
    throw err instanceof EfsbakError && err.exitCode === 1 ? new UnknownItemError(err.message) : err;
  }
  return { name, vault, rp, rps };
}

async function download(u: URL, _r: Request, d: ApiDeps): Promise<Response> {
  // Headers are sent before the content is read: damage found on the way cuts the download
  // short (the browser reports it failed) rather than saving wrong bytes.
  const { vault, rp } = await recoveryPoint(u, d);
  const path = u.searchParams.get("path") ?? "";
  const load = treeLoader(vault);
  const at = await locate(load, rp, { path });
  // The root is named after the resource; a resource that is a path ("/srv/data") by its last part.
  const rootName = at.names.length ? at.names[at.names.length - 1] : (rp.resource.split("/").filter(Boolean).pop() ?? "root");
  const base = displayName(rootName);
  if (at.node && at.node.type === "file") {
    const node = at.node;
    return new Response(readable(fileContent(vault, node), failedDownload(d, path)), { headers: { "content-type": "application/octet-stream", "content-length": String(node.size), "content-disposition": disposition(base) } });
  }
  if (at.treeId === null) throw new UsageError(`Cannot download "${path}": only files and directories can be downloaded`);
  return new Response(readable(directoryTar(vault, at.treeId, { load, name: rootName, node: at.node, rp }), failedDownload(d, path)), { headers: { "content-type": "application/x-tar", "content-disposition": disposition(`${base}.tar`) } });
}

async function startRestore(_u: URL, req: Request, d: ApiDeps): Promise<Response> {
  if (d.readOnly) return json({ error: { message: "Cannot restore: the console is read-only", hint: "start it without --read-only to restore from the page" } }, 403);
  const body = (await req.json().catch(() => null)) as { vault?: unknown; rp?: unknown; path?: unknown; target?: unknown } | null;
  if (!body || typeof body.vault !== "string" || typeof body.rp !== "string" || typeof body.target !== "string" || (body.path !== undefined && typeof body.path !== "string")) {
    throw new UsageError("Cannot restore: give vault, rp, target (and path) as JSON strings");
  }
  if (!isAbsolute(body.target)) throw new UsageError(`Cannot restore into "${body.target}": give an absolute path`);
  const u = new URL("http://x/");
  u.searchParams.set("vault", body.vault);
  u.searchParams.set("rp", body.rp);
  const { name, vault, rp, rps } = await recoveryPoint(u, d);
  const path = (body.path as string | undefined) ?? "";
  await locate(treeLoader(vault), rp, { path }); // a path that names nothing is refused before a job is made
  const task = d.tasks.start({ vault, vaultName: name, rp, rps, include: parsePath(path).join("/"), path, target: body.target });
  return json({ restore: task }, 202);
}

async function plansPage(_u: URL, _r: Request, d: ApiDeps): Promise<Response> {
  let plans: Plans | null;
  try {
    plans = d.plans();
  } catch (err) {
    const problems = err instanceof PlanError ? err.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`) : [errorDoc(err).message];
    return json({ rules: [], problems });
  }
  if (!plans) return json({ rules: [], problems: [], noPlans: true });
  const problems: string[] = [];
  const jobsByVault = new Map<string, JobRecord[]>();
  const used = [...new Set(plans.plans.flatMap((p) => p.rules.map((r) => r.vault)))];
  await Promise.all(used.map(async (name) => {
    try {
      jobsByVault.set(name, await listJobs(await d.vaults.get(name), {}, { onDamage: (e) => problems.push(`vault "${name}": ${e.message}`) }));
    } catch (err) {
      problems.push(`vault "${name}": ${errorDoc(err).message}`);
    }
  }));
  return json({ rules: planRules(plans, jobsByVault, { now: d.now() }), problems, timezoneNote: "occurrences are shown in each rule's time zone" });
}

function failedDownload(d: ApiDeps, path: string): (err: unknown) => void {
  return (err) => d.warn(`Download of "${path || "/"}" cut short: ${errorDoc(err).message}`);
}

/** A response body from pieces; a failure is reported once and ends the body early. */
function readable(source: AsyncIterable<Uint8Array>, onError: (err: unknown) => void): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        const r = await it.next();
        if (r.done) c.close();
        else c.enqueue(r.value);
      } catch (err) {
        onError(err);
        // Errored with no reason: the connection is reset all the same, and Bun does not print
        // the reason again with a page of (minified) source around it.
        c.error(undefined);
      }
    },
    async cancel() {
      await it.return?.();
    },
  });
}

function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

function param(u: URL, name: string): string {
  const v = u.searchParams.get(name);
  if (!v) throw new UsageError(`Missing parameter "${name}"`);
  return v;
}

function json(doc: unknown, status = 200): Response {
  return new Response(JSON.stringify(doc), { status, headers: { "content-type": "application/json; charset=utf-8" } });
}
