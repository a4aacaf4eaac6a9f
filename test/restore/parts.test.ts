import { afterEach, beforeEach, expect, test } from "bun:test";
import { closeSync, lstatSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLostFound, lostFoundName, sanitizeName } from "../../src/restore/lost-found.ts";
import { hasExactTimes, parseNs, setFdTimes, setPathTimes } from "../../src/restore/metadata.ts";
import { nameProblem } from "../../src/restore/walk.ts";
import { isZero, mergeRanges } from "../../src/restore/bytes.ts";

let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-parts-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const unsafe: [string, unknown, string | null][] = [
  ["empty", "", "unsafe name"],
  ["dot", ".", "unsafe name"],
  ["dotdot", "..", "unsafe name"],
  ["slash", "a/b", "unsafe name"],
  ["leading slash", "/etc", "unsafe name"],
  ["NUL", "a\0b", "unsafe name"],
  ["not a string", 42, "unsafe name"],
  ["duplicate", "seen", "duplicate name"],
  ["three dots are fine", "...", null],
  ["newline is fine", "a\nb", null],
  ["backslash is fine", "a\\b", null],
];
for (const [name, value, want] of unsafe) {
  test(`nameProblem: ${name}`, () => expect(nameProblem(value, new Set(["seen"]))).toBe(want));
}
test("nameProblem: raw bytes are fine, a lone surrogate that is no byte is not", () => {
  expect(nameProblem("x\udcff", new Set())).toBeNull();
  expect(nameProblem("x\ud800", new Set())).toBe("unsafe name");
});
test("lostFoundName: a root holding efsbak-lost+found gets the next free name", () => {
  expect(lostFoundName(new Set(["a"]))).toBe("efsbak-lost+found");
  expect(lostFoundName(new Set(["efsbak-lost+found", "efsbak-lost+found.1"]))).toBe("efsbak-lost+found.2");
});

test("sanitizeName keeps names readable, safe and short", () => {
  expect(sanitizeName("a/b\0c\nd")).toBe("a_b_c_d");
  expect(sanitizeName("")).toBe("unnamed");
  expect(sanitizeName("日本語.txt")).toBe("日本語.txt");
  const long = sanitizeName("é".repeat(300));
  expect(Buffer.byteLength(long)).toBeLessThanOrEqual(200);
  expect(long).toBe("é".repeat(100));
});

test("lost+found names are unique and the folder appears only when used", () => {
  const fd = openSync(tmp, "r");
  const lf = createLostFound({ fd, path: tmp });
  expect(lf.writeManifest("rp")).toBeNull();
  expect(() => lstatSync(lf.dir)).toThrow();
  const a = lf.place("x");
  const b = lf.place("x");
  expect([a.name, b.name]).toEqual(["0001-x", "0002-x"]);
  expect(lstatSync(lf.dir).mode & 0o777).toBe(0o700);
  lf.close();
  closeSync(fd);
});

test("mergeRanges sorts and merges", () => {
  expect(mergeRanges([[10, 20], [0, 5], [5, 8], [15, 30], [40, 40]])).toEqual([[0, 8], [10, 30]]);
});

test("isZero, aligned and not", () => {
  const z = new Uint8Array(1001);
  expect(isZero(z)).toBe(true);
  expect(isZero(z.subarray(1))).toBe(true);
  z[1000] = 1;
  expect(isZero(z)).toBe(false);
  expect(isZero(z.subarray(3))).toBe(false);
  z[1000] = 0;
  z[4] = 1;
  expect(isZero(z)).toBe(false);
});

test("parseNs handles negative times and rejects garbage", () => {
  expect(parseNs("1700000000123456789")).toEqual({ sec: 1700000000n, nsec: 123456789n });
  expect(parseNs("-1")).toEqual({ sec: -1n, nsec: 999999999n });
  expect(parseNs("1e9")).toBeNull();
  expect(parseNs("")).toBeNull();
});

test("times round-trip to the nanosecond on files, symlinks and directories", () => {
  expect(hasExactTimes()).toBe(true);
  const f = join(tmp, "f");
  writeFileSync(f, "x");
  const fd = openSync(f, "r+");
  setFdTimes(fd, parseNs("1700000000123456789")!);
  closeSync(fd);
  symlinkSync("/nonexistent", join(tmp, "l"));
  setPathTimes(join(tmp, "l"), parseNs("1600000000000000001")!);
  setPathTimes(tmp, parseNs("1500000000999999999")!);
  expect(lstatSync(f, { bigint: true }).mtimeNs).toBe(1700000000123456789n);
  expect(lstatSync(join(tmp, "l"), { bigint: true }).mtimeNs).toBe(1600000000000000001n);
  expect(lstatSync(tmp, { bigint: true }).mtimeNs).toBe(1500000000999999999n);
});
