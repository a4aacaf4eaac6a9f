/**
 * Restore drills (jobs/drill.ts, jobs/drill-verify.ts) on in-memory vaults with small chunks,
 * so that verification must re-chunk with the vault's own parameters to agree.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup } from "../../src/backup/backup.ts";
import { drillCandidates, pickRecoveryPoint, runDrill, type DrillDetails, type DrillOptions } from "../../src/jobs/drill.ts";
import { verifyRestore } from "../../src/jobs/drill-verify.ts";
import { listJobs } from "../../src/vault/job-record.ts";
import { restore } from "../../src/restore/restore.ts";
import { saveRecoveryPoint, type RecoveryPoint } from "../../src/vault/recovery-point.ts";
import type { Vault } from "../../src/vault/vault.ts";
import { bytes, dir, hardlink, makeTree, symlink } from "../support/tree.ts";
import { randomBytes } from "node:crypto";
import { memoryStorage } from "../../src/storage/memory.ts";
import { initVault, openVault } from "../../src/vault/vault.ts";
import { fakeRecoveryPoint, flipBlobByte, nodeAt, nodes, reopenVault, storeChunks, storeTree, TEST_CHUNKER, testVault } from "../support/vault.ts";

const T0 = new Date("2026-03-01T10:00:00.000Z");
const T1 = new Date("2026-03-02T10:00:00.000Z");
let tmp: string;
let scratch: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "efsbak-drill-test-"));
  scratch = join(tmp, "scratch");
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

function options(over: Partial<DrillOptions> = {}): DrillOptions {
  return { vaultName: "main", now: () => T1, scratch, random: () => 0.5, clock: () => performance.now(), settleMs: 0, ...over };
}

function details(j: { details?: Record<string, unknown> }): DrillDetails {
  return j.details as unknown as DrillDetails;
}

/** Two recovery points of "home": the second has one more file. */
async function twoBackups(vault: Vault): Promise<{ src: string; rp1: RecoveryPoint; rp2: RecoveryPoint }> {
  const src = join(tmp, "src");
  makeTree(src, {
    "a.txt": "alpha\n",
    "empty.txt": "",
    sub: { "big.bin": bytes(300_000, 7), "h1": "linked\n", deeper: dir({}, { mode: 0o750 }) },
    h2: hardlink("sub/h1"),
    link: symlink("a.txt"),
    dangling: symlink("no/such/file"),
  });
  const b1 = await backup(vault, src, { resource: "home", now: T0, jobId: "j1" });
  writeFileSync(join(src, "new.bin"), bytes(50_000, 3));
  const b2 = await backup(vault, src, { resource: "home", now: new Date(T0.getTime() + 3600_000), jobId: "j2", parent: b1.rp });
  return { src, rp1: b1.rp, rp2: b2.rp };
}

describe("picking a recovery point", () => {
  const rp = (id: string, created: string, status: RecoveryPoint["status"] = "AVAILABLE", resource = "r") => fakeRecoveryPoint("t", { id, created_at: created, status, resource });
  const all = [rp("c", "2026-01-03T00:00:00Z"), rp("a", "2026-01-01T00:00:00Z"), rp("p", "2026-01-04T00:00:00Z", "PARTIAL"), rp("b", "2026-01-02T00:00:00Z"), rp("x", "2026-01-05T00:00:00Z", "AVAILABLE", "other")];
  const cases: { name: string; algorithm: "latest" | "random"; random: number; want: string | null }[] = [
    { name: "latest is the newest AVAILABLE one of the resource", algorithm: "latest", random: 0.99, want: "c" },
    { name: "random 0 is the oldest", algorithm: "random", random: 0, want: "a" },
    { name: "random 0.5 is the middle", algorithm: "random", random: 0.5, want: "b" },
    { name: "random just under 1 is the newest", algorithm: "random", random: 0.999999, want: "c" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(pickRecoveryPoint(drillCandidates(all, "r"), c.algorithm, () => c.random)?.id ?? null).toBe(c.want);
    });
  }
  test("nothing to pick without AVAILABLE recovery points", () => {
    expect(pickRecoveryPoint(drillCandidates(all, "nobody"), "latest", Math.random)).toBeNull();
  });
});

describe("runDrill", () => {
  test("restores the latest recovery point, verifies every entry, records the job and cleans up", async () => {
    const vault = await testVault();
    const { rp2 } = await twoBackups(vault);
    const job = await runDrill(vault, "home", options({ test: "weekly", scheduledFor: T1 }));
    expect(job.error).toBeNull();
    expect(job.state).toBe("COMPLETED");
    expect(job.type).toBe("drill");
    expect(job.plan).toBeNull();
    expect(job.rule).toBe("weekly");
    expect(job.resource).toBe("home");
    expect(job.scheduled_for).toBe(T1.toISOString());
    expect(job.recovery_point).toBe(rp2.id);
    const d = details(job);
    // a.txt, empty.txt, sub/big.bin, sub/h1, h2, new.bin
    expect(d.files_verified).toBe(6);
    expect(d.symlinks_verified).toBe(2);
    expect(d.dirs_verified).toBe(2);
    expect(d.bytes_verified).toBe(6 + 0 + 300_000 + 7 + 7 + 50_000);
    expect(d.mismatches).toEqual([]);
    expect(d.time_to_restore_ms).toBeGreaterThanOrEqual(0);
    expect(job.files).toBe(6);
    // Recorded in the vault, and the scratch directory is gone.
    const recorded = await listJobs(vault, { type: "drill" });
    expect(recorded.map((j) => [j.id, j.state])).toEqual([[job.id, "COMPLETED"]]);
    expect(readdirSync(scratch)).toEqual([]);
  });

  test("random picks through the given source", async () => {
    const vault = await testVault();
    const { rp1 } = await twoBackups(vault);
    const job = await runDrill(vault, "home", options({ algorithm: "random", random: () => 0 }));
    expect(job.state).toBe("COMPLETED");
    expect(job.recovery_point).toBe(rp1.id);
    expect(details(job).files_verified).toBe(5);
  });

  test("a flipped byte in a data pack fails the drill, naming the file", async () => {
    const vault = await testVault();
    const { rp2 } = await twoBackups(vault);
    const big = await nodeAt(vault, rp2.tree, "sub/big.bin");
    if (big.type !== "file") throw new Error("not a file");
    await flipBlobByte(vault, big.content[5], 20);
    const job = await runDrill(await reopenVault(vault), "home", options());
    expect(job.state).toBe("FAILED");
    const d = details(job);
    expect(d.mismatches.map((m) => m.path)).toEqual(["sub/big.bin"]);
    expect(d.mismatches[0].reason).toContain("missing or corrupt data");
    expect(job.error).toContain('"sub/big.bin"');
    expect(d.files_verified).toBe(5);
    expect(readdirSync(scratch)).toEqual([]);
  });

  test("in an encrypted vault, files are re-hashed with the vault's id key", async () => {
    const keys = { encryptKey: new Uint8Array(randomBytes(32)), idKey: new Uint8Array(randomBytes(32)) };
    const storage = memoryStorage();
    const cold = memoryStorage({ location: "memory:cold" });
    await initVault(storage, { cold, now: T0, chunker: TEST_CHUNKER, keys, encryption: { cipher: "aes-256-gcm", kdf: "argon2id" } });
    const vault = await openVault(storage, { cold, keys });
    await twoBackups(vault);
    const job = await runDrill(await openVault(storage, { cold, keys }), "home", options());
    expect(job.state).toBe("COMPLETED");
    expect(details(job).files_verified).toBe(6);
  });

  test("no AVAILABLE recovery point is a FAILED drill that says so", async () => {
    const vault = await testVault();
    const job = await runDrill(vault, "ghost", options());
    expect(job.state).toBe("FAILED");
    expect(job.error).toBe('No AVAILABLE recovery point of "ghost" to restore');
  });

  test("a file recorded as inconsistent makes the drill PARTIAL, not FAILED", async () => {
    const vault = await testVault();
    const data = new TextEncoder().encode("steady\n");
    const [chunk] = await storeChunks(vault, [data]);
    const tree = await storeTree(vault, [nodes.file("ok.txt", [chunk], data.length), nodes.file("moving.log", [chunk], data.length, { inconsistent: true })]);
    await saveRecoveryPoint(vault, fakeRecoveryPoint(tree, { resource: "r", size_bytes: 2 * data.length }));
    const job = await runDrill(vault, "r", options());
    expect(job.state).toBe("PARTIAL");
    expect(details(job).inconsistent).toEqual(["moving.log"]);
    expect(details(job).files_verified).toBe(1);
    expect(details(job).mismatches).toEqual([]);
  });
});

describe("verifyRestore", () => {
  test("names every kind of difference between a restore and its recovery point", async () => {
    const vault = await testVault();
    const { rp2 } = await twoBackups(vault);
    const clean = await restore(vault, rp2, join(tmp, "out"), { now: T1 });
    const ok = await verifyRestore(vault, rp2, { restoreDir: clean.restoreDir });
    expect(ok.mismatches).toEqual([]);
    expect(ok.files).toBe(6);

    const root = clean.restoreDir;
    // Same size, one byte changed, deep inside the file: only a re-hash can see it.
    const big = join(root, "sub/big.bin");
    const content = Bun.file(big);
    const buf = new Uint8Array(await content.arrayBuffer());
    buf[200_000] ^= 1;
    writeFileSync(big, buf);
    truncateSync(join(root, "new.bin"), 10);
    unlinkSync(join(root, "link"));
    symlinkSync("elsewhere", join(root, "link"));
    appendFileSync(join(root, "stray.txt"), "not in the recovery point\n");
    rmSync(join(root, "sub/deeper"), { recursive: true });
    mkdirSync(join(root, "a.txt.d"));
    const r = await verifyRestore(vault, rp2, { restoreDir: root });
    const byPath = Object.fromEntries(r.mismatches.map((m) => [m.path, m.reason]));
    expect(Object.keys(byPath).sort()).toEqual(["a.txt.d", "link", "new.bin", "stray.txt", "sub/big.bin", "sub/deeper"]);
    expect(byPath["sub/big.bin"]).toMatch(/^content differs from the recovery point in bytes \d+\.\.\d+ \(chunk \d+ of \d+\)$/);
    expect(byPath["new.bin"]).toBe("has 10 bytes, the recovery point says 50000");
    expect(byPath.link).toBe('symlink points to "elsewhere", the recovery point says "a.txt"');
    expect(byPath["stray.txt"]).toContain("unexpected entry");
    expect(byPath["sub/deeper"]).toBe("missing from the restore");
  });
});
