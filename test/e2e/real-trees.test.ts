/**
 * Backing up real trees through dist/efsbak (issue #14, backup side): names that are not
 * valid UTF-8, extended attributes of every namespace (POSIX ACLs and capabilities as their
 * raw values), devices, paths past PATH_MAX, the root's own metadata, and honest outcomes for
 * entries that cannot be read. What reached the vault is checked in the vault itself (tree
 * blobs, chunks) and through `efsbak ls --json`, never through a restore.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, closeSync, constants, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { ensureBinary, runBinary } from "../support/cli.ts";
import { makeTree, symlink } from "../support/tree.ts";
import { mknod, setXattr } from "../../src/fs/libc.ts";
import { localStorage } from "../../src/storage/local.ts";
import { openVault, type Vault } from "../../src/vault/vault.ts";
import { listRecoveryPoints, type RecoveryPoint } from "../../src/vault/recovery-point.ts";
import { decodeTree } from "../../src/tree/tree.ts";
import { nameToBytes } from "../../src/tree/name.ts";
import type { Node } from "../../src/tree/node.ts";
import { fromHex } from "../../src/vault/id.ts";

let work: string;

beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-real-"));
  chmodSync(work, 0o755); // the unreadable-entries case runs the binary as another uid
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A path under `dir` with a name given as raw bytes. */
function bytePath(dir: string, name: number[] | Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name)]);
}

async function openLocal(path: string): Promise<Vault> {
  return openVault(localStorage(path), { cold: localStorage(join(path, "cold")) });
}

async function latestRp(vault: Vault): Promise<RecoveryPoint> {
  return (await listRecoveryPoints(vault)).at(-1)!;
}

async function treeOf(vault: Vault, hex: string): Promise<Node[]> {
  return decodeTree(hex, await vault.loadBlob(fromHex(hex, 32)!));
}

async function contentOf(vault: Vault, ids: string[]): Promise<Buffer> {
  return Buffer.concat(await Promise.all(ids.map(async (id) => Buffer.from(await vault.loadBlob(fromHex(id, 32)!)))));
}

async function backupJson(src: string, vault: string, extra: string[] = []) {
  const r = await runBinary(["backup", src, "--vault", vault, "--json", ...extra], { cwd: work });
  return { ...r, out: r.stdout ? JSON.parse(r.stdout) : null };
}

async function lsJson(vault: string, args: string[] = []) {
  const r = await runBinary(["ls", "latest", ...args, "--vault", vault, "--json"], { cwd: work });
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).entries as Record<string, any>[];
}

describe("names are bytes", () => {
  test("three names that decode alike stay three files, a lone invalid name and a byte target are kept exactly", async () => {
    const src = join(work, "names");
    mkdirSync(src);
    const names = [[0x78, 0xff], [0x78, 0xfe], [0x78, 0xef, 0xbf, 0xbd]];
    names.forEach((n, i) => writeFileSync(bytePath(src, n), "abc"[i]));
    mkdirSync(bytePath(src, [0x64, 0x80]));
    writeFileSync(Buffer.concat([bytePath(src, [0x64, 0x80]), Buffer.from("/lone-\xc3", "latin1")]), "lone");
    symlinkSync(Buffer.from([0x74, 0xfe, 0x0a, 0x5c]), bytePath(src, [0x6c]));
    writeFileSync(join(src, "new\nline"), "nl");
    const big = Buffer.alloc(400_000, 0x5a); // past the small-file size: read on the main thread
    writeFileSync(bytePath(src, [0x62, 0xff]), big);
    const vault = join(work, "v-names");
    const b = await backupJson(src, vault);
    expect(b.stderr).not.toContain("vanished");
    expect(b.code).toBe(0);
    expect(b.out.job.state).toBe("COMPLETED");
    expect(b.out.job.files).toBe(6);

    // In the vault: the exact bytes of every name and of the target, each file its own content.
    const v = await openLocal(vault);
    const root = await treeOf(v, (await latestRp(v)).tree);
    const byBytes = new Map(root.map((n) => [nameToBytes(n.name)!.toString("hex"), n]));
    for (const [i, n] of names.entries()) {
      const node = byBytes.get(Buffer.from(n).toString("hex"));
      expect(node?.type).toBe("file");
      expect((await contentOf(v, (node as any).content)).toString()).toBe("abc"[i]);
    }
    expect((await contentOf(v, (byBytes.get("62ff") as any).content)).equals(big)).toBe(true);
    const link = byBytes.get("6c")!;
    expect(link.type === "symlink" && nameToBytes(link.target)!.toString("hex")).toBe("74fe0a5c");
    const sub = await treeOf(v, (byBytes.get("6480") as any).subtree);
    expect(sub.map((n) => nameToBytes(n.name)!.toString("hex"))).toContain(Buffer.from("lone-\xc3", "latin1").toString("hex"));

    // Shown escaped, one way, in ls text and JSON: no raw newline, no U+FFFD for a raw byte.
    const text = await runBinary(["ls", "latest", "--vault", vault], { cwd: work });
    expect(text.stdout).toContain("x\\xff");
    expect(text.stdout).toContain("x\\xfe");
    expect(text.stdout).toContain("l -> t\\xfe\\x0a\\\\");
    expect(text.stdout).toContain("new\\x0aline");
    expect(text.stdout).toContain("d\\x80/lone-\\xc3");
    expect(text.stdout.split("\n").length).toBe(text.stdout.trimEnd().split("\n").length + 1);
    const entries = await lsJson(vault);
    const paths = entries.map((e) => e.path).sort();
    expect(paths).toEqual(["b\\xff", "d\\x80", "d\\x80/lone-\\xc3", "l", "new\\x0aline", "x\\xfe", "x\\xff", "x\ufffd"].sort());
    expect(entries.find((e) => e.path === "l")!.target).toBe("t\\xfe\\x0a\\\\");
    // A path argument in the same escaped form finds the entry.
    const one = await lsJson(vault, ["d\\x80"]);
    expect(one.map((e) => e.path)).toEqual(["d\\x80/lone-\\xc3"]);

    // diff shows the same escaping.
    writeFileSync(bytePath(src, [0x78, 0xff]), "changed");
    expect((await backupJson(src, vault)).code).toBe(0);
    const rps = await listRecoveryPoints(await openLocal(vault));
    const d = await runBinary(["diff", rps[0].id, rps[1].id, "--vault", vault], { cwd: work });
    expect(d.stdout).toContain("M x\\xff");
    const dj = JSON.parse((await runBinary(["diff", rps[0].id, rps[1].id, "--vault", vault, "--json"], { cwd: work })).stdout);
    expect(dj.changed).toEqual(["x\\xff"]);
  }, 60_000);
});

/** A POSIX ACL xattr value (version 2; entries of tag, perm, id). */
function aclValue(entries: [tag: number, perm: number, id: number][]): Buffer {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + i * 8);
    b.writeUInt16LE(perm, 6 + i * 8);
    b.writeUInt32LE(id, 8 + i * 8);
  });
  return b;
}

const ALL = 0xffffffff;
const ACCESS_ACL = aclValue([[1, 6, ALL], [2, 6, 1000], [4, 4, ALL], [0x10, 6, ALL], [0x20, 4, ALL]]);
const DEFAULT_ACL = aclValue([[1, 7, ALL], [4, 5, ALL], [8, 5, 1000], [0x10, 5, ALL], [0x20, 0, ALL]]);
const CAPABILITY = Buffer.from("0000000200200000000000000000000000000000", "hex"); // cap_net_bind_service, v2

describe("extended attributes", () => {
  test("user, trusted, security, capability and both ACLs are stored per entry, the root's too, and kept by an incremental backup", async () => {
    const src = join(work, "xattrs");
    makeTree(src, { "f.txt": "data", plain: "no xattrs", d: { inner: "i" }, l: symlink("f.txt") });
    const set = (p: string | Buffer, name: string, value: Buffer | string) => setXattr(p, Buffer.from(name), Buffer.from(value));
    set(join(src, "f.txt"), "user.comment", "hello");
    set(join(src, "f.txt"), "trusted.t", "root only");
    set(join(src, "f.txt"), "security.s", "sec");
    set(join(src, "f.txt"), "security.capability", CAPABILITY);
    set(join(src, "f.txt"), "system.posix_acl_access", ACCESS_ACL);
    set(join(src, "d"), "system.posix_acl_default", DEFAULT_ACL);
    set(join(src, "l"), "trusted.onlink", "link");
    set(src, "user.root", "top");
    const vault = join(work, "v-xattrs");
    const b = await backupJson(src, vault);
    expect(b.code).toBe(0);

    const check = async () => {
      const v = await openLocal(vault);
      const rp = await latestRp(v);
      expect(rp.root?.xattrs).toEqual([["user.root", Buffer.from("top").toString("base64")]]);
      const root = new Map((await treeOf(v, rp.tree)).map((n) => [n.name, n]));
      const f = root.get("f.txt")!;
      expect(f.xattrs?.map(([k]) => k)).toEqual(["security.capability", "security.s", "system.posix_acl_access", "trusted.t", "user.comment"]);
      const val = (n: Node, k: string) => Buffer.from(n.xattrs!.find(([name]) => name === k)![1], "base64");
      expect(val(f, "system.posix_acl_access").equals(ACCESS_ACL)).toBe(true);
      expect(val(f, "security.capability").equals(CAPABILITY)).toBe(true);
      expect(val(f, "trusted.t").toString()).toBe("root only");
      expect(val(root.get("d")!, "system.posix_acl_default").equals(DEFAULT_ACL)).toBe(true);
      expect(val(root.get("l")!, "trusted.onlink").toString()).toBe("link");
      expect(root.get("plain")!.xattrs).toBeUndefined();
    };
    await check();
    const entries = await lsJson(vault);
    expect(entries.find((e) => e.path === "f.txt")!.xattrs.find((x: any) => x.name === "user.comment").value).toBe(Buffer.from("hello").toString("base64"));

    // Nothing changed: the next backup reads no file, and every entry keeps its xattrs.
    const again = await backupJson(src, vault);
    expect(again.code).toBe(0);
    expect(again.out.job.bytes_read).toBe(0);
    await check();

    // An xattr changed (ctime moves, so the file is read again): the new value is recorded,
    // and diff reports the file as changed.
    set(join(src, "f.txt"), "user.comment", "changed");
    expect((await backupJson(src, vault)).code).toBe(0);
    const v = await openLocal(vault);
    const rps = await listRecoveryPoints(v);
    const f = (await treeOf(v, rps.at(-1)!.tree)).find((n) => n.name === "f.txt")!;
    expect(f.xattrs!.find(([k]) => k === "user.comment")![1]).toBe(Buffer.from("changed").toString("base64"));
    const d = await runBinary(["diff", rps.at(-2)!.id, rps.at(-1)!.id, "--vault", vault, "--json"], { cwd: work });
    expect(JSON.parse(d.stdout).changed).toEqual(["f.txt"]);
  }, 60_000);
});

describe("devices and mode bits", () => {
  test("character and block devices are stored with rdev; FIFOs are counted and omitted; ls shows c/b and s/S/t/T", async () => {
    const src = join(work, "devices");
    mkdirSync(src);
    mknod(join(src, "null"), constants.S_IFCHR | 0o666, (1n << 8n) | 3n);
    mknod(join(src, "loop"), constants.S_IFBLK | 0o660, (7n << 8n) | 0n);
    chmodSync(join(src, "null"), 0o666); // past the umask
    chmodSync(join(src, "loop"), 0o660);
    spawnSync("mkfifo", [join(src, "pipe")]);
    makeTree(src, { suid: "x", sgid: "y", sticky: {}, stickyx: {} });
    chmodSync(join(src, "suid"), 0o4755);
    chmodSync(join(src, "sgid"), 0o2644);
    chmodSync(join(src, "sticky"), 0o1776);
    chmodSync(join(src, "stickyx"), 0o1777);
    const vault = join(work, "v-devices");
    const b = await backupJson(src, vault);
    expect(b.code).toBe(0);
    expect(b.out.job.warnings).toEqual(['Omitted named pipe "pipe"']);
    const v = await openLocal(vault);
    const rp = await latestRp(v);
    expect(rp.omitted).toBe(1);
    const root = new Map((await treeOf(v, rp.tree)).map((n) => [n.name, n]));
    expect(root.get("null")).toMatchObject({ type: "chardev", rdev: String(lstatSync(join(src, "null")).rdev), mode: 0o666 });
    expect(root.get("loop")).toMatchObject({ type: "blockdev", rdev: String(lstatSync(join(src, "loop")).rdev) });
    expect(root.has("pipe")).toBe(false);

    const text = (await runBinary(["ls", "latest", "--vault", vault], { cwd: work })).stdout;
    const line = (name: string) => text.split("\n").find((l) => l.endsWith(`  ${name}`) || l.endsWith(`  ${name}/`))!;
    expect(line("null")).toMatch(/^crw-rw-rw- +1, 3 /);
    expect(line("loop")).toMatch(/^brw-rw---- +7, 0 /);
    expect(line("suid")).toStartWith("-rwsr-xr-x");
    expect(line("sgid")).toStartWith("-rw-r-Sr--");
    expect(line("sticky")).toStartWith("drwxrwxrwT");
    expect(line("stickyx")).toStartWith("drwxrwxrwt");
    const json = await lsJson(vault);
    expect(json.find((e) => e.path === "null")).toMatchObject({ type: "chardev", major: 1, minor: 3, mode: "0666" });
    expect(json.find((e) => e.path === "suid")!.mode).toBe("04755");
  }, 60_000);
});

/** Makes nested directories whose full path exceeds PATH_MAX (through descriptors, as the kernel allows). */
function makeDeep(root: string, segment: string, depth: number): { fd: number; rel: string } {
  mkdirSync(root);
  let fd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  let rel = "";
  for (let i = 0; i < depth; i++) {
    const name = `${segment}${i}`;
    mkdirSync(`/proc/self/fd/${fd}/${name}`);
    const next = openSync(`/proc/self/fd/${fd}/${name}`, constants.O_RDONLY | constants.O_DIRECTORY);
    closeSync(fd);
    fd = next;
    rel = rel ? `${rel}/${name}` : name;
  }
  return { fd, rel };
}

describe("paths longer than PATH_MAX", () => {
  test("a file more than 5,000 bytes deep backs up with its content", async () => {
    const src = join(work, "deep");
    const { fd, rel } = makeDeep(src, "d".repeat(200), 28);
    const big = Buffer.alloc(300_000, 7);
    writeFileSync(`/proc/self/fd/${fd}/leaf.txt`, "deep content");
    writeFileSync(`/proc/self/fd/${fd}/big.bin`, big);
    symlinkSync("leaf.txt", `/proc/self/fd/${fd}/l`);
    closeSync(fd);
    expect(Buffer.byteLength(`${src}/${rel}/leaf.txt`)).toBeGreaterThan(5000);
    const vault = join(work, "v-deep");
    const b = await backupJson(src, vault);
    expect(b.stderr).not.toContain("ENAMETOOLONG");
    expect(b.code).toBe(0);
    expect(b.out.job.files).toBe(2);

    const entries = await lsJson(vault);
    const leaf = entries.find((e) => e.path === `${rel}/leaf.txt`)!;
    expect(leaf.size).toBe(12);
    expect(entries.find((e) => e.path === `${rel}/l`)!.target).toBe("leaf.txt");
    const v = await openLocal(vault);
    let tree = await treeOf(v, (await latestRp(v)).tree);
    for (const part of rel.split("/")) tree = await treeOf(v, (tree.find((n) => n.name === part) as any).subtree);
    const content = (name: string) => contentOf(v, (tree.find((n) => n.name === name) as any).content);
    expect((await content("leaf.txt")).toString()).toBe("deep content");
    expect((await content("big.bin")).equals(big)).toBe(true);
  }, 60_000);
});

describe("the root's own metadata", () => {
  test("mode, owner and mtime of the source directory are recorded in the recovery point", async () => {
    const src = join(work, "rootmeta");
    makeTree(src, { a: "a" });
    chmodSync(src, 0o2750);
    chownSync(src, 1234, 5678);
    utimesSync(src, 1_600_000_000, 1_600_000_000);
    const vault = join(work, "v-rootmeta");
    expect((await backupJson(src, vault)).code).toBe(0);
    const rp = await latestRp(await openLocal(vault));
    expect(rp.root).toEqual({ mode: 0o2750, uid: 1234, gid: 5678, mtime: "1600000000000000000" });
  }, 60_000);
});

describe("honest outcomes", () => {
  test("entries the backup cannot read: exit 3, every path listed with its reason, files counts stored files, the RP usable", async () => {
    const src = join(work, "unreadable");
    makeTree(src, { ok: { a: "hi", b: "there" }, top: "t", locked: { f: "x" }, secret: "s", [`bad\nname`]: "n" });
    chmodSync(join(src, "secret"), 0o600);
    chmodSync(join(src, `bad\nname`), 0o600);
    chmodSync(join(src, "locked"), 0o700);
    const vault = join(work, "v-unreadable");
    mkdirSync(vault);
    chownSync(vault, 65534, 65534);
    const metrics = join(work, "unreadable.prom");
    chownSync(work, 65534, 65534); // the metrics file is written beside others in work
    const bin = ensureBinary();
    const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", bin, "backup", src, "--vault", vault, "--json", "--metrics-file", metrics], { cwd: work, env: { PATH: process.env.PATH, HOME: work }, encoding: "utf8" });
    chownSync(work, 0, 0);
    expect(r.status).toBe(3);
    const job = JSON.parse(r.stdout).job;
    expect(job.state).toBe("PARTIAL");
    expect(job.error).toBe("Completed with issues: 3 entries skipped");
    expect(job.skipped_count).toBe(3);
    expect(job.skipped).toEqual([{ path: "bad\\x0aname", reason: "EACCES" }, { path: "locked", reason: "EACCES" }, { path: "secret", reason: "EACCES" }]);
    expect(job.files).toBe(3); // ok/a, ok/b, top
    expect(job.bytes_read).toBe(8); // "hi", "there", "t": nothing of the unreadable ones
    expect(r.stderr).toContain('Cannot read "bad\\x0aname": EACCES; skipped');

    const v = await openLocal(vault);
    const rp = await latestRp(v);
    expect(rp.status).toBe("AVAILABLE");
    expect(rp.skipped).toBe(3);
    expect(rp.files).toBe(3);
    const listed = JSON.parse((await runBinary(["recovery-points", "--vault", vault, "--json"], { cwd: work })).stdout).recovery_points;
    expect(listed.map((x: any) => [x.status, x.skipped, x.files])).toEqual([["AVAILABLE", 3, 3]]);
    const paths = (await lsJson(vault)).map((e) => e.path).sort();
    expect(paths).toEqual(["locked", "ok", "ok/a", "ok/b", "top"]); // "latest" picks it
    const prom = readFileSync(metrics, "utf8");
    expect(prom).toMatch(new RegExp(`^efsbak_last_backup_skipped_entries\\{vault="[^"]*",resource="${src}"\\} 3$`, "m"));
  }, 60_000);
});
