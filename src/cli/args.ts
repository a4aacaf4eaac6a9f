/**
 * Argument handling around citty: global flags (accepted anywhere on the line), repeatable
 * options (`--tag a=b --tag c=d`), options whose value is optional (`--read-data[=10%]`),
 * and refusal of unknown options, which citty would silently ignore.
 */
import type { ArgsDef } from "citty";
import { UsageError } from "../errors.ts";

/** Flags every command takes. */
export interface GlobalFlags {
  plans: string | null;
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  now: string | null;
  help: boolean;
  version: boolean;
  /** --metrics-file PATH: write a Prometheus textfile of the vaults the command used. */
  metricsFile: string | null;
  /** --limit-upload / --limit-download MiB/s: caps on S3 vault traffic (storage/bandwidth.ts). */
  limitUpload: string | null;
  limitDownload: string | null;
}

const GLOBAL_VALUE = new Set(["plans", "now", "metrics-file", "limit-upload", "limit-download"]);
const GLOBAL_BOOL = new Set(["json", "quiet", "verbose", "help", "version"]);
const SHORT: Record<string, string> = { "-h": "help", "-q": "quiet", "-v": "verbose" };
/** Option name -> GlobalFlags field, where they differ. */
const FIELD: Record<string, string> = { "metrics-file": "metricsFile", "limit-upload": "limitUpload", "limit-download": "limitDownload" };

/** Global options as the command line spells them (for shell completion). */
export const GLOBAL_OPTIONS: readonly { name: string; short?: string; value: boolean }[] = [
  ...[...GLOBAL_VALUE].map((name) => ({ name, value: true })),
  ...[...GLOBAL_BOOL].map((name) => ({ name, short: Object.keys(SHORT).find((k) => SHORT[k] === name), value: false })),
];

/** Removes global flags from argv, wherever they are. */
export function extractGlobals(argv: string[]): { globals: GlobalFlags; rest: string[] } {
  const globals: GlobalFlags = { plans: null, json: false, quiet: false, verbose: false, now: null, help: false, version: false, metricsFile: null, limitUpload: null, limitDownload: null };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (SHORT[a]) {
      (globals as unknown as Record<string, boolean>)[SHORT[a]] = true;
      continue;
    }
    if (!a.startsWith("--")) {
      rest.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (GLOBAL_BOOL.has(name) && eq < 0) {
      (globals as unknown as Record<string, boolean>)[name] = true;
    } else if (GLOBAL_VALUE.has(name)) {
      const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined || (eq < 0 && value.startsWith("--"))) throw new UsageError(`Option "--${name}" needs a value`);
      (globals as unknown as Record<string, string>)[FIELD[name] ?? name] = value;
    } else {
      rest.push(a);
    }
  }
  return { globals, rest };
}

/** Takes every occurrence of repeatable options out of argv. */
export function extractRepeated(argv: string[], names: readonly string[]): { values: Record<string, string[]>; rest: string[] } {
  const values: Record<string, string[]> = Object.fromEntries(names.map((n) => [n, []]));
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf("=");
    const name = a.startsWith("--") ? a.slice(2, eq < 0 ? undefined : eq) : "";
    if (!names.includes(name)) {
      rest.push(a);
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith("--"))) throw new UsageError(`Option "--${name}" needs a value`);
    values[name].push(value);
  }
  return { values, rest };
}

/** Gives `--name` without a value the value `implied` (so it cannot swallow the next word). */
export function impliedValue(argv: string[], name: string, implied: string): string[] {
  return argv.map((a) => (a === `--${name}` ? `--${name}=${implied}` : a));
}

/** Refuses options the command does not define, naming the closest one. */
export function checkKnownOptions(argv: string[], args: ArgsDef, command: string, extra: readonly string[] = []): void {
  const known = new Set<string>(extra);
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    known.add(name);
    if (def.type === "boolean") known.add(`no-${name}`);
  }
  for (const a of argv) {
    if (a === "--") break;
    if (!a.startsWith("-") || a === "-") continue;
    const name = a.startsWith("--") ? a.slice(2).split("=")[0] : a;
    if (!known.has(name)) {
      const near = [...known].find((k) => k.startsWith(name.slice(0, 3)));
      throw new UsageError(`Unknown option "${a.split("=")[0]}" for "efsbak ${command}"`, near ? `did you mean "--${near}"?` : `see "efsbak ${command} --help"`);
    }
  }
}

/** Parses repeated `k=v` values into a tag table. */
export function parseTags(values: string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq <= 0) throw new UsageError(`Cannot read tag "${v}": expected KEY=VALUE`);
    tags[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return tags;
}
