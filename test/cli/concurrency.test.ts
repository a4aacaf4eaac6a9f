import { describe, expect, test } from "bun:test";
import { concurrencyArg } from "../../src/cli/backup.ts";
import { UsageError } from "../../src/errors.ts";

describe("--concurrency", () => {
  test("a whole number from 1 to 1024; absent or empty leaves the default", () => {
    expect(concurrencyArg("1")).toBe(1);
    expect(concurrencyArg("256")).toBe(256);
    expect(concurrencyArg("1024")).toBe(1024);
    expect(concurrencyArg(undefined)).toBeUndefined();
    expect(concurrencyArg("")).toBeUndefined();
  });
  test("anything else is a usage error naming the value", () => {
    for (const bad of ["0", "1025", "-4", "8.5", "lots", "1e2"]) {
      expect(() => concurrencyArg(bad)).toThrow(UsageError);
      expect(() => concurrencyArg(bad)).toThrow(`Cannot read --concurrency "${bad}": expected a whole number from 1 to 1024`);
    }
  });
});
