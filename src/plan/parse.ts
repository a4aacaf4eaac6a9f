/**
 * Plan files as TOML 1.0 plus positions. toml-eslint-parser reads the text into an AST that
 * locates every key and value; from it we take the data (getStaticTOMLValue) and, for every
 * key path (["plan", "rules", 0, "schedule"]), where its key and its value start. Tables,
 * arrays of tables (with their index), dotted and quoted keys, arrays and inline tables at any
 * depth all come from the AST, so positions are right wherever the parser is.
 *
 * Positions are 1-based lines and columns in Unicode code points (positions.ts). A leading
 * byte order mark is allowed and not counted. Size and nesting limits (toml-limits.ts) are
 * checked before the parser sees the text; toml-syntax.ts says where a syntax error points.
 *
 * A Reader pairs the data with the positions and turns type mistakes into problems, so the
 * validator reads `r.string(path)` and every problem lands on the offending key or value.
 */
import { getStaticTOMLValue, parseTOML, ParseError, type AST } from "toml-eslint-parser";
import type { PlanProblem } from "../errors.ts";
import { positionsOf, stripBom, type Position } from "./positions.ts";
import { checkTomlLimits } from "./toml-limits.ts";
import { syntaxError } from "./toml-syntax.ts";

export type { Position } from "./positions.ts";

/** A path into a TOML document: table keys and array indexes. */
export type KeyPath = (string | number)[];

interface Spot {
  key: Position;
  value?: Position;
}

/** A successfully parsed plan file. */
export interface ParsedFile {
  file: string;
  data: Record<string, unknown>;
  /** Where a key (or its value) starts; falls back to the nearest enclosing key, then 1:1. */
  at(path: KeyPath, part?: "key" | "value"): Position;
}

/** Parses TOML text; a syntax error becomes one problem positioned at the start of the offending token. */
export function parseToml(file: string, input: string): { parsed: ParsedFile } | { problem: PlanProblem } {
  const text = stripBom(input);
  // Size and nesting first, apart from the parser: both cost memory that grows with them.
  const limit = checkTomlLimits(file, text, Buffer.byteLength(input, "utf8"));
  if (limit) return { problem: limit };
  const position = positionsOf(text);
  let ast: AST.TOMLProgram;
  try {
    ast = parseTOML(text, { tomlVersion: "1.0.0" });
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    const { offset, message } = syntaxError(text, e.index, e.message);
    return { problem: { file, ...position(offset), message: `Cannot parse TOML: ${message}` } };
  }
  const data = getStaticTOMLValue(ast) as Record<string, unknown>;
  const spots = collectPositions(ast, position);
  function at(path: KeyPath, part: "key" | "value" = "key"): Position {
    for (let n = path.length; n > 0; n--) {
      const spot = spots.get(JSON.stringify(path.slice(0, n)));
      if (spot) return n === path.length && part === "value" ? (spot.value ?? spot.key) : spot.key;
    }
    return { line: 1, col: 1 };
  }
  return { parsed: { file, data, at } };
}

/** Where each key path's key and value start, from the AST; the first mention of a path wins. */
function collectPositions(ast: AST.TOMLProgram, position: (offset: number) => Position): Map<string, Spot> {
  const spots = new Map<string, Spot>();
  function record(path: KeyPath, key: Position, value?: Position) {
    const id = JSON.stringify(path);
    const spot = spots.get(id);
    if (!spot) spots.set(id, { key, value });
    else if (value && !spot.value) spot.value = value;
  }
  function keyValue(table: KeyPath, kv: AST.TOMLKeyValue) {
    const path = [...table];
    for (const part of kv.key.keys) {
      path.push(part.type === "TOMLBare" ? part.name : part.value);
      record([...path], position(part.range[0]));
    }
    content(path, kv.value);
  }
  function content(path: KeyPath, node: AST.TOMLContentNode) {
    const here = position(node.range[0]);
    record(path, here, here);
    if (node.type === "TOMLArray") node.elements.forEach((element, index) => content([...path, index], element));
    else if (node.type === "TOMLInlineTable") for (const kv of node.body) keyValue(path, kv);
  }
  for (const item of ast.body[0].body) {
    if (item.type === "TOMLKeyValue") {
      keyValue([], item);
      continue;
    }
    // A header: resolvedKey holds array indexes ([[plan.rules]] → ["plan", "rules", 1]); each
    // name, and the index after it, is located at that part of the header.
    const names = item.key.keys;
    let n = 0;
    item.resolvedKey.forEach((k, j) => {
      if (typeof k === "string") n++;
      const at = position(names[Math.max(n - 1, 0)].range[0]);
      record(item.resolvedKey.slice(0, j + 1), at);
    });
    for (const kv of item.body) keyValue(item.resolvedKey, kv);
  }
  return spots;
}

/** The TOML type name of a value, for messages. */
export function typeName(v: unknown): string {
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v))) return "integer";
  if (typeof v === "number") return "float";
  if (v instanceof Date) return "datetime";
  if (Array.isArray(v)) return "array";
  return "table";
}

/** True for a TOML table (not an array or datetime). */
export function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Reads typed values from one parsed file and records a positioned problem for each mistake. */
export interface Reader {
  readonly file: string;
  at(path: KeyPath, part?: "key" | "value"): Position;
  report(path: KeyPath, message: string, part?: "key" | "value"): void;
  get(path: KeyPath): unknown;
  /** A table (or undefined when absent); unknown keys are reported, with a suggestion. */
  table(path: KeyPath, context: string, known: readonly string[]): Record<string, unknown> | undefined;
  /** An array of tables, each element checked by table(); also accepts a single table. */
  tables(path: KeyPath, context: string, known: readonly string[]): { path: KeyPath; table: Record<string, unknown> }[];
  string(path: KeyPath): string | undefined;
  boolean(path: KeyPath): boolean | undefined;
  strings(path: KeyPath): string[] | undefined;
  stringMap(path: KeyPath): Record<string, string> | undefined;
}

/** Creates a Reader that appends problems to the given list. */
export function createReader(parsed: ParsedFile, problems: PlanProblem[]): Reader {
  function report(path: KeyPath, message: string, part: "key" | "value" = "key") {
    problems.push({ file: parsed.file, ...parsed.at(path, part), message });
  }
  function get(path: KeyPath): unknown {
    let v: unknown = parsed.data;
    for (const k of path) {
      if (v === undefined || v === null || typeof v !== "object") return undefined;
      v = (v as Record<string | number, unknown>)[k];
    }
    return v;
  }
  function wrongType(path: KeyPath, expected: string, v: unknown) {
    report(path, `Invalid ${label(path)}: expected ${expected}, got ${typeName(v)}`, "value");
  }
  function table(path: KeyPath, context: string, known: readonly string[]) {
    const v = get(path);
    if (v === undefined) return undefined;
    if (!isTable(v)) return void wrongType(path, "a table", v);
    for (const key of Object.keys(v)) {
      if (known.includes(key)) continue;
      const near = closest(key, known);
      const hint = near ? `did you mean "${near}"?` : `expected one of ${known.join(", ")}`;
      report([...path, key], `Unknown key "${key}" in ${context}: ${hint}`);
    }
    return v;
  }
  function tables(path: KeyPath, context: string, known: readonly string[]) {
    const v = get(path);
    if (v === undefined) return [];
    if (isTable(v)) return [{ path, table: table(path, context, known)! }];
    if (!Array.isArray(v)) return wrongType(path, "an array of tables", v), [];
    const out: { path: KeyPath; table: Record<string, unknown> }[] = [];
    v.forEach((_, index) => {
      const t = table([...path, index], context, known);
      if (t) out.push({ path: [...path, index], table: t });
    });
    return out;
  }
  function typed<T>(expected: string, test: (v: unknown) => v is T) {
    return (path: KeyPath): T | undefined => {
      const v = get(path);
      if (v === undefined) return undefined;
      if (test(v)) return v;
      wrongType(path, expected, v);
      return undefined;
    };
  }
  const string = typed("a string", (v): v is string => typeof v === "string");
  const boolean = typed("true or false", (v): v is boolean => typeof v === "boolean");
  function strings(path: KeyPath) {
    const v = get(path);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return wrongType(path, "an array of strings", v), undefined;
    const out = v.map((_, index) => string([...path, index]));
    return out.every((s) => s !== undefined) ? (out as string[]) : undefined;
  }
  function stringMap(path: KeyPath) {
    const v = get(path);
    if (v === undefined) return undefined;
    if (!isTable(v)) return wrongType(path, "a table of strings", v), undefined;
    const out: Record<string, string> = {};
    for (const key of Object.keys(v)) {
      const s = string([...path, key]);
      if (s !== undefined) out[key] = s;
    }
    return out;
  }
  return { file: parsed.file, at: parsed.at, report, get, table, tables, string, boolean, strings, stringMap };
}

/** A key path written the way a plan file spells it, quoted: "plan.rules[0].schedule" → "schedule". */
function label(path: KeyPath): string {
  const last = [...path].reverse().find((k) => typeof k === "string");
  const index = typeof path[path.length - 1] === "number" ? `[${path[path.length - 1]}]` : "";
  return `"${String(last ?? "value")}${index}"`;
}

/** The known key closest to `key` by edit distance, when it is at most 2 away. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
