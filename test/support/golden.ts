/**
 * Golden files: a decision pinned as JSON under a test folder's golden/, compared exactly.
 * `UPDATE_GOLDEN=1 bun test …` rewrites them; review the diff before committing, since a
 * changed golden file is a changed decision (what gets deleted, what is kept).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";

/** The canonical text of a golden value: two-space JSON and a final newline. */
export function goldenText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * The golden file's text and the actual one, for `expect(actual).toBe(expected)`. Under
 * UPDATE_GOLDEN=1 the file is written first, so both are equal.
 */
export function golden(path: string, value: unknown): { expected: string; actual: string } {
  const actual = goldenText(value);
  if (process.env.UPDATE_GOLDEN === "1") writeFileSync(path, actual);
  if (!existsSync(path)) throw new Error(`no golden file "${path}": run the test with UPDATE_GOLDEN=1 and review it`);
  return { expected: readFileSync(path, "utf8"), actual };
}

/** Reads a JSON fixture. */
export function readFixture<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}
