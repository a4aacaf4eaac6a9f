/**
 * Reading a plans directory: every `*.toml` under it.
 *
 *   loadPlans(dir)
 *     list *.toml recursively (hidden entries skipped), sorted  → one display name per file
 *     parseToml each file        → syntax problems, or data + positions
 *     validatePlans(all files)   → Plans + every other problem (per file, then across files)
 *     any problem                → PlanError with all of them, sorted by file, line, col
 *
 * The invariants of the Plans returned are in plans.ts.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PlanError, type PlanProblem } from "../errors.ts";
import { parseToml, type ParsedFile } from "./parse.ts";
import { sortProblems, type Plans } from "./plans.ts";
import { MAX_PLAN_BYTES, checkTomlLimits } from "./toml-limits.ts";
import { validatePlans } from "./validate.ts";

/** Options of loadPlans. */
export interface LoadPlansOptions {
  /** Relative resource paths are resolved against this directory. */
  baseDir: string;
  /** Report resource paths that do not exist (default true). */
  checkPaths?: boolean;
}

/** Reads and validates every plan file under dir; throws PlanError listing every problem. */
export function loadPlans(dir: string, options: LoadPlansOptions): Plans {
  const names = listPlanFiles(dir);
  const problems: PlanProblem[] = [];
  const parsed: ParsedFile[] = [];
  for (const rel of names) {
    const file = join(dir, rel);
    const size = statSync(file).size;
    // A file past the limit is not even read (parseToml checks the same limit on text).
    const result = size > MAX_PLAN_BYTES ? { problem: checkTomlLimits(file, "", size)! } : parseToml(file, readFileSync(file, "utf8"));
    if ("problem" in result) problems.push(result.problem);
    else parsed.push(result.parsed);
  }
  const checkPaths = options.checkPaths ?? true;
  const validated = validatePlans(dir, parsed, {
    baseDir: options.baseDir,
    pathExists: checkPaths ? existsSync : undefined,
    incomplete: problems.length > 0,
  });
  problems.push(...validated.problems);
  if (problems.length > 0) throw new PlanError(sortProblems(problems));
  return validated.plans;
}

function listPlanFiles(dir: string): string[] {
  const problem = (message: string) => new PlanError([{ file: dir, line: 1, col: 1, message }]);
  if (!existsSync(dir)) throw problem(`Cannot read plans directory "${dir}": it does not exist`);
  if (!statSync(dir).isDirectory()) throw problem(`Cannot read plans directory "${dir}": it is not a directory`);
  const names = (readdirSync(dir, { recursive: true, encoding: "utf8" }) as string[])
    .filter((rel) => rel.endsWith(".toml") && !rel.split(/[\\/]/).some((part) => part.startsWith(".")))
    .filter((rel) => statSync(join(dir, rel)).isFile())
    .sort();
  if (names.length === 0) throw problem(`Cannot load plans from "${dir}": it holds no *.toml files`);
  return names;
}
