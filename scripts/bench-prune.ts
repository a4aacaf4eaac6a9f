// Prune cost on a vault with 100,000+ blobs: time and memory of planning and executing GC.
// Usage: bun scripts/bench-prune.ts [WORK_DIR]   (default /tmp/efsbak-bench-prune)
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCipheriv } from "node:crypto";
import { localStorage } from "../src/storage/local.ts";
import { initVault, openVault } from "../src/vault/vault.ts";
import { backup } from "../src/backup/backup.ts";
import { applyLifecycle } from "../src/prune/lifecycle.ts";
import { listRecoveryPoints } from "../src/vault/recovery-point.ts";

const work = process.argv[2] ?? "/tmp/efsbak-bench-prune";
const pruneOnly = process.argv[3] === "prune";
if (!pruneOnly) rmSync(work, { recursive: true, force: true });
const src = join(work, "src");
mkdirSync(src, { recursive: true });

function random(n: number, seed: number): Uint8Array {
  const key = Buffer.alloc(32, seed);
  const c = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  return c.update(Buffer.alloc(n));
}
const storage = localStorage(join(work, "vault"));
const cold = localStorage(join(work, "vault/cold"));
const day = 86_400_000;
const t0 = new Date("2026-01-01T00:00:00Z");
if (!pruneOnly) {
// 64 files x 8 MiB of random data: ~130,000 chunks of ~4 KiB with the small chunker below.
for (let i = 0; i < 64; i++) writeFileSync(join(src, `f${i}.bin`), random(8 << 20, i + 1));

await initVault(storage, { cold, now: new Date(0), chunker: { min_size: 1024, avg_size: 4096, max_size: 16384, seed: 0 } });
let vault = await openVault(storage, { cold });
const first = await backup(vault, src, { resource: "r", now: t0, jobId: "j1", deleteAfterMs: 10 * day });
// Replace half the files: the second recovery point shares the other half.
for (let i = 0; i < 32; i++) writeFileSync(join(src, `f${i}.bin`), random(8 << 20, 1000 + i));
vault = await openVault(storage, { cold });
await backup(vault, src, { resource: "r", now: new Date(t0.getTime() + day), jobId: "j2", parent: first.rp });
// Prune in a fresh process, so its memory is measured alone.
const child = Bun.spawnSync([process.execPath, import.meta.path, work, "prune"], { stdout: "inherit", stderr: "inherit" });
rmSync(work, { recursive: true, force: true });
process.exit(child.exitCode);
}

const vault = await openVault(storage, { cold });
const blobs = vault.index.size;
const rpsBefore = (await listRecoveryPoints(vault)).length;
const rssBefore = process.memoryUsage().rss;
const now = () => new Date(t0.getTime() + 20 * day);
let t = performance.now();
const dry = await applyLifecycle(vault, { vaultName: "bench", now, dryRun: true, minPackAgeMs: 0 });
const planMs = performance.now() - t;
t = performance.now();
const done = await applyLifecycle(vault, { vaultName: "bench", now, minPackAgeMs: 0, settleMs: 0 });
const execMs = performance.now() - t;
const peak = Number((await Bun.file("/proc/self/status").text()).match(/VmHWM:\s+(\d+)/)?.[1] ?? 0) * 1024;
console.log(JSON.stringify({
  blobs, packs: vault.index.packList().length, recovery_points: rpsBefore,
  plan_ms: Math.round(planMs), execute_ms: Math.round(execMs),
  deleted_rps: done.deleted.length, packs_deleted: done.gcDone?.packsDeleted, packs_repacked: dry.gc?.repackPacks.length, packs_written: done.gcDone?.packsWritten,
  bytes_reclaimed: (done.gcDone?.bytesDeleted ?? 0) - (done.gcDone?.bytesWritten ?? 0),
  index_bytes_per_blob: +(vault.index.memoryBytes() / blobs).toFixed(1),
  rss_before_mb: Math.round(rssBefore / 2 ** 20), peak_rss_mb: Math.round(peak / 2 ** 20),
}, null, 2));
process.exit(0);
