import { describe, expect, test } from "bun:test";
import type { Node } from "../../src/tree/node.ts";
import { decodeTree, encodeTree } from "../../src/tree/tree.ts";
import { expectDamage, fuzz } from "./fuzz.ts";
import { prng } from "../support/random.ts";

const WHERE = "blob 5f".padEnd(69, "0");
const ID = "ab".repeat(32);
const NODES: Node[] = [
  { name: "z.txt", type: "file", mode: 0o644, uid: 1000, gid: 1000, mtime: "1767225600123456789", size: 5, ctime: "1767225600123456789", ino: "42", content: [ID] },
  { name: "dir", type: "dir", mode: 0o755, uid: 0, gid: 0, mtime: "1", subtree: "cd".repeat(32) },
  { name: "link", type: "symlink", mode: 0o777, uid: 0, gid: 0, mtime: "2", target: "../z.txt" },
  { name: "hard", type: "file", mode: 0o600, uid: 0, gid: 0, mtime: "3", size: 0, ctime: "3", ino: "7", content: [], links: 2, dev: "2049" },
  { name: "bad", type: "file", mode: 0o600, uid: 0, gid: 0, mtime: "4", size: 1, ctime: "4", ino: "8", content: [ID], inconsistent: true },
  { name: "é ü", type: "dir", mode: 0o700, uid: 5, gid: 5, mtime: "5", subtree: "ef".repeat(32) },
];

describe("tree", () => {
  test("decode(encode(x)) equals x sorted by name", () => {
    const sorted = NODES.slice().sort((a, b) => (a.name < b.name ? -1 : 1));
    expect(decodeTree(WHERE, encodeTree(NODES))).toEqual(sorted);
    expect(decodeTree(WHERE, encodeTree([]))).toEqual([]);
  });

  test("canonical: entry order and key order do not change the bytes", () => {
    const shuffled = NODES.slice().reverse().map((n) => Object.fromEntries(Object.entries(n).reverse()) as unknown as Node);
    expect(new TextDecoder().decode(encodeTree(shuffled))).toBe(new TextDecoder().decode(encodeTree(NODES)));
  });

  test("the encoding is pinned (a change breaks tree dedup in existing vaults)", () => {
    expect(new TextDecoder().decode(encodeTree(NODES.slice(0, 3)))).toBe(
      `{"v":1,"entries":[` +
        `{"name":"dir","type":"dir","mode":493,"uid":0,"gid":0,"mtime":"1","subtree":"${"cd".repeat(32)}"},` +
        `{"name":"link","type":"symlink","mode":511,"uid":0,"gid":0,"mtime":"2","target":"../z.txt"},` +
        `{"name":"z.txt","type":"file","mode":420,"uid":1000,"gid":1000,"mtime":"1767225600123456789","size":5,"ctime":"1767225600123456789","ino":"42","content":["${ID}"]}` +
        `]}`,
    );
  });

  test("names are returned as stored, even hostile ones (restore decides)", () => {
    const hostile = [{ ...NODES[2], name: "../../etc" }, { ...NODES[2], name: "a/b" }, { ...NODES[2], name: "" }];
    expect(decodeTree(WHERE, encodeTree(hostile)).map((n) => n.name)).toEqual(["", "../../etc", "a/b"]);
  });

  const text = (s: string) => new TextEncoder().encode(s);
  const bad: { name: string; data: Uint8Array; message: RegExp }[] = [
    { name: "a newer version", data: text(`{"v":3,"entries":[]}`), message: /unknown tree version 3/ },
    { name: "no version", data: text(`{"entries":[]}`), message: /unknown tree version undefined/ },
    { name: "not JSON", data: text(`{"v":1,`), message: /tree is not valid JSON/ },
    { name: "invalid UTF-8", data: Uint8Array.from([0x7b, 0xfe, 0x7d]), message: /tree is not valid JSON/ },
    { name: "null", data: text("null"), message: /unknown tree version/ },
    { name: "no entries", data: text(`{"v":1}`), message: /tree has no entries list/ },
    { name: "a number entry", data: text(`{"v":1,"entries":[5]}`), message: /tree entry null is malformed/ },
    { name: "an unknown type", data: text(`{"v":1,"entries":[{"name":"x","type":"fifo","mode":1,"mtime":"1"}]}`), message: /tree entry "x" is malformed/ },
    { name: "a file without content", data: text(`{"v":1,"entries":[{"name":"f","type":"file","mode":1,"mtime":"1","size":3}]}`), message: /tree entry "f" is malformed/ },
    { name: "a negative size", data: text(`{"v":1,"entries":[{"name":"f","type":"file","mode":1,"mtime":"1","size":-1,"content":[]}]}`), message: /malformed/ },
    { name: "a numeric chunk id", data: text(`{"v":1,"entries":[{"name":"f","type":"file","mode":1,"mtime":"1","size":1,"content":[1]}]}`), message: /malformed/ },
    { name: "a dir without subtree", data: text(`{"v":1,"entries":[{"name":"d","type":"dir","mode":1,"mtime":"1"}]}`), message: /tree entry "d" is malformed/ },
    { name: "a numeric mtime", data: text(`{"v":1,"entries":[{"name":"l","type":"symlink","mode":1,"mtime":1,"target":"x"}]}`), message: /malformed/ },
    { name: "deep nesting", data: text(`{"v":1,"entries":${"[".repeat(100000)}${"]".repeat(100000)}}`), message: /not valid JSON|malformed/ },
  ];
  for (const c of bad) {
    test(`refuses ${c.name} with a VaultDamageError naming the blob`, () => {
      expectDamage(() => decodeTree(WHERE, c.data), WHERE, c.message);
    });
  }

  test("the version error tells what to do", () => {
    expect(expectDamage(() => decodeTree(WHERE, text(`{"v":3,"entries":[]}`)), WHERE).hint).toContain("upgrade");
  });

  test("fuzz: decodes or VaultDamageError(where)", () => {
    const out = fuzz(encodeTree(NODES), { seed: 61, count: 4000, key: WHERE, decode: (d) => decodeTree(WHERE, d) });
    expect(out.damaged).toBeGreaterThan(2000);
    expect(out.decoded).toBeGreaterThan(0);
  });

  test("fuzz: any JSON value in any node field decodes or gives VaultDamageError(where)", () => {
    const next = prng(62);
    const values: unknown[] = [null, true, 0, -1, 0.5, 2 ** 60, "", "x", [], ["x"], [1], {}, { a: 1 }];
    const fields = ["name", "type", "mode", "uid", "mtime", "size", "content", "subtree", "target", "links"];
    let damaged = 0;
    for (let i = 0; i < 2000; i++) {
      const nodes = structuredClone(NODES) as unknown as Record<string, unknown>[];
      const n = nodes[next() % nodes.length];
      n[fields[next() % fields.length]] = values[next() % values.length];
      try {
        decodeTree(WHERE, text(JSON.stringify({ v: 1, entries: nodes })));
      } catch (err) {
        expectDamage(() => { throw err; }, WHERE);
        damaged++;
      }
    }
    expect(damaged).toBeGreaterThan(500);
  });
});
