import { describe, expect, test } from "bun:test";
import { displayName, nameFromBytes, nameToBytes, parseDisplayName } from "../../src/tree/name.ts";
import { decodeTree, encodeTree } from "../../src/tree/tree.ts";
import type { Node } from "../../src/tree/node.ts";

const b = (...x: number[]) => Buffer.from(x);
const cases: { name: string; bytes: Buffer; shown: string }[] = [
  { name: "ascii", bytes: Buffer.from("plain.txt"), shown: "plain.txt" },
  { name: "utf-8", bytes: Buffer.from("héllo😀"), shown: "héllo😀" },
  { name: "lone 0xff", bytes: b(0x78, 0xff), shown: "x\\xff" },
  { name: "lone 0xfe", bytes: b(0x78, 0xfe), shown: "x\\xfe" },
  { name: "real U+FFFD", bytes: Buffer.from("x\uFFFD"), shown: "x\uFFFD" },
  { name: "encoded surrogate", bytes: b(0xed, 0xa0, 0x80), shown: "\\xed\\xa0\\x80" },
  { name: "overlong slash", bytes: b(0xc0, 0xaf), shown: "\\xc0\\xaf" },
  { name: "truncated 4-byte", bytes: b(0xf0, 0x9f, 0x98), shown: "\\xf0\\x9f\\x98" },
  { name: "control and backslash", bytes: Buffer.from("a\nb\\c"), shown: "a\\x0ab\\\\c" },
];

describe("byte names", () => {
  for (const c of cases) {
    test(c.name, () => {
      const s = nameFromBytes(c.bytes);
      expect(nameToBytes(s)!.equals(c.bytes)).toBe(true);
      expect(displayName(s)).toBe(c.shown);
      expect(parseDisplayName(displayName(s))).toBe(s);
    });
  }

  test("different byte names never become one string", () => {
    const names = new Set<string>();
    for (let i = 0; i < 256; i++) for (const j of [0x41, 0x80, 0xbf, 0xff]) names.add(nameFromBytes(b(0x78, i, j)));
    expect(names.size).toBe(256 * 4);
  });

  test("a lone surrogate that is not an escaped byte has no byte form", () => {
    expect(nameToBytes("x\ud800y")).toBeNull();
    expect(nameToBytes("x\udc10")).toBeNull();
  });
});

describe("tree v2", () => {
  const base = { mode: 0o644, uid: 0, gid: 0, mtime: "1" };
  test("plain trees stay v1 (unchanged directories keep their blob ids)", () => {
    const t = encodeTree([{ ...base, name: "a", type: "symlink", target: "b" }]);
    expect(new TextDecoder().decode(t)).toStartWith('{"v":1,');
  });
  test("byte names, xattrs and devices round-trip through v2, identical sets stored once", () => {
    const acl: [string, string][] = [["system.posix_acl_access", Buffer.from([2, 0, 0, 0]).toString("base64")], ["user.k", "dg=="]];
    const nodes: Node[] = [
      { ...base, name: nameFromBytes(b(0x78, 0xff)), type: "symlink", target: nameFromBytes(b(0x74, 0xfe)), xattrs: acl },
      { ...base, name: "c", type: "chardev", rdev: "259", xattrs: acl.map((a) => [...a] as [string, string]) },
      { ...base, name: "d", type: "blockdev", rdev: "2049" },
    ];
    const raw = encodeTree(nodes);
    const text = new TextDecoder().decode(raw);
    expect(text).toStartWith('{"v":2,');
    expect(text.split("posix_acl_access").length).toBe(2);
    const back = decodeTree("t", raw);
    expect(back.map((n) => nameToBytes(n.name)!.toString("hex"))).toEqual(["63", "64", "78ff"]);
    const link = back.find((n) => n.type === "symlink")!;
    expect(link.type === "symlink" && nameToBytes(link.target)!.equals(b(0x74, 0xfe))).toBe(true);
    expect(link.xattrs).toEqual(acl);
    expect(back.find((n) => n.name === "c")).toMatchObject({ type: "chardev", rdev: "259", xattrs: acl });
    expect(encodeTree(back)).toEqual(raw);
  });
  test("a v2 tree naming a missing xattr set is damage", () => {
    const raw = new TextEncoder().encode('{"v":2,"xattrs":[],"entries":[{"name":"a","type":"dir","mode":1,"uid":0,"gid":0,"mtime":"1","subtree":"00","x":0}]}');
    expect(() => decodeTree("tree 00", raw)).toThrow(/missing xattr set/);
  });
});
