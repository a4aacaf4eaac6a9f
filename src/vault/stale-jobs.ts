/**
 * Jobs whose process died: a backup killed with -9, a host that lost power. Their records
 * stay RUNNING (nothing rewrites a job in place), so the next job that finds one (a backup
 * of the same resource, run, prune) marks it ABORTED.
 *
 * A job is dead when
 *   - it ran on this host and its pid is not alive, or
 *   - it ran on another host, holds no live lease (locks/, or its resource's leases/) under
 *     its host and pid, and its newest record is older than the lease TTL (a live job on
 *     another host keeps its leases fresh; one that holds none is given the TTL).
 */
import { processAlive } from "../process-id.ts";
import { hostname } from "node:os";
import type { Vault } from "./vault.ts";
import { FINAL_STATES, updateJobEntry, type JobEntry, type JobRecord } from "./job-record.ts";
import { LEASE_TTL_MS, liveHolders } from "./lock.ts";

/** How the liveness of other processes is judged (injectable for tests). */
export interface StaleOptions {
  /** Real clock, ms (never --now). */
  clock?: () => number;
  host?: string;
  isAlive?: (pid: number) => boolean;
  ttlMs?: number;
}

/** The entries among `entries` that are not finished and whose process died. */
export async function deadJobs(vault: Pick<Vault, "storage" | "keys">, entries: JobEntry[], options: StaleOptions = {}): Promise<JobEntry[]> {
  const open = entries.filter((e) => !FINAL_STATES.has(e.record.state));
  if (open.length === 0) return [];
  const clock = options.clock ?? Date.now;
  const host = options.host ?? hostname();
  const isAlive = options.isAlive ?? processAlive;
  const ttlMs = options.ttlMs ?? LEASE_TTL_MS;
  let holders: Set<string> | null = null;
  const dead: JobEntry[] = [];
  for (const e of open) {
    const j = e.record;
    if (j.host === host) {
      if (typeof j.pid === "number" && !isAlive(j.pid)) dead.push(e);
      continue;
    }
    if (clock() - e.mtimeMs <= ttlMs) continue;
    holders ??= await leaseHolders(vault, open, { clock, host, isAlive, ttlMs });
    if (!holders.has(`${j.host}\0${j.pid}`)) dead.push(e);
  }
  return dead;
}

/** Marks dead jobs ABORTED and returns their new records. */
export async function abortDeadJobs(vault: Pick<Vault, "storage" | "keys" | "saveJson">, entries: JobEntry[], options: StaleOptions & { now: Date; by: string }): Promise<JobRecord[]> {
  const out: JobRecord[] = [];
  for (const e of await deadJobs(vault, entries, options)) {
    const j = e.record;
    out.push(await updateJobEntry(vault, e, {
      state: "ABORTED",
      ended_at: j.ended_at ?? options.now.toISOString(),
      error: `Aborted: its process (host "${j.host}", pid ${j.pid}) ended without finishing the job (found by ${options.by})${j.error ? `; ${j.error}` : ""}`,
    }));
  }
  return out;
}

function leaseHolders(vault: Pick<Vault, "storage" | "keys">, open: JobEntry[], options: Required<StaleOptions>): Promise<Set<string>> {
  return liveHolders(vault, open.filter((e) => e.record.type === "backup" && e.record.resource).map((e) => e.record.resource!), options);
}

