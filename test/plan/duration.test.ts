import { describe, expect, test } from "bun:test";
import { durationProblem, formatDuration, parseDuration } from "../../src/plan/duration.ts";

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe("parseDuration", () => {
  const cases: [string, number | null][] = [
    ["45s", 45 * S],
    ["90m", 90 * M],
    ["8h", 8 * H],
    ["30d", 30 * D],
    ["1y", 365 * D],
    ["1d12h", 36 * H],
    ["1y2d3h4m5s", 365 * D + 2 * D + 3 * H + 4 * M + 5 * S],
    ["0s", 0],
    ["", null],
    ["8", null],
    ["h", null],
    ["8 hours", null],
    ["1.5h", null],
    ["-1h", null],
    ["1h1d", null], // units out of order
    ["1h1h", null], // unit twice
    ["1w", null],
    ["8H", null],
    [" 8h", null],
    ["100y", 100 * 365 * D], // the longest
    ["100y1s", null],
    ["285000y", null], // would make dates past the year 275760
    ["99999999999999999999s", null],
  ];
  for (const [text, expected] of cases) {
    test(JSON.stringify(text), () => expect(parseDuration(text)).toBe(expected));
  }
});

describe("formatDuration", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [45 * S, "45s"],
    [90 * M, "1h30m"],
    [36 * H, "1d12h"],
    [365 * D, "1y"],
    [400 * D, "1y35d"],
    [1500, "1s500ms"],
  ];
  for (const [ms, expected] of cases) {
    test(`${ms} → ${expected}`, () => expect(formatDuration(ms)).toBe(expected));
  }

  test("round-trips through parseDuration", () => {
    for (const text of ["45s", "1h30m", "1d12h", "1y35d", "10y"]) {
      expect(formatDuration(parseDuration(text)!)).toBe(text);
    }
  });
});

test("durationProblem tells a duration that is too long from one that is malformed", () => {
  expect(durationProblem("100y")).toBeNull();
  expect(durationProblem("101y")).toBe("too long");
  expect(durationProblem("285000y")).toBe("too long");
  expect(durationProblem("1w")).toBe("malformed");
});
