/**
 * Backups through a network-like mount (latfs: every request answered after a delay, on many
 * threads, with the kernel's lookup and attribute caches), so that the walk, the lstats and
 * the small-file reads really overlap: the recovery point's tree must equal the source, not
 * depend on the concurrency, and files and directories that change during the walk must still
 * be marked inconsistent. Needs root and /dev/fuse; in CI (where both are) it never skips.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { backup } from "../../src/backup/backup.ts";
import { fromHex } from "../../src/vault/id.ts";
import type { Vault } from "../../src/vault/vault.ts";
import { bytes } from "../support/tree.ts";
import { testVault, treeEntries } from "../support/vault.ts";

const T0 = new Date("2026-03-01T10:00:00.000Z");
const canMount = process.getuid?.() === 0 && existsSync("/dev/fuse");
const inCi = !!process.env.CI;
/** Skipped only off CI on a machine without root or FUSE; in CI a missing piece fails. */
const run = canMount || inCi ? describe : describe.skip;

let tmp: string;
let latfs: string;
const mounts: { mnt: string; child: ChildProcess }[] = [];

function buildScript(): string {
  const candidates = [process.env.LATFS_BUILD, resolve(import.meta.dir, "../../../shared/tools/latfs/build"), resolve(import.meta.dir, "../../../../shared/tools/latfs/build"), "/work/shared/tools/latfs/build"];
  const found = candidates.find((c): c is string => !!c && existsSync(c));
  if (!found) throw new Error(`latfs build script not found (tried ${candidates.filter(Boolean).join(", ")}); set LATFS_BUILD`);
  return found;
}

function isMounted(mnt: string): boolean {
  return readFileSync("/proc/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === mnt);
}

/** Mounts src at mnt through latfs with the given delay and cache timeout. */
async function mount(src: string, mnt: string, us: number, timeout = 1): Promise<void> {
  mkdirSync(mnt, { recursive: true });
  const child = spawn(latfs, ["--meta-us", String(us), "--io-us", String(us), "--timeout", String(timeout), src, mnt], { stdio: "ignore" });
  mounts.push({ mnt, child });
  for (let i = 0; i < 200 && !isMounted(mnt); i++) await Bun.sleep(25);
  if (!isMounted(mnt)) throw new Error(`latfs did not mount ${mnt}`);
}

beforeAll(() => {
  if (!canMount && !inCi) return;
  tmp = mkdtempSync(join(tmpdir(), "efsbak-nfs-"));
  latfs = join(tmp, "latfs");
  const r = spawnSync("bash", [buildScript(), latfs], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`Cannot build latfs: ${r.stderr}`);
});

afterAll(() => {
  for (const { mnt, child } of mounts) {
    if (spawnSync("fusermount3", ["-u", mnt]).status !== 0) spawnSync("umount", ["-l", mnt]);
    child.kill();
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Seen {
  type: string;
  size?: number;
  mode: number;
  mtime: string;
  target?: string;
  content?: string;
}

/** Every entry of a recovery point's tree by path, file contents read back from the vault. */
async function rpEntries(vault: Vault, tree: string, prefix = "", out = new Map<string, Seen>()): Promise<Map<string, Seen>> {
  for (const n of await treeEntries(vault, tree)) {
    const path = prefix ? `${prefix}/${n.name}` : n.name;
    const seen: Seen = { type: n.type, mode: n.mode, mtime: n.mtime };
    if (n.type === "file") {
      const parts = await Promise.all(n.content.map((h) => vault.loadBlob(fromHex(h, 32)!)));
      seen.size = n.size;
      seen.content = Buffer.concat(parts).toString("base64");
    } else if (n.type === "symlink") seen.target = n.target;
    out.set(path, seen);
    if (n.type === "dir") await rpEntries(vault, n.subtree, path, out);
  }
  return out;
}

/** The same view of a directory on disk. */
function diskEntries(dir: string, prefix = "", out = new Map<string, Seen>()): Map<string, Seen> {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const path = prefix ? `${prefix}/${name}` : name;
    const st = lstatSync(p, { bigint: true });
    const seen: Seen = { type: st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other", mode: Number(st.mode & 0o7777n), mtime: st.mtimeNs.toString() };
    if (st.isFile()) {
      seen.size = Number(st.size);
      seen.content = readFileSync(p).toString("base64");
    } else if (st.isSymbolicLink()) seen.target = readlinkSync(p);
    out.set(path, seen);
    if (st.isDirectory()) diskEntries(p, path, out);
  }
  return out;
}

/** 30 directories (some nested 3 deep) of small, empty and multi-chunk files, links, an empty directory. */
function makeSource(src: string): void {
  let seed = 1;
  for (let d = 0; d < 30; d++) {
    const dir = d % 5 === 0 ? join(src, `d${d}`, "x", "y") : join(src, `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 20; f++) writeFileSync(join(dir, `f${f}`), bytes((seed * 37) % 3000, seed++));
    writeFileSync(join(dir, "empty"), "");
  }
  writeFileSync(join(src, "d1", "big"), bytes(200_000, 7));
  symlinkSync("../d2/f3", join(src, "d1", "link"));
  linkSync(join(src, "d3", "f4"), join(src, "d4", "hard"));
  mkdirSync(join(src, "empty-dir"));
}

run("backup through a network-like mount", () => {
  test("the tree equals the source and does not depend on the concurrency", async () => {
    const src = join(tmp, "src1");
    const mnt = join(tmp, "mnt1");
    makeSource(src);
    await mount(src, mnt, 300);
    const vault = await testVault();
    const a = await backup(vault, mnt, { resource: "r", now: T0, jobId: "j1", concurrency: 32 });
    expect(a.rp.status).toBe("AVAILABLE");
    expect(a.skipped).toEqual([]);
    expect(a.rp.inconsistent).toEqual([]);
    expect(a.rp.files).toBe(30 * 21 + 2);
    const want = diskEntries(src);
    expect(await rpEntries(vault, a.rp.tree)).toEqual(want);
    // One request at a time: the same tree blobs, byte for byte.
    const b = await backup(vault, mnt, { resource: "r", now: T0, jobId: "j2", concurrency: 1 });
    expect(b.rp.tree).toBe(a.rp.tree);
    // A no-change run reuses every file and reads nothing.
    const c = await backup(vault, mnt, { resource: "r", now: T0, jobId: "j3", parent: a.rp, concurrency: 64 });
    expect(c.rp.tree).toBe(a.rp.tree);
    expect(c.bytesRead).toBe(0);
  }, 120_000);

  test("files and directories changing during the walk are marked inconsistent; the rest is exact", async () => {
    const src = join(tmp, "src2");
    const mnt = join(tmp, "mnt2");
    makeSource(src);
    mkdirSync(join(src, "hot"));
    writeFileSync(join(src, "hot", "small"), "0");
    writeFileSync(join(src, "hot", "big"), bytes(100_000, 3));
    // No kernel caches (timeout 0): every stat reaches latfs, which sees the source as it is.
    // 2 ms per request: every read of a hot file spans several turns of the writers even when a
    // busy machine delays them.
    await mount(src, mnt, 2000, 0);
    // On the source, as fast as they can: one loop rewrites the hot files (shell builtins only,
    // so each turn takes microseconds: small takes a new size each time, big keeps growing), one adds and removes an entry of hot/.
    const hot = JSON.stringify(join(src, "hot"));
    const writers = [
      spawn("bash", ["-c", `cd ${hot} && i=0; while :; do i=$((i+1)); printf %0$((i % 900 + 1))d 0 > small; echo $i >> big; done`], { stdio: "ignore" }),
      spawn("bash", ["-c", `cd ${hot} && while :; do echo x >> big; done`], { stdio: "ignore" }),
      spawn("bash", ["-c", `cd ${hot} && while :; do : > tmp-entry; rm -f tmp-entry; done`], { stdio: "ignore" }),
    ];
    try {
      await Bun.sleep(100);
      const vault = await testVault();
      const r = await backup(vault, mnt, { resource: "r", now: T0, jobId: "j", concurrency: 16 });
      for (const w of writers) w.kill("SIGKILL");
      await Promise.all(writers.map((w) => new Promise((r) => (w.exitCode !== null || w.signalCode !== null ? r(null) : w.once("exit", r)))));
      expect(r.rp.inconsistent).toContain("hot");
      expect(r.rp.inconsistent).toContain("hot/small");
      expect(r.rp.inconsistent).toContain("hot/big");
      const got = await rpEntries(vault, r.rp.tree);
      const hotNode = (await treeEntries(vault, r.rp.tree)).find((n) => n.name === "hot")!;
      expect(hotNode.type === "dir" && hotNode.inconsistent).toBe(true);
      for (const [path, seen] of diskEntries(src)) if (!path.startsWith("hot")) expect(got.get(path)).toEqual(seen);
    } finally {
      for (const w of writers) w.kill("SIGKILL");
    }
  }, 120_000);
});
