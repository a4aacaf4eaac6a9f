/**
 * Plan files as TOML plus positions. @iarna/toml gives values but no positions, so a small
 * scanner walks the same text and records, for every key path (["plan", "rules", 0,
 * "schedule"]), where its key and its value start. It follows tables, arrays of tables (with
 * their index), dotted keys, quoted keys, arrays and inline tables at any depth. It only runs
 * on text that @iarna/toml accepted, so it may be lenient.
 *
 * A Reader pairs the data with the positions and turns type mistakes into problems, so the
 * validator reads `r.string(path)` and every problem lands on the offending key or value.
 */
import { parse as parseTomlText } from "@iarna/toml";
import type { PlanProblem } from "../errors.ts";
import { checkTomlLimits } from "./toml-limits.ts";

/** A path into a TOML document: table keys and array indexes. */
export type KeyPath = (string | number)[];

/** A 1-based line and column. */
export interface Position {
  line: number;
  col: number;
}

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

/** Parses TOML text; a syntax error becomes one problem positioned where the parser stopped. */
export function parseToml(file: string, text: string): { parsed: ParsedFile } | { problem: PlanProblem } {
  // Size and nesting first, apart from the parser (which may be replaced): both cost memory that grows with them.
  const limit = checkTomlLimits(file, text);
  if (limit) return { problem: limit };
  let data: Record<string, unknown>;
  try {
    data = parseTomlText(text) as Record<string, unknown>;
  } catch (e) {
    const err = e as { fromTOML?: boolean; line?: number; col?: number; message?: string };
    if (!err.fromTOML) throw e;
    const message = String(err.message ?? "syntax error").split("\n")[0].replace(/ at row \d+, col \d+, pos \d+:?$/, "");
    const line = (err.line ?? 0) + 1;
    const lineLength = (text.split("\n")[line - 1] ?? "").replace(/\r$/, "").length;
    const col = Math.min((err.col ?? 0) + 1, lineLength + 1); // the parser may point past the end of the text
    return { problem: { file, line, col, message: `Cannot parse TOML: ${message}` } };
  }
  const spots = scanPositions(text);
  function at(path: KeyPath, part: "key" | "value" = "key"): Position {
    for (let n = path.length; n > 0; n--) {
      const spot = spots.get(JSON.stringify(path.slice(0, n)));
      if (spot) return n === path.length && part === "value" ? (spot.value ?? spot.key) : spot.key;
    }
    return { line: 1, col: 1 };
  }
  return { parsed: { file, data, at } };
}

const BARE_KEY = /[A-Za-z0-9_-]/;

function scanPositions(text: string): Map<string, Spot> {
  const spots = new Map<string, Spot>();
  const arrays = new Map<string, number>();
  let i = 0;
  let line = 1;
  let col = 1;
  const peek = (o = 0) => text[i + o];
  const pos = (): Position => ({ line, col });
  function adv(n = 1) {
    for (let k = 0; k < n && i < text.length; k++, i++) {
      if (text[i] === "\n") {
        line++;
        col = 1;
      } else col++;
    }
  }
  function skipWs() {
    while (peek() === " " || peek() === "\t") adv();
  }
  function skipTrivia() {
    for (;;) {
      const c = peek();
      if (c === " " || c === "\t" || c === "\r" || c === "\n") adv();
      else if (c === "#") while (i < text.length && peek() !== "\n") adv();
      else return;
    }
  }
  function record(path: KeyPath, key: Position | undefined, value?: Position) {
    const id = JSON.stringify(path);
    const spot = spots.get(id);
    if (!spot) spots.set(id, { key: key ?? value!, value });
    else if (value && !spot.value) spot.value = value;
  }
  /** Skips a string of any kind and returns its raw contents (escapes kept for basic strings). */
  function skipString(): string {
    const q = peek();
    const triple = peek(1) === q && peek(2) === q;
    adv(triple ? 3 : 1);
    const start = i;
    while (i < text.length) {
      if (q === '"' && peek() === "\\") adv(2);
      else if (peek() === q && (!triple || (peek(1) === q && peek(2) === q && peek(3) !== q))) {
        const raw = text.slice(start, i);
        adv(triple ? 3 : 1);
        return raw;
      } else if (!triple && peek() === "\n") return text.slice(start, i);
      else adv();
    }
    return text.slice(start);
  }
  function readKeyPart(): { name: string; at: Position } | null {
    const at = pos();
    const c = peek();
    if (c === '"') {
      const raw = skipString();
      try {
        return { name: JSON.parse(`"${raw}"`) as string, at };
      } catch {
        return { name: raw, at };
      }
    }
    if (c === "'") return { name: skipString(), at };
    const start = i;
    while (i < text.length && BARE_KEY.test(peek())) adv();
    return i > start ? { name: text.slice(start, i), at } : null;
  }
  function readKeyPath(): { name: string; at: Position }[] {
    const parts: { name: string; at: Position }[] = [];
    for (;;) {
      skipWs();
      const part = readKeyPart();
      if (!part) return parts;
      parts.push(part);
      skipWs();
      if (peek() !== ".") return parts;
      adv();
    }
  }
  function readValue(path: KeyPath) {
    record(path, undefined, pos());
    const c = peek();
    if (c === '"' || c === "'") skipString();
    else if (c === "[") {
      adv();
      for (let index = 0; ; index++) {
        skipTrivia();
        if (i >= text.length) return;
        if (peek() === "]") return adv();
        readValue([...path, index]);
        skipTrivia();
        if (peek() === ",") adv();
        else if (peek() !== "]") return;
      }
    } else if (c === "{") {
      adv();
      for (;;) {
        skipWs();
        if (peek() === "}" || i >= text.length) return adv();
        const keys = readKeyPath();
        if (keys.length === 0) return;
        const sub = [...path];
        for (const k of keys) record((sub.push(k.name), [...sub]), k.at);
        skipWs();
        if (peek() === "=") adv();
        skipWs();
        readValue(sub);
        skipWs();
        if (peek() === ",") adv();
        else if (peek() !== "}") return;
      }
    } else while (i < text.length && !",]}#\r\n".includes(peek())) adv();
  }

  let table: KeyPath = [];
  for (;;) {
    skipTrivia();
    if (i >= text.length) break;
    if (peek() === "[") {
      const isArray = peek(1) === "[";
      adv(isArray ? 2 : 1);
      const keys = readKeyPath();
      const resolved: KeyPath = [];
      keys.forEach((k, j) => {
        resolved.push(k.name);
        const id = JSON.stringify(resolved);
        record(resolved, k.at);
        if (isArray && j === keys.length - 1) {
          const n = arrays.get(id) ?? 0;
          arrays.set(id, n + 1);
          resolved.push(n);
          record(resolved, k.at);
        } else if (arrays.has(id)) resolved.push(arrays.get(id)! - 1);
      });
      table = resolved;
      while (i < text.length && peek() !== "\n" && peek() !== "#") adv();
      continue;
    }
    const keys = readKeyPath();
    if (keys.length === 0) {
      while (i < text.length && peek() !== "\n") adv();
      continue;
    }
    const path = [...table];
    for (const k of keys) record((path.push(k.name), [...path]), k.at);
    skipWs();
    if (peek() === "=") adv();
    skipWs();
    readValue(path);
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
