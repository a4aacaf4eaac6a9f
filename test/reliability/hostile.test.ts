/**
 * Hostile and damaged vaults (issue #10), beyond test/restore/hostile.test.ts (names with "..",
 * "/", NUL, empty names, duplicates, a symlink then a directory of the same name, a directory
 * that is its own tree):
 *
 * - in process: huge declared file sizes (no huge allocation, no failed restore), a cycle
 *   through two trees, tree ids that name data blobs (and chunk ids that name trees), a root
 *   tree that is a data blob; restore ends with fragments, writes nothing outside its
 *   directory (a canary directory and the rest of the parent stay as they were), and check and
 *   prune end too (no endless walk) with a clear verdict;
 * - through the binary: a corrupt, truncated or future-version `config`, recovery point, index
 *   file or pack gives exit 1 and an "error: Cannot read "<key>": …" line with a hint, never a
 *   stack trace or "internal error"; a damaged pack is salvaged into lost+found (exit 3) and
 *   `check --read-data` names it.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { closeSync, cpSync, mkdirSync, openSync, readSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { check } from "../../src/check/check.ts";
import { VaultDamageError } from "../../src/errors.ts";
import { applyLifecycle } from "../../src/prune/lifecycle.ts";
import { restore } from "../../src/restore/restore.ts";
import { randomId, toHex } from "../../src/vault/id.ts";
import { packKey } from "../../src/vault/layout.ts";
import { BLOB_DATA, PackWriter } from "../../src/vault/pack.ts";
import { saveRecoveryPoint } from "../../src/vault/recovery-point.ts";
import { ensureBinary } from "../support/cli.ts";
import { type Snapshot, bytes, makeTree, snapshotTree } from "../support/tree.ts";
import { fakeRecoveryPoint, nodes, storeChunks, storeRawTree, storeTree, testVault } from "../support/vault.ts";
import { jsonOf, record, runBinaryMeasured } from "../support/soak.ts";

const T1 = new Date("2026-03-02T10:00:00.000Z");
const X = bytes(5000, 1);
let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-hostile2-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));
const figures = { hostile_trees: 0, fragments: 0, cli_cases: 0 };
afterAll(() => record("hostile", figures));

/** Everything under dir except `skip` (the restore target), to prove nothing else changed. */
function around(dir: string, skip: string): Snapshot {
  return snapshotTree(dir, { ignore: [skip] });
}

/** Restores a hand-made tree with a canary beside the target; checks nothing leaked out. */
async function restoreHostile(vault: Awaited<ReturnType<typeof testVault>>, root: string) {
  const canary = join(tmp, "canary");
  mkdirSync(canary, { recursive: true });
  writeFileSync(join(canary, "keep"), "canary\n");
  const before = around(tmp, "out");
  const r = await restore(vault, fakeRecoveryPoint(root), join(tmp, "out"), { now: T1 });
  expect(around(tmp, "out")).toEqual(before);
  expect(readdirSync(join(tmp, "out"))).toEqual([readdirSync(join(tmp, "out"))[0]]);
  figures.hostile_trees++;
  figures.fragments += r.fragments.length;
  return r;
}

describe("hostile trees (in process)", () => {
  test("huge declared sizes: no huge allocation, the file goes to lost+found, the rest is restored", async () => {
    const vault = await testVault();
    const [x] = await storeChunks(vault, [X]);
    const sizes = [Number.MAX_SAFE_INTEGER, 2 ** 52, 1e15, 1e10];
    const root = await storeTree(vault, [...sizes.map((s, i) => nodes.file(`huge${i}`, [x], s)), nodes.file("fine", [x], X.length)]);
    const rss = process.memoryUsage().rss;
    const r = await restoreHostile(vault, root);
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 << 20);
    expect(readFileSync(join(r.restoreDir, "fine"))).toEqual(Buffer.from(X));
    const byPath = Object.fromEntries(r.fragments.map((f) => [f.original_path, f]));
    for (const [i, s] of sizes.entries()) {
      const f = byPath[`huge${i}`];
      expect(f).toMatchObject({ size: s, missing_ranges: [[X.length, s]] });
      expect(f.reason).toContain("chunk lengths do not match the file size");
      // What could be written is there, whether or not the file system could take the size.
      const salvaged = join(r.restoreDir, "efsbak-lost+found", f.name);
      const head = Buffer.alloc(X.length);
      const fd = openSync(salvaged, "r");
      readSync(fd, head, 0, X.length, 0);
      closeSync(fd);
      expect(head).toEqual(Buffer.from(X));
      expect(statSync(salvaged).blocks * 512).toBeLessThan(1 << 20); // sparse, never filled
    }
    expect(byPath["huge0"].reason).toContain("cannot be created (EFBIG)");
  });

  test("a cycle through two trees, tree ids naming data blobs and chunk ids naming trees: restore, check and prune all end", async () => {
    const vault = await testVault();
    const [x] = await storeChunks(vault, [X]);
    const leaf = await storeTree(vault, [nodes.file("leaf.txt", [x], X.length)]);
    const A = "a1".repeat(32);
    const B = "b2".repeat(32);
    await storeRawTree(vault, [nodes.dir("to-b", B), nodes.file("in-a", [x], X.length)], A);
    await storeRawTree(vault, [nodes.dir("to-a", A)], B);
    const root = await storeTree(vault, [
      nodes.dir("cycle", A),
      nodes.dir("data-as-tree", x),
      nodes.file("tree-as-data", [leaf], 10),
      nodes.dir("ok", leaf),
    ]);
    const r = await restoreHostile(vault, root);
    const reasons = r.fragments.map((f) => [f.original_path, f.reason]);
    expect(reasons).toContainEqual(["cycle/to-b/to-a", "directory refers to itself"]);
    expect(reasons).toContainEqual(["data-as-tree", "directory listing lost"]);
    expect(r.fragments.find((f) => f.original_path === "tree-as-data")?.reason).toMatch(/chunk lengths do not match|missing or corrupt/);
    expect(readFileSync(join(r.restoreDir, "ok/leaf.txt"))).toEqual(Buffer.from(X));
    expect(readFileSync(join(r.restoreDir, "cycle/in-a"))).toEqual(Buffer.from(X));

    // A root that is a data blob: the restore still ends, with the listing as a fragment.
    const r2 = await restore(vault, fakeRecoveryPoint(x), join(tmp, "out2"), { now: T1 });
    expect(r2.fragments.map((f) => f.reason)).toEqual(["directory listing lost"]);

    // check and prune walk the same trees: they must end (a tree id is a hash of the tree, so
    // check sees the forged ids; prune refuses to guess what a damaged tree references).
    await saveRecoveryPoint(vault, fakeRecoveryPoint(root, { id: "c0ffee".padEnd(32, "0") }));
    const report = await Promise.race([check(vault, { readData: { share: 1 } }), Bun.sleep(20_000).then(() => null)]);
    expect(report).not.toBeNull();
    expect(report!.problems.length).toBeGreaterThan(0);
    expect(report!.problems.map((p) => p.object).join("\n")).toContain(`blob ${x}`);
    const pruned = await Promise.race([
      applyLifecycle(vault, { vaultName: "v", now: () => T1, alwaysGc: true, minPackAgeMs: 0, settleMs: 0 }).then(() => "completed", (err) => err),
      Bun.sleep(20_000).then(() => "hung"),
    ]);
    expect(pruned).toBeInstanceOf(VaultDamageError);
    expect((pruned as Error).message).toMatch(/^Cannot read "tree /);
  });

  // A compressed blob that inflates far beyond its recorded length (a "zstd bomb", 24 KiB that
  // would decompress to 1 GiB): decompress() caps its output at the recorded length.
  test("a blob that inflates far beyond its recorded length is refused without inflating it", async () => {
    const vault = await testVault();
    // A zstd frame of RLE blocks (3-byte header + 1 byte per 128 KiB) with no content size.
    const frame: number[] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38];
    const blocks = 8192; // 1 GiB
    for (let i = 0; i < blocks; i++) {
      const h = (i === blocks - 1 ? 1 : 0) | (1 << 1) | (131072 << 3);
      frame.push(h & 255, (h >> 8) & 255, (h >> 16) & 255, 0x41);
    }
    const stored = new Uint8Array(frame);
    const id = new Uint8Array(32).fill(7);
    const w = new PackWriter(new Uint8Array(1 << 20), { keys: null, packType: BLOB_DATA });
    w.addStored({ type: BLOB_DATA, compressed: true, rawLength: 5000, storedLength: stored.length, crc: Bun.hash.crc32(stored), id }, stored);
    const { bytes: pack, entries } = w.finish();
    const packId = randomId();
    await vault.storage.save(packKey(packId), pack.slice());
    const no = vault.index.addPack(packId, "warm", pack.length);
    for (const e of entries) vault.index.add(no, e);
    const root = await storeTree(vault, [nodes.file("bomb", [toHex(id)], 5000)]);
    const rss = process.memoryUsage().rss;
    const r = await restoreHostile(vault, root);
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 << 20);
    expect(r.fragments.map((f) => [f.original_path, f.reason])).toEqual([["bomb", "missing or corrupt data"]]);
  });
});

describe("damaged vault objects through the binary", () => {
  let work: string;
  let pristine: string;
  let rps: string[];
  let caseNo = 0;

  beforeAll(async () => {
    ensureBinary();
    work = mkdtempSync(join(tmpdir(), "efsbak-damage-cli-"));
    pristine = join(work, "vault");
    makeTree(join(work, "src"), { a: bytes(300_000, 11), b: "bee\n", sub: { c: bytes(100_000, 12) } });
    rps = [];
    for (const content of ["first\n", "second\n"]) {
      writeFileSync(join(work, "src/b"), content);
      const r = await runBinaryMeasured(["backup", join(work, "src"), "--vault", pristine, "--json"], { cwd: work });
      expect(r.code).toBe(0);
      rps.push(jsonOf(r).recovery_point);
    }
  }, 60_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** A fresh copy of the pristine vault, damaged by `harm`. */
  function damaged(harm: (vault: string) => void): string {
    const v = join(work, `case-${++caseNo}`);
    cpSync(pristine, v, { recursive: true });
    harm(v);
    return v;
  }

  function onlyFile(dir: string): string {
    const names = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(names.length).toBeGreaterThan(0);
    return join(names[0].parentPath, names[0].name);
  }

  function flipAt(path: string, at: number): void {
    const b = readFileSync(path);
    b[Math.min(at, b.length - 1)] ^= 0xff;
    writeFileSync(path, b);
  }

  async function expectClearError(argv: string[], vault: string, key: RegExp, detail: RegExp): Promise<void> {
    const r = await runBinaryMeasured([...argv, "--vault", vault], { cwd: work });
    figures.cli_cases++;
    expect({ argv, code: r.code }).toEqual({ argv, code: 1 });
    expect(r.stderr).toMatch(new RegExp(`^error: Cannot read "${key.source}": ${detail.source}`, "m"));
    expect(r.stderr).toMatch(/^hint: /m);
    expect(r.stderr).not.toContain("    at ");
    expect(r.stderr).not.toContain("internal error");
  }

  const commands = () => [["recovery-points"], ["backup", join(work, "src")], ["restore", rps[0], "--target", join(work, "out")], ["check"]];

  test("config: corrupt, truncated, or of a future version", async () => {
    const cases: [string, (v: string) => void, RegExp][] = [
      ["garbage", (v) => writeFileSync(join(v, "config"), "\u0000\u0001not json"), /config is not valid JSON/],
      ["truncated", (v) => truncateSync(join(v, "config"), 40), /config is not valid JSON/],
      ["future version", (v) => {
        const c = JSON.parse(readFileSync(join(v, "config"), "utf8"));
        writeFileSync(join(v, "config"), JSON.stringify({ ...c, version: 99 }));
      }, /vault format version 99 is not supported/],
    ];
    for (const [, harm, detail] of cases) {
      const v = damaged(harm);
      for (const argv of commands()) await expectClearError(argv, v, /config/, detail);
    }
  }, 60_000);

  // Damage that decoding always sees. (A flipped bit inside an unencrypted object's zstd
  // payload may decode to other bytes: objects carry no checksum of their own; check then
  // finds what the wrong content points at. See docs/reliability.md.)
  const objectDamage: [string, (p: string) => void, RegExp][] = [
    ["bad magic", (p) => flipAt(p, 0), /not an efsbak object \(bad magic\)/],
    ["truncated", (p) => truncateSync(p, 5), /not an efsbak object/],
    ["future version", (p) => flipAt(p, 4), /unknown object version/],
    ["garbage payload", (p) => {
      const b = readFileSync(p);
      b.fill(0xa5, 6);
      writeFileSync(p, b);
    }, /.+/],
  ];

  test("a recovery point object: bad magic, truncated, of a future version, garbage", async () => {
    const cases = objectDamage;
    for (const [, harm, detail] of cases) {
      const v = damaged((vault) => harm(join(vault, "rps", rps[1])));
      const key = new RegExp(`rps/${rps[1]}`);
      // Restoring another recovery point goes on, and names the damaged one in a warning.
      const other = await runBinaryMeasured(["restore", rps[0], "--target", join(work, "out"), "--vault", v], { cwd: work });
      expect(other.code).toBe(0);
      expect(other.stderr).toMatch(key);
      expect(other.stderr).toMatch(detail);
      // Restoring the damaged one stops with a clear error, never a stack.
      const own = await runBinaryMeasured(["restore", rps[1], "--target", join(work, "out"), "--vault", v], { cwd: work });
      expect(own.code).toBe(1);
      expect(own.stderr).toContain(`Cannot find recovery point "${rps[1]}"`);
      expect(own.stderr).not.toContain("    at ");
      // check names it, with exit 1.
      const c = await runBinaryMeasured(["check", "--vault", v, "--json"], { cwd: work });
      expect(c.code).toBe(1);
      expect(jsonOf(c).problems.map((p: { object: string }) => p.object)).toContain(`rps/${rps[1]}`);
      // Listing and backing up go on without it, and say so.
      const list = await runBinaryMeasured(["recovery-points", "--vault", v, "--json"], { cwd: work });
      expect(list.code).toBe(0);
      expect(list.stderr).toContain(`Cannot read "rps/${rps[1]}"`);
      expect(jsonOf(list).recovery_points.map((r: { id: string }) => r.id)).toEqual([rps[0]]);
      const b = await runBinaryMeasured(["backup", join(work, "src"), "--vault", v, "--json"], { cwd: work });
      expect(b.code).toBe(0);
      expect(jsonOf(b).job.warnings.join("\n")).toContain(`Ignored a damaged recovery point: Cannot read "rps/${rps[1]}"`);
      figures.cli_cases += 4;
    }
  }, 60_000);

  test("an index file: bad magic, truncated, of a future version, garbage", async () => {
    const cases = objectDamage;
    for (const [, harm, detail] of cases) {
      let key = "";
      const v = damaged((vault) => {
        const p = onlyFile(join(vault, "index"));
        key = `index/${p.slice(p.lastIndexOf("/") + 1)}`;
        harm(p);
      });
      for (const argv of [["backup", join(work, "src")], ["restore", rps[0], "--target", join(work, "out")], ["ls", rps[0]]]) {
        await expectClearError(argv, v, new RegExp(key), detail);
      }
      const c = await runBinaryMeasured(["check", "--vault", v, "--json"], { cwd: work });
      figures.cli_cases++;
      expect(c.code).toBe(1);
      expect(jsonOf(c).problems.map((p: { object: string }) => p.object)).toContain(key);
    }
  }, 60_000);

  test("a pack: flipped bytes are salvaged into lost+found and named by check --read-data; a truncated pack is named by check", async () => {
    let pack = "";
    const v = damaged((vault) => {
      // The biggest pack holds the data of "a" (300 kB of random bytes).
      const packs = readdirSync(join(vault, "packs"), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
      pack = packs.sort((p, q) => statSync(q).size - statSync(p).size)[0];
      flipAt(pack, 1000);
    });
    const packKey = pack.slice(v.length + 1);
    const r = await runBinaryMeasured(["restore", rps[1], "--vault", v, "--target", join(work, "out-pack"), "--json"], { cwd: work });
    expect(r.code).toBe(3);
    const out = jsonOf(r);
    expect(out.fragments.map((f: { original_path: string; reason: string }) => [f.original_path, f.reason])).toEqual([["a", "missing or corrupt data"]]);
    const manifest = JSON.parse(readFileSync(join(out.restore_dir, "efsbak-lost+found/MANIFEST.json"), "utf8"));
    expect(manifest.fragments[0].missing_ranges.length).toBeGreaterThan(0);
    expect(readFileSync(join(out.restore_dir, "sub/c"))).toEqual(Buffer.from(bytes(100_000, 12)));
    const c = await runBinaryMeasured(["check", "--read-data", "--vault", v, "--json"], { cwd: work });
    expect(c.code).toBe(1);
    expect(jsonOf(c).problems.map((p: { object: string }) => p.object)).toContain(packKey);

    const t = damaged((vault) => truncateSync(join(vault, packKey), 5000));
    const c2 = await runBinaryMeasured(["check", "--vault", t], { cwd: work });
    expect(c2.code).toBe(1);
    expect(c2.stdout).toMatch(new RegExp(`damage: ${packKey}: pack has 5000 bytes, the index says \\d+`));
    expect(c2.stdout).toContain("hint: ");
    figures.cli_cases += 3;
  }, 60_000);
});

// Attack 6 of "Vaults under attack" (encrypted vaults): objects were bound only to their
// folder, so job 1's record copied over job 2's key made `jobs` show job 1 twice, and a copied
// recovery point was listed twice. Now the full key is authenticated: the copy is damage of
// the key it was copied to, and the listing shows each job and recovery point once.
describe("copies of sealed objects under other keys (encrypted vault)", () => {
  test("a job record over another job's key, a recovery point under another id: damage named by key, nothing listed twice", async () => {
    const { memoryStorage } = await import("../../src/storage/memory.ts");
    const { initVault, openVault } = await import("../../src/vault/vault.ts");
    const { deriveVaultKeys } = await import("../../src/vault/keys.ts");
    const { createJob, listJobs } = await import("../../src/vault/job-record.ts");
    const { listRecoveryPoints } = await import("../../src/vault/recovery-point.ts");
    const storage = memoryStorage();
    const keys = deriveVaultKeys(new Uint8Array(32).fill(3));
    await initVault(storage, { cold: memoryStorage(), now: T1, keys });
    const vault = await openVault(storage, { cold: memoryStorage(), keys });
    const j1 = await createJob(vault, { type: "backup", vault: "v", resource: "r1", plan: null, rule: null, state: "PENDING" }, { now: T1 });
    const j2 = await createJob(vault, { type: "backup", vault: "v", resource: "r2", plan: null, rule: null, state: "PENDING" }, { now: T1 });
    const jobKeys: string[] = [];
    for await (const o of storage.list("jobs/")) jobKeys.push(o.key);
    const k1 = jobKeys.find((k) => k.includes(j1.record.id))!;
    const k2 = jobKeys.find((k) => k.includes(j2.record.id))!;
    await storage.save(k2, await storage.load(k1));
    const damage: VaultDamageError[] = [];
    const jobs = await listJobs(vault, {}, { onDamage: (e) => damage.push(e) });
    expect(jobs.filter((j) => j.id === j1.record.id).length).toBe(1);
    expect(damage.map((e) => e.key)).toEqual([k2]);
    expect(damage[0].message).toContain("authentication failed");

    const rp = fakeRecoveryPoint("00".repeat(32), { id: randomId() });
    await saveRecoveryPoint(vault, rp);
    const copyKey = `rps/${randomId()}`;
    await storage.save(copyKey, await storage.load(`rps/${rp.id}`));
    const rpDamage: VaultDamageError[] = [];
    const rps = await listRecoveryPoints(vault, { onDamage: (e) => rpDamage.push(e) });
    expect(rps.map((r) => r.id)).toEqual([rp.id]);
    expect(rpDamage.map((e) => e.key)).toEqual([copyKey]);
    const report = await check(vault);
    expect(report.problems.map((p) => p.object)).toContain(copyKey);
  });
});

// Attack 4 of "Vaults under attack", end to end in process: with packs/ and index/ of a local
// vault replaced by links, a backup wrote its packs and index into another directory.
test("a backup into a local vault whose packs/ and index/ are links fails, naming them, and writes nothing through them", async () => {
  const { localStorage } = await import("../../src/storage/local.ts");
  const { UnsafeObjectError } = await import("../../src/storage/storage.ts");
  const { initVault, openVault } = await import("../../src/vault/vault.ts");
  const { backup } = await import("../../src/backup/backup.ts");
  const { symlinkSync } = await import("node:fs");
  const root = join(tmp, "vault");
  const elsewhere = join(tmp, "elsewhere");
  mkdirSync(elsewhere);
  const storage = localStorage(root);
  await initVault(storage, { cold: localStorage(join(root, "cold")), now: T1 });
  symlinkSync(elsewhere, join(root, "packs"));
  symlinkSync(elsewhere, join(root, "index"));
  const src = join(tmp, "src");
  makeTree(src, { "a.bin": bytes(300_000, 5), "b.txt": "hello\n" });
  const opened = await openVault(storage, { cold: localStorage(join(root, "cold")) }).then((v) => v, (e) => e);
  // index/ is listed when the vault opens: refused there already
  expect(opened).toBeInstanceOf(UnsafeObjectError);
  expect((opened as InstanceType<typeof UnsafeObjectError>).key).toBe("index");
  rmSync(join(root, "index"));
  const vault = await openVault(storage, { cold: localStorage(join(root, "cold")) });
  const err = await backup(vault, src, { resource: "r", now: T1, jobId: "j-links", host: "test" }).then(() => null, (e) => e);
  expect(err).toBeInstanceOf(UnsafeObjectError);
  expect((err as InstanceType<typeof UnsafeObjectError>).key).toBe("packs");
  expect(readdirSync(elsewhere)).toEqual([]);
});
