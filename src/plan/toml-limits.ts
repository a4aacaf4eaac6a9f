/**
 * Limits on plan files, checked before the text reaches any TOML parser: plans are code a
 * deployment ships, and a parser (and our position scanner) costs memory that grows with
 * nesting (a 100 KB file nested 50,000 deep once got `validate` OOM-killed). Kept apart from
 * parse.ts so that the parser can be replaced without losing the limits.
 *
 * Nesting counts what makes a table or array one level deeper: `[` and `{` in values, each
 * part of a dotted key (`a.b.c = 1` is three levels) and of a table header (`[a.b]`), which
 * the keys below the header inherit. Strings and comments are skipped. The scan is lenient
 * about syntax: the parser reports syntax errors afterwards.
 */
import type { PlanProblem } from "../errors.ts";
import { codePoints } from "./positions.ts";

/** Largest plan file, bytes (real plans are a few KB). */
export const MAX_PLAN_BYTES = 1024 * 1024;
/** Deepest nesting of tables, arrays and dotted keys (real plans nest 4 deep). */
export const MAX_PLAN_NESTING = 32;

/** The problem of a plan file over the limits, positioned where it goes over; null when within. */
export function checkTomlLimits(file: string, text: string, size = Buffer.byteLength(text, "utf8")): PlanProblem | null {
  if (size > MAX_PLAN_BYTES) {
    return { file, line: 1, col: 1, message: `Plan file is too large: ${size} bytes, at most ${MAX_PLAN_BYTES}` };
  }
  let line = 1;
  let lineStart = 0;
  const open: { c: string; depth: number }[] = []; // brackets of values, with the depth they reach
  let header = 0; // parts of the current table header: the depth keys below it start at
  let keyParts = 0; // parts of the key being read
  let valueKey = 0; // parts of the key whose value is being read
  let inKey = true; // at the start of a line (top level), or after "{" / "," in an inline table
  let inHeader = false;
  const level = () => (open.length === 0 ? header : open[open.length - 1].depth);
  const over = (i: number): PlanProblem => ({
    file, line, col: codePoints(text, lineStart, i) + 1,
    message: `Plan is nested too deeply: more than ${MAX_PLAN_NESTING} levels of tables, arrays or dotted keys`,
  });
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") {
      line++;
      lineStart = i + 1;
      if (open.length === 0) {
        inKey = true;
        keyParts = 0;
      }
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") continue;
    if (c === "#") {
      while (i + 1 < text.length && text[i + 1] !== "\n") i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const triple = text[i + 1] === c && text[i + 2] === c;
      i = skipString(text, i, c, triple, (at) => {
        line++;
        lineStart = at + 1;
      });
      if ((inKey || inHeader) && keyParts === 0) keyParts = 1;
      continue;
    }
    if (inHeader) {
      if (c === ".") keyParts++;
      else if (c === "]") {
        if (text[i + 1] === "]") i++;
        inHeader = false;
        inKey = false;
        header = keyParts;
        keyParts = 0;
      } else if (keyParts === 0) keyParts = 1;
      if (keyParts > MAX_PLAN_NESTING) return over(i);
      continue;
    }
    if (inKey) {
      if (c === "[" && open.length === 0 && keyParts === 0) {
        inHeader = true;
        if (text[i + 1] === "[") i++;
        continue;
      }
      if (c === "=") {
        inKey = false;
        valueKey = keyParts;
        keyParts = 0;
        continue;
      }
      if (c === "}") {
        open.pop(); // an empty inline table, or a trailing ","
        inKey = false;
        continue;
      }
      if (c === ".") keyParts++;
      else if (keyParts === 0) keyParts = 1;
      if (level() + keyParts > MAX_PLAN_NESTING) return over(i);
      continue;
    }
    if (c === "[" || c === "{") {
      const depth = level() + valueKey + 1;
      valueKey = 0;
      if (depth > MAX_PLAN_NESTING) return over(i);
      open.push({ c, depth });
      if (c === "{") inKey = true;
      continue;
    }
    if (c === "]" || c === "}") {
      open.pop();
      valueKey = 0;
      continue;
    }
    if (c === ",") {
      valueKey = 0;
      if (open[open.length - 1]?.c === "{") inKey = true;
    }
  }
  return null;
}

/** Skips a string starting at text[i]; returns the index of its last character. */
function skipString(text: string, i: number, q: string, triple: boolean, onNewline: (at: number) => void): number {
  let j = i + (triple ? 3 : 1);
  while (j < text.length) {
    const c = text[j];
    if (c === "\\" && q === '"') {
      j += 2;
      continue;
    }
    if (c === "\n") {
      if (!triple) return j - 1; // an unterminated basic string: the parser reports it
      onNewline(j);
    }
    if (c === q && (!triple || (text[j + 1] === q && text[j + 2] === q))) return triple ? j + 2 : j;
    j++;
  }
  return j;
}
