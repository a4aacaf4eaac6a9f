/**
 * End to end through dist/efsbak, as a new user would: back up a tree with every kind of
 * entry, change a few files, back up again, restore both recovery points, and compare them
 * with the source in content and metadata.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { bytes, dir, file, hardlink, makeTree, snapshotTree, symlink, type Snapshot } from "../support/tree.ts";
import { ensureBinary, runBinary } from "../support/cli.ts";

let work: string;
let src: string;
let vault: string;

function diskUsage(path: string): number {
  let total = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    total += e.isDirectory() ? diskUsage(p) : statSync(p).size;
  }
  return total;
}

function onlyDir(parent: string, prefix: string): string {
  const names = readdirSync(parent).filter((n) => n.startsWith(prefix));
  expect(names.length).toBe(1);
  return join(parent, names[0]);
}

beforeAll(() => {
  ensureBinary();
  work = mkdtempSync(join(tmpdir(), "efsbak-e2e-"));
  src = join(work, "src");
  vault = join(work, "vault");
  makeTree(src, {
    "hello.txt": file("hello world\n", { mode: 0o644, mtime: 1_700_000_000_123_456_789n }),
    "empty.txt": file("", { mode: 0o600 }),
    "big.bin": bytes(6_000_000, 7),
    "name with spaces ünïcödé ✓.txt": "non-ascii\n",
    "script.sh": file("#!/bin/sh\necho hi\n", { mode: 0o755 }),
    "hard-a": "linked content\n",
    "hard-b": hardlink("hard-a"),
    "link-rel": symlink("hello.txt"),
    "link-dangling": symlink("does/not/exist"),
    "link-abs": symlink("/etc/hostname"),
    "empty-dir": dir({}, { mode: 0o700, mtime: 1_600_000_000_000_000_001n }),
    sub: dir({
      deep: dir({ "leaf.txt": "leaf\n", more: dir({ "x.dat": bytes(70_000, 3) }) }),
      "notes.md": "# notes\n",
    }, { mode: 0o750, mtime: 1_650_000_000_999_999_999n }),
  });
  // A sparse file: 8 MiB hole, then data.
  const fd = openSync(join(src, "sparse.img"), "w");
  writeSync(fd, Buffer.from("tail data"), 0, 9, 8 * 1024 * 1024);
  closeSync(fd);
  // A named pipe: omitted with a warning.
  spawnSync("mkfifo", [join(src, "pipe")]);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function withoutPipe(s: Snapshot): Snapshot {
  const { pipe: _pipe, ...rest } = s;
  return rest;
}

describe("efsbak backup and restore through the binary", () => {
  let first: Snapshot;
  let rp1: string;
  let rp2: string;
  let sizeAfterFirst: number;

  test("first backup creates the vault and a recovery point, warning about the pipe", async () => {
    first = withoutPipe(snapshotTree(src));
    const r = await runBinary(["backup", src, "--vault", vault, "--tag", "kind=manual", "--json"], { cwd: work });
    expect(r.stderr).toContain('Omitted named pipe "pipe"');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.job.state).toBe("COMPLETED");
    expect(out.job.type).toBe("backup");
    expect(out.job.warnings).toEqual(['Omitted named pipe "pipe"']);
    rp1 = out.recovery_point;
    expect(rp1).toMatch(/^[0-9a-f]{32}$/);
    sizeAfterFirst = diskUsage(vault);
    expect(sizeAfterFirst).toBeGreaterThan(6_000_000);
  });

  test("an incremental backup stores about the change, not the tree", async () => {
    appendFileSync(join(src, "hello.txt"), "one more line\n");
    writeFileSync(join(src, "sub/deep/new.txt"), "brand new\n");
    rmSync(join(src, "sub/notes.md"));
    const r = await runBinary(["backup", src, "--vault", vault, "--json"], { cwd: work });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    rp2 = out.recovery_point;
    expect(out.job.bytes_read).toBeLessThan(1000); // only the two changed files were read
    const growth = diskUsage(vault) - sizeAfterFirst;
    expect(growth).toBeLessThan(64 * 1024); // trees, index, job records: nowhere near the 6 MB tree
    const list = JSON.parse((await runBinary(["recovery-points", "--vault", vault, "--json"], { cwd: work })).stdout);
    expect(list.recovery_points.map((p: { id: string }) => p.id)).toEqual([rp1, rp2]);
    expect(list.recovery_points[0].tags).toEqual({ kind: "manual" });
    expect(list.recovery_points[0].status).toBe("AVAILABLE");
  });

  test("both recovery points restore identical to their sources, metadata included", async () => {
    const target1 = join(work, "restore1");
    const r1 = await runBinary(["restore", rp1, "--vault", vault, "--target", target1, "--json"], { cwd: work });
    expect(r1.code).toBe(0);
    const out1 = JSON.parse(r1.stdout);
    expect(out1.fragments).toEqual([]);
    const dir1 = onlyDir(target1, "efsbak-restore_");
    expect(out1.restore_dir).toBe(dir1);
    expect(snapshotTree(dir1)).toEqual(first);

    const target2 = join(work, "restore2");
    const r2 = await runBinary(["restore", rp2.slice(0, 8), "--vault", vault, "--target", target2], { cwd: work });
    expect(r2.code).toBe(0);
    expect(snapshotTree(onlyDir(target2, "efsbak-restore_"))).toEqual(withoutPipe(snapshotTree(src)));
  });

  test("sparse files come back sparse", async () => {
    const target = join(work, "restore1");
    const restored = join(onlyDir(target, "efsbak-restore_"), "sparse.img");
    const st = statSync(restored);
    expect(st.size).toBe(8 * 1024 * 1024 + 9);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024);
  });

  test("a second restore into the same target never touches the first", async () => {
    const target = join(work, "restore1");
    const before = snapshotTree(target);
    await Bun.sleep(5);
    const r = await runBinary(["restore", rp1, "--vault", vault, "--target", target], { cwd: work });
    expect(r.code).toBe(0);
    const dirs = readdirSync(target).filter((n) => n.startsWith("efsbak-restore_"));
    expect(dirs.length).toBe(2);
    const after = snapshotTree(target);
    for (const [path, entry] of Object.entries(before)) if (path.includes("/")) expect(after[path]).toEqual(entry);
  });

  test("ls, diff and jobs show what is inside and what happened", async () => {
    const ls = JSON.parse((await runBinary(["ls", rp2, "sub", "--vault", vault, "--json"], { cwd: work })).stdout);
    expect(ls.entries.map((e: { path: string }) => e.path)).toEqual(["sub/deep", "sub/deep/leaf.txt", "sub/deep/more", "sub/deep/more/x.dat", "sub/deep/new.txt"]);
    const diff = JSON.parse((await runBinary(["diff", rp1, rp2, "--vault", vault, "--json"], { cwd: work })).stdout);
    expect(diff.added).toEqual(["sub/deep/new.txt"]);
    expect(diff.removed).toEqual(["sub/notes.md"]);
    expect(diff.changed).toEqual(["hello.txt", "sub", "sub/deep"].filter((p) => diff.changed.includes(p)));
    expect(diff.changed).toContain("hello.txt");
    const jobs = JSON.parse((await runBinary(["jobs", "--vault", vault, "--json"], { cwd: work })).stdout).jobs;
    expect(jobs.map((j: { type: string; state: string }) => `${j.type}:${j.state}`)).toEqual([
      "restore:COMPLETED", "restore:COMPLETED", "restore:COMPLETED", "backup:COMPLETED", "backup:COMPLETED",
    ]);
    const text = await runBinary(["jobs", "--vault", vault, "--type", "backup"], { cwd: work });
    expect(text.stdout.split("\n")[0]).toMatch(/^ID\s+TYPE\s+STATE/);
  });

  test("a restore that cannot write its target fails as a whole and says so", async () => {
    const blocker = join(work, "a-file");
    writeFileSync(blocker, "x");
    const r = await runBinary(["restore", rp1, "--vault", vault, "--target", join(blocker, "inside")], { cwd: work });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).not.toContain("    at ");
  });

  test("bad input gets a clear message and the right exit code, never a stack", async () => {
    const cases: { argv: string[]; code: number; text: RegExp }[] = [
      { argv: ["restore", "zzzz", "--vault", vault], code: 1, text: /Cannot find recovery point "zzzz"/ },
      { argv: ["backup", join(work, "nope"), "--vault", vault], code: 2, text: /neither a resource in the plans nor an existing path/ },
      { argv: ["backup", src], code: 2, text: /no vault given/ },
      { argv: ["jobs", "--vault", join(work, "no-vault-here")], code: 1, text: /there is no vault at/ },
      { argv: ["backup", src, "--vault", vault, "--colds-after", "1d"], code: 2, text: /Unknown option "--colds-after"/ },
      { argv: ["frobnicate"], code: 2, text: /Unknown command "frobnicate"/ },
      { argv: ["backup", src, "--vault", vault, "--delete-after", "soon"], code: 2, text: /Cannot read --delete-after "soon"/ },
      { argv: ["backup", src, "--vault", vault, "--cold-after", "30d", "--delete-after", "60d"], code: 2, text: /at least --cold-after \+ 90d/ },
    ];
    for (const c of cases) {
      const r = await runBinary(c.argv, { cwd: work });
      expect({ argv: c.argv, code: r.code }).toEqual({ argv: c.argv, code: c.code });
      expect(r.stderr).toMatch(c.text);
      expect(r.stderr).not.toContain("    at ");
    }
    expect(existsSync(join(work, "no-vault-here"))).toBe(false);
  });

  test("help lists exit codes; --version prints the version", async () => {
    const help = await runBinary(["backup", "--help"], { cwd: work });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("EXIT STATUS");
    expect(help.stdout).toContain("4  another backup of this resource is running");
    const v = await runBinary(["--version"], { cwd: work });
    expect(v.stdout).toMatch(/^efsbak \d+\.\d+\.\d+/);
  });
});
