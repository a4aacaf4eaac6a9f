/**
 * The console's tar writer, read back by the system's GNU tar: names and link targets as raw
 * bytes (not UTF-8 too), long paths, modes, mtimes, sizes across block boundaries, and empty files.
 */
import { afterAll, expect, test } from "bun:test";
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tarStream, type TarMember } from "../../src/console/tar.ts";

const work = mkdtempSync(join(tmpdir(), "efsbak-tar-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const b = (s: string | number[]) => (typeof s === "string" ? new TextEncoder().encode(s) : Uint8Array.from(s));
const NS = "1700000000123456789";

async function* members(list: TarMember[]) {
  yield* list;
}

async function* pieces(data: Uint8Array, size: number) {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

test("GNU tar extracts what tarStream writes, byte names and all", async () => {
  const rawName = [0x72, 0x6f, 0x6f, 0x74, 0x2f, 0x6e, 0x61, 0x80, 0xff, 0x2e, 0x62, 0x69, 0x6e]; // root/na\x80\xff.bin
  const long = `root/${"d".repeat(120)}/${"f".repeat(90)}.txt`;
  const data = new Uint8Array(1537).map((_, i) => (i * 7) & 0xff);
  const list: TarMember[] = [
    { path: b("root"), type: "dir", mode: 0o750, uid: 0, gid: 0, mtimeNs: NS },
    { path: b(rawName), type: "file", mode: 0o640, uid: 0, gid: 0, mtimeNs: NS, size: 5, data: () => pieces(b("bytes"), 2) },
    { path: b(`root/${"d".repeat(120)}`), type: "dir", mode: 0o755, uid: 0, gid: 0, mtimeNs: NS },
    { path: b(long), type: "file", mode: 0o600, uid: 0, gid: 0, mtimeNs: NS, size: data.length, data: () => pieces(data, 500) },
    { path: b("root/empty"), type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: NS, size: 0 },
    { path: b("root/link"), type: "symlink", mode: 0o777, uid: 0, gid: 0, mtimeNs: NS, target: b([0x6e, 0x61, 0x80]) },
  ];
  const archive = new Uint8Array(await new Response(tarStream(members(list))).arrayBuffer());
  expect(archive.length % 512).toBe(0);
  const file = join(work, "a.tar");
  writeFileSync(file, archive);
  const out = join(work, "out");
  Bun.spawnSync(["mkdir", out]);
  const r = Bun.spawnSync(["tar", "-xf", file, "-C", out]);
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
  const names = readdirSync(join(out, "root"), { encoding: "buffer" }).map((n) => [...n]);
  expect(names).toContainEqual(rawName.slice(5));
  expect(readFileSync(Buffer.from(join(out, Buffer.from(rawName).toString("latin1")), "latin1")).toString()).toBe("bytes");
  expect(Buffer.compare(readFileSync(join(out, long)), Buffer.from(data))).toBe(0);
  expect(readFileSync(join(out, "root/empty")).length).toBe(0);
  expect([...readlinkSync(join(out, "root/link"), { encoding: "buffer" })]).toEqual([0x6e, 0x61, 0x80]);
  const st = lstatSync(join(out, long), { bigint: true });
  expect(Number(st.mode & 0o777n)).toBe(0o600);
  expect(st.mtimeNs / 1_000_000_000n).toBe(1_700_000_000n);
  expect(Number(lstatSync(join(out, "root")).mode & 0o777)).toBe(0o750);
});

test("a file whose data falls short of its size fails the stream", async () => {
  const list: TarMember[] = [{ path: b("x"), type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: NS, size: 10, data: () => pieces(b("short"), 5) }];
  await expect(new Response(tarStream(members(list))).arrayBuffer()).rejects.toThrow("shorter than its size");
});
