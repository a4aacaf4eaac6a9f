/**
 * source-fs.ts: extended attributes read once per entry, a file system without them asked
 * once per device, failures counted per kind; paths: when a directory goes through a descriptor.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LONG_PATH_BYTES, XattrReader, closeSourceDir, entryPath, isLongPath, listNames, openSourceDir } from "../../src/backup/source-fs.ts";

function errno(code: string): Error {
  return Object.assign(new Error(code), { code });
}

describe("XattrReader", () => {
  test("a device that answers ENOTSUP is not asked again; other devices still are", () => {
    const calls: string[] = [];
    const reader = new XattrReader({
      list: (p) => {
        calls.push(String(p));
        if (String(p).startsWith("/efs/")) throw errno("EOPNOTSUPP");
        return [Buffer.from("user.b"), Buffer.from("user.a")];
      },
      get: (_p, n) => Buffer.from(`v-${n}`),
    });
    for (let i = 0; i < 100; i++) expect(reader.read(`/efs/f${i}`, 7n, `f${i}`)).toBeUndefined();
    expect(reader.read("/local/x", 8n, "x")).toEqual([["user.a", Buffer.from("v-user.a").toString("base64")], ["user.b", Buffer.from("v-user.b").toString("base64")]]);
    expect(calls.filter((c) => c.startsWith("/efs/")).length).toBe(1);
    expect(reader.failures.size).toBe(0);
  });

  test("other failures are counted per code with the first path; a vanished attribute is left out", () => {
    const reader = new XattrReader({
      list: (p) => {
        if (String(p).endsWith("denied")) throw errno("EACCES");
        return [Buffer.from("user.gone"), Buffer.from("security.x"), Buffer.from([0x75, 0x2e, 0xff])];
      },
      get: (_p, n) => (n.toString() === "user.gone" ? null : n.toString() === "security.x" ? (() => { throw errno("EPERM"); })() : Buffer.from("v")),
    });
    expect(reader.read("/a/denied", 1n, "a/denied")).toBeUndefined();
    expect(reader.read("/b/denied", 1n, "b/denied")).toBeUndefined(); // the same device: still asked (not ENOTSUP)
    expect(reader.read("/c", 1n, "c")).toEqual([["u.\udcff", Buffer.from("v").toString("base64")]]);
    expect([...reader.failures]).toEqual([["EACCES", { count: 2, first: "a/denied" }], ["EPERM", { count: 1, first: "c" }]]);
  });
});

describe("paths", () => {
  test("a directory path of LONG_PATH_BYTES bytes goes through a descriptor, its entries listed by exact bytes", () => {
    expect(isLongPath("a".repeat(LONG_PATH_BYTES - 1))).toBe(false);
    expect(isLongPath("a".repeat(LONG_PATH_BYTES))).toBe(true);
    expect(isLongPath("é".repeat(LONG_PATH_BYTES / 2))).toBe(true); // bytes, not characters
    const work = mkdtempSync(join(tmpdir(), "efsbak-srcfs-"));
    try {
      mkdirSync(join(work, "d"));
      writeFileSync(Buffer.from(`${work}/d/x\xff`, "latin1"), "1");
      const dir = openSourceDir(join(work, "d"));
      expect(dir.path).toBe(`/proc/self/fd/${dir.fd}`);
      expect(listNames(dir.path)).toEqual(["x\udcff"]);
      expect(entryPath(dir.path, "x")).toBe(`/proc/self/fd/${dir.fd}/x`);
      expect(entryPath("/", "x")).toBe("/x");
      closeSourceDir(dir);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
