/**
 * Vaults and plans under attack (issue "2/7 Vaults under attack", items 2, 3 and 9): inputs
 * whose size or shape once cost unbounded memory or time. Each hostile vault or plan is built
 * here, and the compiled binary must fail safely: peak RSS (VmHWM, sampled) and wall time
 * bounded, and a clear error naming the object or recovery point, never "internal error".
 *
 * 2. declared lengths: 8 chunks that declare 1 GiB of zeros each (a 300 KB vault), 2 chunks of
 *    4 GiB - 1; 8 listings of 120,000 entries each loaded ahead of a restore;
 * 3. a DAG: each level names the same subtree twice (a few KB expand to 2^40 entries); a
 *    chain 20,000 directories deep; `ls` streams, and SIGTERM stops it within a second;
 * 9. plans: a 100 KB plan nested 50,000 deep, a 2 MiB plan, delete_after = "285000y".
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBlobHasher } from "../../src/chunk/hash.ts";
import { EfsbakError } from "../../src/errors.ts";
import { isoAfter } from "../../src/plan/duration.ts";
import { localStorage } from "../../src/storage/local.ts";
import { walkTree } from "../../src/tree/list.ts";
import type { Node } from "../../src/tree/node.ts";
import { encodeTree } from "../../src/tree/tree.ts";
import { randomId, toHex } from "../../src/vault/id.ts";
import { packKey } from "../../src/vault/layout.ts";
import { BLOB_DATA, BLOB_TREE, PackWriter } from "../../src/vault/pack.ts";
import { type RecoveryPoint, saveRecoveryPoint } from "../../src/vault/recovery-point.ts";
import type { Vault } from "../../src/vault/vault.ts";
import { BINARY, ensureBinary } from "../support/cli.ts";
import { type BinaryRun, jsonOf, record, runBinaryMeasured } from "../support/soak.ts";
import { fakeRecoveryPoint, nodes, storeBlobs, storeChunks, testVault } from "../support/vault.ts";

/** Peak RSS any hostile input may cost the binary, MiB. */
const MAX_RSS_MIB = 400;
/** Wall time any hostile input may cost the binary, ms. */
const MAX_MS = 20_000;
const GIB = 1024 ** 3;

let work: string;
const figures: Record<string, { peak_rss_mib: number; seconds: number; code: number | null }> = {};
beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-bounds-"));
});
afterAll(() => {
  record("bounds", figures);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs the binary; records and checks its peak memory and time; never a stack or "internal error". */
async function bounded(name: string, argv: string[], options: { maxMs?: number } = {}): Promise<BinaryRun> {
  const r = await runBinaryMeasured(argv, { cwd: work });
  figures[name] = { peak_rss_mib: Math.round(r.peakRssKb / 1024), seconds: r.ms / 1000, code: r.code };
  expect({ name, rssOk: r.peakRssKb < MAX_RSS_MIB * 1024, timeOk: r.ms < (options.maxMs ?? MAX_MS) }).toEqual({ name, rssOk: true, timeOk: true });
  expect(r.stderr).not.toContain("internal error");
  expect(r.stderr).not.toContain("    at ");
  return r;
}

/** A vault in a directory of its own (the binary opens it with --vault DIR). */
async function diskVault(name: string): Promise<{ dir: string; vault: Vault }> {
  const dir = join(work, name);
  const vault = await testVault({ storage: localStorage(dir), cold: localStorage(join(dir, "cold")) });
  return { dir, vault };
}

/** Saves a recovery point of resource "hostile" for a hand-made tree. */
async function saveRp(vault: Vault, tree: string, totals: Partial<RecoveryPoint>): Promise<RecoveryPoint> {
  const rp = fakeRecoveryPoint(tree, { id: randomId(), resource: "hostile", ...totals });
  await saveRecoveryPoint(vault, rp);
  return rp;
}

/** A zstd frame of RLE blocks (3-byte header + 1 byte per 128 KiB) that inflates to `n` zero bytes. */
function zeroBomb(n: number): Uint8Array {
  const frame: number[] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]; // no content size; window 2 GiB
  const block = 128 * 1024;
  for (let left = n; left > 0; left -= block) {
    const size = Math.min(block, left);
    const h = (left <= block ? 1 : 0) | (1 << 1) | (size << 3);
    frame.push(h & 255, (h >> 8) & 255, (h >>> 16) & 255, 0);
  }
  return new Uint8Array(frame);
}

/** Stores compressed data blobs that declare `rawLength` each; returns their ids. */
async function storeBombs(vault: Vault, count: number, rawLength: number): Promise<string[]> {
  const w = new PackWriter(new Uint8Array(1 << 20), { keys: null, packType: BLOB_DATA });
  const ids: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const stored = zeroBomb(rawLength);
    const id = new Uint8Array(32).fill(i + 1);
    w.addStored({ type: BLOB_DATA, compressed: true, rawLength, storedLength: stored.length, crc: Bun.hash.crc32(stored), id }, stored);
    ids.push(id);
  }
  const { bytes, entries } = w.finish();
  const packId = randomId();
  await vault.storage.save(packKey(packId), bytes.slice());
  await vault.saveIndex({ packs: [{ packId, tier: "warm", packType: BLOB_DATA, size: bytes.length, entries }], supersedes: [] });
  return ids.map((id) => toHex(id));
}

describe("2. declared lengths are bounded by the vault's chunker, not by what a blob says", () => {
  for (const [name, count, rawLength] of [["8 chunks of 1 GiB of zeros", 8, GIB], ["2 chunks of 4 GiB - 1", 2, 2 ** 32 - 1]] as const) {
    test(`${name}: restore salvages the files, check --read-data names the blobs; memory and time bounded`, async () => {
      const { dir, vault } = await diskVault(`bomb-${count}`);
      const ids = await storeBombs(vault, count, rawLength);
      const [tree] = await storeBlobs(vault, BLOB_TREE, [encodeTree(ids.map((id, i) => nodes.file(`zeros${i}`, [id], rawLength)))]);
      const rp = await saveRp(vault, tree, { files: count, dirs: 1, symlinks: 0, tree_bytes: 10_000, size_bytes: count * rawLength });
      const r = await bounded(`restore: ${name}`, ["restore", rp.id, "--vault", dir, "--target", join(work, `out-bomb-${count}`), "--json"]);
      expect(r.code).toBe(3);
      const fragments = jsonOf(r).fragments as { original_path: string; reason: string }[];
      expect(fragments.map((f) => [f.original_path, f.reason]).sort()).toEqual(ids.map((_, i) => [`zeros${i}`, "missing or corrupt data"]));
      const c = await bounded(`check --read-data: ${name}`, ["check", "--read-data", "--vault", dir, "--json"]);
      expect(c.code).toBe(1);
      const problems = (jsonOf(c).problems as { object: string; message: string }[]).map((p) => `${p.object}: ${p.message}`);
      for (const id of ids) expect(problems.filter((p) => p.includes(id) && p.includes(`declares ${rawLength} raw bytes, more than the 16384 a blob of its type may hold`))).toHaveLength(1);
    }, 60_000);
  }

  test("an index file or recovery point object declaring 1 GiB (a 32 KB zstd bomb): refused before inflating", async () => {
    const { dir, vault } = await diskVault("object-bomb");
    const bomb = zeroBomb(GIB);
    const object = (n: number) => {
      const out = new Uint8Array(10 + bomb.length);
      out.set([0x45, 0x46, 0x53, 0x4f, 1, 1]); // "EFSO", version 1, zstd
      new DataView(out.buffer).setUint32(6, n, true);
      out.set(bomb, 10);
      return out;
    };
    const rpId = randomId();
    await vault.storage.save(`rps/${rpId}`, object(GIB));
    const list = await bounded("recovery-points: 1 GiB object", ["recovery-points", "--vault", dir]);
    expect(list.code).toBe(0); // the others are listed; the damaged one is named
    expect(list.stderr).toContain(`Cannot read "rps/${rpId}": declares ${GIB} raw bytes, more than the 268435456 an object of ${bomb.length} compressed bytes may hold`);
    const indexId = randomId();
    await vault.storage.save(`index/${indexId}`, object(GIB));
    const ls = await bounded("ls: 1 GiB index object", ["ls", "latest", "--vault", dir]);
    expect(ls.code).toBe(1);
    expect(ls.stderr).toContain(`Cannot read "index/${indexId}": declares ${GIB} raw bytes, more than the ${4 * bomb.length + 1024 * 1024} an object`);
  }, 60_000);

  test("8 listings of 120,000 entries each, loaded ahead of a restore: memory stays bounded", async () => {
    const { dir, vault } = await diskVault("wide");
    const N = 120_000;
    const subs: Node[] = [];
    let treeBytes = 0;
    for (let s = 1; s <= 8; s++) {
      const entries: Node[] = Array.from({ length: N }, (_, i) => nodes.symlink(`l${String(i).padStart(6, "0")}`, `target-${s}`));
      entries.push(nodes.file("zzz", [], 0));
      const raw = encodeTree(entries);
      treeBytes += raw.length;
      const [id] = await storeBlobs(vault, BLOB_TREE, [raw]);
      subs.push(nodes.dir(`sub${s}`, id));
    }
    const rootRaw = encodeTree(subs);
    const [root] = await storeBlobs(vault, BLOB_TREE, [rootRaw]);
    const rp = await saveRp(vault, root, { files: 8, dirs: 9, symlinks: 8 * N, tree_bytes: treeBytes + rootRaw.length });
    const include = subs.flatMap((d) => ["--include", `${d.name}/zzz`]);
    const r = await bounded("restore: 8 listings of 120k entries", ["restore", rp.id, "--vault", dir, "--target", join(work, "out-wide"), "--json", ...include]);
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(jsonOf(r).job.files).toBe(8);
  }, 120_000);
});

/** Tree blobs where each level names the level below twice: 2^depth entries from depth + 1 blobs. */
async function storeDag(vault: Vault, depth: number): Promise<{ root: string; distinctBytes: number }> {
  const [x] = await storeChunks(vault, [new TextEncoder().encode("leaf\n")]);
  const hasher = await createBlobHasher();
  const raws: Uint8Array[] = [encodeTree([nodes.file("f", [x], 5)])];
  let below = toHex(hasher.hash(raws[0]));
  for (let level = 0; level < depth; level++) {
    const raw = encodeTree([nodes.dir("a", below), nodes.dir("b", below)]);
    raws.push(raw);
    below = toHex(hasher.hash(raw));
  }
  await storeBlobs(vault, BLOB_TREE, raws);
  return { root: below, distinctBytes: raws.reduce((n, r) => n + r.length, 0) };
}

/** A chain of directories `depth` deep ("d/d/d/…/f"). */
async function storeChain(vault: Vault, depth: number, leaf: string): Promise<{ root: string; bytes: number }> {
  const [x] = await storeChunks(vault, [new TextEncoder().encode(leaf)]);
  const hasher = await createBlobHasher();
  const raws: Uint8Array[] = [encodeTree([nodes.file("f", [x], leaf.length)])];
  let below = toHex(hasher.hash(raws[0]));
  for (let level = 0; level < depth; level++) {
    const raw = encodeTree([nodes.dir("d", below)]);
    raws.push(raw);
    below = toHex(hasher.hash(raw));
  }
  for (let i = 0; i < raws.length; i += 2000) await storeBlobs(vault, BLOB_TREE, raws.slice(i, i + 2000)); // a pack's buffer holds 1 MiB
  return { root: below, bytes: raws.reduce((n, r) => n + r.length, 0) };
}

describe("3. repeated subtrees and deep trees", () => {
  let dir: string;
  let vault: Vault;
  let dag: RecoveryPoint;
  let legacy: RecoveryPoint;
  let plain: RecoveryPoint;
  const DEPTH = 40;

  beforeAll(async () => {
    ({ dir, vault } = await diskVault("dag"));
    const { root, distinctBytes } = await storeDag(vault, DEPTH);
    // What a backup of the distinct directories would record: 1 file, DEPTH + 1 dirs (and bytes to spare).
    dag = await saveRp(vault, root, { files: 1, dirs: DEPTH + 1, symlinks: 0, tree_bytes: 1000 * distinctBytes });
    legacy = await saveRp(vault, root, { files: 1, dirs: DEPTH + 1 }); // written before symlinks/tree_bytes
    const [x] = await storeChunks(vault, [new TextEncoder().encode("plain\n")]);
    const smallRaw = encodeTree([nodes.file("plain", [x], 6)]);
    const [small] = await storeBlobs(vault, BLOB_TREE, [smallRaw]);
    plain = await saveRp(vault, small, { files: 1, dirs: 1, symlinks: 0, tree_bytes: smallRaw.length });
  });

  const damaged = (rp: RecoveryPoint) => `Recovery point "${rp.id}" is damaged: its trees hold more than the ${DEPTH + 2} entries it records`;

  test("restore stops with a damage report naming the recovery point", async () => {
    const r = await bounded("restore: DAG 2^40", ["restore", dag.id, "--vault", dir, "--target", join(work, "out-dag")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(damaged(dag));
  }, 60_000);

  test("ls and diff stop with the same report", async () => {
    const ls = await bounded("ls: DAG 2^40", ["ls", dag.id, "--vault", dir]);
    expect(ls.code).toBe(1);
    expect(ls.stderr).toContain(damaged(dag));
    expect(ls.stdout.split("\n").length).toBeLessThan(DEPTH + 5); // what it streamed before stopping
    const diff = await bounded("diff: DAG 2^40", ["diff", plain.id, dag.id, "--vault", dir]);
    expect(diff.code).toBe(1);
    expect(diff.stderr).toContain(damaged(dag));
  }, 60_000);

  test("check names the recovery points (the one without totals too: 2^41 entries), not the others", async () => {
    const c = await bounded("check: DAG 2^40", ["check", "--vault", dir, "--json"]);
    expect(c.code).toBe(1);
    const problems = jsonOf(c).problems as { object: string; message: string }[];
    expect(problems.filter((p) => p.message.includes(damaged(dag)))).toHaveLength(1);
    expect(problems.map((p) => p.object).sort()).toEqual([`rps/${dag.id}`, `rps/${legacy.id}`].sort());
    expect(problems.find((p) => p.object === `rps/${legacy.id}`)!.message).toContain("entries its file and directory counts allow");
  }, 60_000);

  test("ls of a recovery point without recorded totals streams at once, and SIGTERM stops it within a second", async () => {
    const started = performance.now();
    const proc = Bun.spawn([BINARY, "ls", legacy.id, "--vault", dir], { cwd: work, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" } });
    let peak = 0;
    const sampler = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"));
        if (m) peak = Math.max(peak, Number(m[1]));
      } catch {
        // exited
      }
    }, 20);
    const reader = proc.stdout.getReader();
    let lines = 0;
    let firstOutputMs = -1;
    while (lines < 100_000) {
      const { value, done } = await reader.read();
      if (done) break;
      if (firstOutputMs < 0) firstOutputMs = performance.now() - started;
      for (const b of value) if (b === 10) lines++;
    }
    const killedAt = performance.now();
    proc.kill("SIGTERM");
    const drain = (async () => {
      for (;;) if ((await reader.read()).done) return;
    })();
    const code = await proc.exited;
    const stopMs = performance.now() - killedAt;
    await drain;
    clearInterval(sampler);
    const stderr = await new Response(proc.stderr).text();
    figures["ls: SIGTERM after 100k lines"] = { peak_rss_mib: Math.round(peak / 1024), seconds: Math.round(stopMs) / 1000, code };
    expect(lines).toBeGreaterThanOrEqual(100_000);
    expect(firstOutputMs).toBeLessThan(5_000);
    expect(stopMs).toBeLessThan(1_000);
    expect(code).toBe(130);
    expect(stderr).toContain(`Stopped listing recovery point "${legacy.id}": interrupted`);
    expect(peak).toBeLessThan(MAX_RSS_MIB * 1024);
  }, 60_000);

  test("a chain 20,000 directories deep: ls, diff and check walk it without a stack overflow", async () => {
    const { dir: deep, vault: v } = await diskVault("deep");
    const DEEP = 20_000;
    const a = await storeChain(v, DEEP, "one\n");
    const b = await storeChain(v, DEEP, "two\n");
    const rpA = await saveRp(v, a.root, { files: 1, dirs: DEEP + 1, symlinks: 0, tree_bytes: a.bytes });
    const rpB = await saveRp(v, b.root, { files: 1, dirs: DEEP + 1, symlinks: 0, tree_bytes: b.bytes });
    // In process: every entry, the deepest last.
    let n = 0;
    let last = "";
    const load = async (hex: string) => (await import("../support/vault.ts")).treeEntries(v, hex);
    for await (const e of walkTree(load, a.root)) {
      n++;
      last = e.path;
    }
    expect(n).toBe(DEEP + 1);
    expect(last).toBe(`${"d/".repeat(DEEP)}f`);
    // Through the binary (--quiet: the listing's paths alone would be 400 MB).
    const ls = await bounded("ls --quiet: 20,000 deep", ["ls", rpA.id, "--vault", deep, "--quiet"]);
    expect({ code: ls.code, stderr: ls.stderr }).toEqual({ code: 0, stderr: "" });
    const diff = await bounded("diff: 20,000 deep", ["diff", rpA.id, rpB.id, "--vault", deep]);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toBe(`M ${"d/".repeat(DEEP)}f\n0 added, 0 removed, 1 changed\n`);
    const c = await bounded("check: 20,000 deep", ["check", "--vault", deep, "--json"]);
    expect({ code: c.code, problems: jsonOf(c).problems }).toEqual({ code: 0, problems: [] });
  }, 120_000);
});

describe("9. plans are code: size, nesting and durations bounded", () => {
  function plansDir(name: string, files: Record<string, string>): string {
    const d = join(work, `plans-${name}`);
    mkdirSync(d, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
    return d;
  }

  test("a 100 KB plan nested 50,000 deep: a positioned problem, before any parser runs", async () => {
    const cases: [string, string, RegExp][] = [
      ["arrays", `a = ${"[".repeat(50_000)}${"]".repeat(50_000)}\n`, /deep\.toml:1:36: Plan is nested too deeply/],
      ["inline tables", `[vaults.x]\nurl = "./v"\n\nb = ${"{ k = ".repeat(16_000)}1${" }".repeat(16_000)}\n`, /deep\.toml:4:\d+: Plan is nested too deeply/],
      ["dotted keys", `${Array.from({ length: 25_000 }, () => "k").join(".")} = 1\n`, /deep\.toml:1:64: Plan is nested too deeply/],
    ];
    for (const [name, text, message] of cases) {
      const d = plansDir(`deep-${name.replace(" ", "-")}`, { "deep.toml": text });
      const r = await bounded(`validate: nested ${name}`, ["validate", d], { maxMs: 5_000 });
      expect({ name, code: r.code }).toEqual({ name, code: 2 });
      expect(r.stdout + r.stderr).toMatch(message);
    }
  }, 60_000);

  test("a 2 MiB plan is refused without being parsed", async () => {
    const d = plansDir("large", { "large.toml": `# ${"x".repeat(2 * 1024 * 1024)}\n` });
    const r = await bounded("validate: 2 MiB plan", ["validate", d], { maxMs: 5_000 });
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/large\.toml:1:1: Plan file is too large: 2097155 bytes, at most 1048576/);
  }, 30_000);

  test('delete_after = "285000y": validate points at it; backup --delete-after refuses it before writing anything', async () => {
    const example = readFileSync(join(import.meta.dir, "../../plans/example.toml"), "utf8").replace('delete_after = "7d"', 'delete_after = "285000y"');
    const line = example.split("\n").findIndex((l) => l.includes("285000y")) + 1;
    const col = example.split("\n")[line - 1].indexOf('"285000y"') + 1;
    const d = plansDir("years", { "example.toml": example });
    const r = await bounded("validate: 285000y", ["validate", d], { maxMs: 5_000 });
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain(`example.toml:${line}:${col}: Invalid duration "285000y" for "delete_after": at most 100y`);
    const src = join(work, "years-src");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "a"), "a\n");
    const vault = join(work, "years-vault");
    const b = await bounded("backup --delete-after 285000y", ["backup", src, "--vault", vault, "--delete-after", "285000y"], { maxMs: 10_000 });
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('Cannot read --delete-after "285000y"');
    const packs = (() => {
      try {
        return readdirSync(join(vault, "packs"), { recursive: true });
      } catch {
        return [];
      }
    })();
    expect(packs).toEqual([]);
  }, 30_000);

  test("a date past the end of JavaScript dates is a clear error, not a RangeError", () => {
    expect(() => isoAfter(new Date(8.64e15 - 1000), 100 * 365 * 86_400_000, "delete_at")).toThrow(EfsbakError);
    expect(() => isoAfter(new Date(8.64e15 - 1000), 100 * 365 * 86_400_000, "delete_at")).toThrow(/Cannot compute delete_at: .* is past the last representable time/);
    expect(isoAfter(new Date("2026-01-01T00:00:00Z"), 86_400_000, "delete_at")).toBe("2026-01-02T00:00:00.000Z");
  });
});
