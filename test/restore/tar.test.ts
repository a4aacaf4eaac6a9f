/** Pax/ustar headers: checksums, the prefix/name split, pax record lengths at digit boundaries, large values. */
import { describe, expect, test } from "bun:test";
import { encodeTarHeader, tarPadding, type TarMember } from "../../src/restore/tar.ts";

const base: TarMember = { path: Buffer.from("a"), type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 1_700_000_000_000_000_000n, size: 0 };

function checksumOk(h: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return parseInt(Buffer.from(h.subarray(148, 154)).toString(), 8) === sum;
}

/** The pax records of a header with one, as [key, value bytes], checking each length prefix. */
function paxRecords(h: Uint8Array): [string, Buffer][] {
  expect(h[156]).toBe(0x78);
  const size = parseInt(Buffer.from(h.subarray(124, 135)).toString(), 8);
  let body = Buffer.from(h.subarray(512, 512 + size));
  const out: [string, Buffer][] = [];
  while (body.length) {
    const sp = body.indexOf(0x20);
    const len = Number(body.subarray(0, sp).toString());
    expect(body[len - 1]).toBe(0x0a);
    const rec = body.subarray(sp + 1, len - 1);
    const eq = rec.indexOf(0x3d);
    out.push([rec.subarray(0, eq).toString("latin1"), rec.subarray(eq + 1)]);
    body = body.subarray(len);
  }
  return out;
}

describe("tar headers", () => {
  test("a plain member is one ustar block with a valid checksum and no pax header", () => {
    const h = encodeTarHeader(base);
    expect(h.length).toBe(512);
    expect(checksumOk(h)).toBe(true);
    expect(Buffer.from(h.subarray(257, 265)).toString("latin1")).toBe("ustar\u000000");
  });

  test("a path up to 255 bytes splits into prefix and name; longer goes to pax as raw bytes", () => {
    const split = Buffer.concat([Buffer.from("p".repeat(150)), Buffer.from("/"), Buffer.from("n".repeat(99)), Buffer.of(0xff)]);
    const h = encodeTarHeader({ ...base, path: split });
    expect(h.length).toBe(512);
    expect(Buffer.from(h.subarray(345, 495)).toString()).toBe("p".repeat(150));
    expect(Buffer.from(h.subarray(0, 100)).equals(split.subarray(151))).toBe(true);
    const long = Buffer.concat([Buffer.from("q".repeat(300)), Buffer.of(0xfe)]);
    const p = encodeTarHeader({ ...base, path: long });
    expect(p.length).toBe(512 * 3); // pax header, its records (one block), the ustar header
    const recs = paxRecords(p);
    expect(recs.map(([k]) => k)).toEqual(["path"]);
    expect(recs[0]![1].equals(long)).toBe(true);
    expect(checksumOk(p.subarray(p.length - 512))).toBe(true);
  });

  test("record lengths are right across digit boundaries", () => {
    for (let n = 80; n < 120; n++) {
      const recs = paxRecords(encodeTarHeader({ ...base, xattrs: [[Buffer.from("user.k"), Buffer.alloc(n, 0x41)]] }));
      expect(recs[0]![1].length).toBe(n);
    }
  });

  test("ns mtimes, huge sizes and owners, xattr names with = and %", () => {
    const h = encodeTarHeader({ ...base, size: 9_000_000_000, uid: 3_000_000, gid: 7, mtimeNs: -1_500_000_000n, xattrs: [[Buffer.from("user.a=b%c"), Buffer.of(0, 255)]] });
    const recs = Object.fromEntries(paxRecords(h).map(([k, v]) => [k, v]));
    expect(recs.size!.toString()).toBe("9000000000");
    expect(recs.uid!.toString()).toBe("3000000");
    expect(recs.gid).toBeUndefined();
    expect(recs.mtime!.toString()).toBe("-1.5");
    expect(recs["SCHILY.xattr.user.a%3Db%25c"]!.equals(Buffer.of(0, 255))).toBe(true);
    const ustar = h.subarray(h.length - 512);
    expect(ustar[124]).toBe(0x80); // base-256 size
    expect(checksumOk(ustar)).toBe(true);
    expect(paxRecords(encodeTarHeader({ ...base, mtimeNs: 1_700_000_000_123_000_000n })).map(([k, v]) => `${k}=${v}`)).toEqual(["mtime=1700000000.123"]);
    expect(tarPadding(512).length).toBe(0);
    expect(tarPadding(513).length).toBe(511);
  });
});
