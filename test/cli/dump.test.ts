/**
 * `efsbak dump` through the compiled binary: a directory as a pax tar stream that GNU tar
 * (as root, `tar --xattrs --xattrs-include='*' -xpf -`) extracts with the same bytes, modes,
 * owners, mtimes (ns), symlinks and hard links as the source; names holding byte 0xff (short
 * and past the ustar fields), a binary link target and xattrs of two namespaces from a
 * hand-made recovery point; one file to stdout, whole through a slow pipe; errors.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getXattr, listXattrs } from "../../src/fs/libc.ts";
import { localStorage } from "../../src/storage/local.ts";
import { saveRecoveryPoint } from "../../src/vault/recovery-point.ts";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { bytes, dir, file, hardlink, makeTree, snapshotTree, symlink } from "../support/tree.ts";
import { fakeRecoveryPoint, nodes, storeChunks, storeTree, testVault } from "../support/vault.ts";

let work: string;
const BIG = bytes(5_000_000, 7);
const LONG_DIR = "d".repeat(120);
const LONG_FILE = "f".repeat(150);

function cli(args: string[]) {
  return runBinary(args, { cwd: work });
}

/** Runs `efsbak dump … | tar -xpf -` in a shell; returns tar's and efsbak's exit codes and stderr. */
function dumpExtract(args: string[], into: string): { efsbak: number; tar: number; stderr: string } {
  mkdirSync(into, { recursive: true });
  const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const script = `${q(ensureBinary())} dump ${args.map(q).join(" ")} 2>efsbak.err | tar --xattrs --xattrs-include='*' -C ${q(into)} -xpf - 2>tar.err; echo "\${PIPESTATUS[0]} \${PIPESTATUS[1]}"`;
  const r = Bun.spawnSync(["bash", "-c", script], { cwd: work, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  const [efsbak, tar] = r.stdout.toString().trim().split(" ").map(Number);
  return { efsbak, tar, stderr: readFileSync(join(work, "efsbak.err"), "utf8") + readFileSync(join(work, "tar.err"), "utf8") };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "efsbak-cli-dump-"));
  makeTree(join(work, "src/www"), {
    "index.html": file("<h1>hi</h1>\n", { mode: 0o640, mtime: 1_700_000_000_123_456_789n }),
    big: file(BIG, { mode: 0o4755 }),
    empty: file(""),
    conf: dir({ "a.conf": "x=1\n", "b.conf": "y=2\n", deeper: dir({ "c.conf": "z" }, { mode: 0o700, mtime: 1_600_000_000_987_654_321n }) }, { mode: 0o750, mtime: 1_650_000_000_000_000_001n }),
    [LONG_DIR]: { [LONG_FILE]: "long path\n" },
    link: symlink("conf/a.conf"),
    dangling: symlink("../nowhere"),
    hard: hardlink("index.html"),
  });
  chownSync(join(work, "src/www/conf/a.conf"), 1234, 5678);
  const init = await cli(["vault", "init", "./vault"]);
  expect(init.code).toBe(0);
  const b = await cli(["backup", "./src/www", "--vault", "./vault"]);
  expect(b.stderr).toBe("");
  expect(b.code).toBe(0);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("efsbak dump", () => {
  test("a whole recovery point extracts with GNU tar exactly as the source (bytes, modes, owners, ns mtimes, links)", () => {
    const r = dumpExtract(["latest", "/", "--vault", "./vault"], join(work, "out-all"));
    expect(r.stderr).toBe("");
    expect([r.efsbak, r.tar]).toEqual([0, 0]);
    expect(readdirSync(join(work, "out-all"))).toEqual(["www"]);
    const want = snapshotTree(join(work, "src/www"));
    const got = snapshotTree(join(work, "out-all/www"));
    expect(got).toEqual(want);
    expect(got["conf/a.conf"]).toMatchObject({ uid: 1234, gid: 5678 });
    expect(got.big.mode).toBe(0o4755);
    expect(got.hard.link).toBe("hard");
    expect(got.link.target).toBe("conf/a.conf");
    expect(got[`${LONG_DIR}/${LONG_FILE}`].size).toBe(10);
    expect(lstatSync(join(work, "out-all/www/conf"), { bigint: true }).mtimeNs).toBe(1_650_000_000_000_000_001n);
  });

  test("a directory is named from its own name down, as tar -C parent name", () => {
    const r = dumpExtract(["latest", "conf", "--vault", "./vault"], join(work, "out-conf"));
    expect([r.efsbak, r.tar]).toEqual([0, 0]);
    expect(readdirSync(join(work, "out-conf"))).toEqual(["conf"]);
    expect(snapshotTree(join(work, "out-conf/conf"))).toEqual(snapshotTree(join(work, "src/www/conf")));
    expect(Number(lstatSync(join(work, "out-conf/conf")).mode & 0o7777)).toBe(0o750);
  });

  test("one file goes to stdout whole, through a pipe read slowly", async () => {
    const proc = Bun.spawn([ensureBinary(), "dump", "latest", "big", "--vault", "./vault"], { cwd: work, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "" } });
    const reader = proc.stdout.getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parts.push(value);
      await Bun.sleep(2); // a slow consumer: the pipe fills, efsbak must wait, not drop
    }
    expect(await proc.exited).toBe(0);
    expect(parts.length).toBeGreaterThan(10);
    const out = Buffer.concat(parts);
    expect(out.length).toBe(BIG.length);
    expect(out.equals(Buffer.from(BIG))).toBe(true);
  });

  test("names with byte 0xff (short and long), a binary link target and xattrs come out as bytes", async () => {
    const storage = localStorage(join(work, "vault-bytes"));
    const vault = await testVault({ storage });
    const data = bytes(20_000, 3);
    const chunks = await storeChunks(vault, [data.subarray(0, 12_000), data.subarray(12_000)]);
    const ff = "\udcff";
    const longName = `${"n".repeat(120)}${ff}`;
    const inner = await storeTree(vault, [
      nodes.file(`x${ff}y`, chunks, data.length, { mode: 0o600, uid: 42, gid: 43, mtime: "1700000000555000000", xattrs: [["trusted.t", Buffer.from([0, 1, 255]).toString("base64")], ["user.note", Buffer.from("hé").toString("base64")]] }),
      nodes.file(longName, [], 0),
      nodes.symlink(`l${ff}`, `tar${"g".repeat(120)}\udcfe`),
    ]);
    const root = await storeTree(vault, [nodes.dir(`sub${ff}`, inner, { mode: 0o711, mtime: "1690000000000000007" }), nodes.file("plain", [], 0)]);
    await saveRecoveryPoint(vault, fakeRecoveryPoint(root, { id: "b1e5b1e5b1e5b1e5b1e5b1e5b1e5b1e5", source_path: "/srv/bytes", root: { mode: 0o755, uid: 0, gid: 0, mtime: "1680000000000000000" } }));

    const into = join(work, "out-bytes");
    const r = dumpExtract(["b1e5", "/", "--vault", "./vault-bytes"], into);
    expect(r.stderr).toBe("");
    expect([r.efsbak, r.tar]).toEqual([0, 0]);
    const top = Buffer.from(join(into, "bytes"));
    const subPath = Buffer.concat([top, Buffer.from("/sub"), Buffer.of(0xff)]);
    expect(lstatSync(subPath, { bigint: true }).mtimeNs).toBe(1690000000000000007n);
    expect(Number(lstatSync(subPath).mode & 0o7777)).toBe(0o711);
    const names = readdirSync(subPath, { encoding: "buffer" }).map((b) => b.toString("hex")).sort();
    expect(names).toEqual([Buffer.concat([Buffer.from("l"), Buffer.of(0xff)]), Buffer.concat([Buffer.from("n".repeat(120)), Buffer.of(0xff)]), Buffer.concat([Buffer.from("x"), Buffer.of(0xff), Buffer.from("y")])].map((b) => b.toString("hex")).sort());
    const f = Buffer.concat([subPath, Buffer.from("/x"), Buffer.of(0xff), Buffer.from("y")]);
    expect(readFileSync(f).equals(Buffer.from(data))).toBe(true);
    const st = lstatSync(f, { bigint: true });
    expect([Number(st.mode & 0o7777n), Number(st.uid), Number(st.gid), st.mtimeNs]).toEqual([0o600, 42, 43, 1700000000555000000n]);
    expect(listXattrs(f).map(String).sort()).toEqual(["trusted.t", "user.note"]);
    expect(getXattr(f, Buffer.from("trusted.t"))!.equals(Buffer.from([0, 1, 255]))).toBe(true);
    expect(getXattr(f, Buffer.from("user.note"))!.toString()).toBe("hé");
    const link = readlinkSync(Buffer.concat([subPath, Buffer.from("/l"), Buffer.of(0xff)]), { encoding: "buffer" });
    expect(link.equals(Buffer.concat([Buffer.from(`tar${"g".repeat(120)}`), Buffer.of(0xfe)]))).toBe(true);
    expect(lstatSync(top, { bigint: true }).mtimeNs).toBe(1680000000000000000n);
  });

  test("errors: a missing path and a symlink are refused with exit 1, names shown escaped; --help lists exit codes", async () => {
    const missing = await cli(["dump", "b1e5", "sub\\xff/nope", "--vault", "./vault-bytes"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Cannot dump "sub\\xff/nope" of recovery point b1e5b1e5b1e5b1e5b1e5b1e5b1e5b1e5: no such file or directory');
    const sl = await cli(["dump", "latest", "link", "--vault", "./vault"]);
    expect(sl.code).toBe(1);
    expect(sl.stderr).toContain('it is a symlink to "conf/a.conf"');
    expect(sl.stdout).toBe("");
    const help = await cli(["dump", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("EXIT STATUS");
  });
});
