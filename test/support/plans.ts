/**
 * Plans for tests: the plan file most CLI and end-to-end tests share (vault "main" on local
 * disk, a few resources, then whatever plan, rules and restore tests the test needs), and the
 * work folder they run in (plans/ and the sources side by side).
 *
 *   work = planWorkdir("efsbak-cli-find-", { "p.toml": localPlan({ app: "app", other: "other" }) });
 *   makeTree(join(work, "app"), { … });
 *   …
 *   afterAll(() => removeWorkdir(work));
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A resource: its path (relative to the work folder), or its path and more lines of its table. */
export type ResourceSpec = string | { path: string; lines: string[] };

/**
 * A plan file: `[vaults.main]` at `url` (default "./vault") with `vault` lines, one
 * `[[resources]]` table per entry (id -> spec, in order), then `extra` as is.
 */
export function localPlan(resources: Record<string, ResourceSpec>, options: { url?: string; vault?: string[]; extra?: string } = {}): string {
  const out = ["", "[vaults.main]", `url = "${options.url ?? "./vault"}"`, ...(options.vault ?? [])];
  for (const [id, spec] of Object.entries(resources)) {
    const { path, lines } = typeof spec === "string" ? { path: spec, lines: [] } : spec;
    out.push("", "[[resources]]", `id = "${id}"`, `path = "${path}"`, ...lines);
  }
  return `${out.join("\n")}\n${options.extra ?? ""}`;
}

/** A fresh work folder under the temp dir, with plans/<name> for each entry of `plans`; returns its path. */
export function planWorkdir(prefix: string, plans: Record<string, string> = {}): string {
  const work = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(work, "plans"));
  for (const [name, toml] of Object.entries(plans)) writePlan(work, name, toml);
  return work;
}

/** Writes (or replaces) plans/<name> in a work folder. */
export function writePlan(work: string, name: string, toml: string): void {
  writeFileSync(join(work, "plans", name), toml);
}

/** Removes a work folder; nothing when it was never made. */
export function removeWorkdir(work: string | undefined): void {
  if (work) rmSync(work, { recursive: true, force: true });
}

/**
 * `[plan]` "nightly" with one rule, "daily" at 05:00 UTC, and one selection: `rule` and
 * `selection` are the lines of their tables after the fixed ones (a vault, a start window,
 * the resources or tags selected).
 */
export function nightlyPlan(options: { rule?: string[]; selection: string[] }): string {
  return ["", "[plan]", 'name = "nightly"', "", "[[plan.rules]]", 'name = "daily"', 'schedule = "cron(0 5 ? * * *)"', ...(options.rule ?? []), "", "[[plan.selections]]", ...options.selection, ""].join("\n");
}
