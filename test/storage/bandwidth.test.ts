/**
 * withBandwidth (storage/bandwidth.ts): the bucket's arithmetic with an injected clock, then
 * the achieved rate against s3rver on 127.0.0.1 through openStorage (within 10% of the
 * limit), and the flags through the compiled binary (a backup and a restore that cannot
 * beat their limits).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BandwidthClock, createBucket, parseMibPerSec, reserveTokens, withBandwidth } from "../../src/storage/bandwidth.ts";
import { memoryStorage } from "../../src/storage/memory.ts";
import { openStorage } from "../../src/storage/open.ts";
import { runBinary } from "../support/cli.ts";
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from "../support/s3-server.ts";
import { bytes } from "../support/tree.ts";

const MIB = 1024 * 1024;

/** A clock that only moves when slept on. */
function fakeClock(): BandwidthClock & { t: number; sleeps: number[] } {
  const c = {
    t: 0,
    sleeps: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => {
      c.sleeps.push(ms);
      c.t += ms;
    },
  };
  return c;
}

describe("reserveTokens", () => {
  const rate = { bytesPerSec: 1000, burst: 100 };
  const cases = [
    { name: "a full bucket passes up to its burst at once", state: { tokens: 100, at: 0 }, n: 100, now: 0, waitMs: 0, tokens: 0 },
    { name: "more than the bucket holds waits for the rest", state: { tokens: 100, at: 0 }, n: 600, now: 0, waitMs: 500, tokens: -500 },
    { name: "time refills it", state: { tokens: 0, at: 0 }, n: 50, now: 50, waitMs: 0, tokens: 0 },
    { name: "but never past the burst", state: { tokens: 0, at: 0 }, n: 300, now: 10_000, waitMs: 200, tokens: -200 },
    { name: "debt is paid before the next taker goes", state: { tokens: -500, at: 0 }, n: 100, now: 100, waitMs: 500, tokens: -500 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = reserveTokens(c.state, c.n, c.now, rate);
      expect(r.waitMs).toBeCloseTo(c.waitMs, 6);
      expect(r.state.tokens).toBeCloseTo(c.tokens, 6);
    });
  }
});

describe("createBucket and withBandwidth (injected clock)", () => {
  test("sequential takes keep to the rate, whatever the sizes", async () => {
    const clock = fakeClock();
    const take = createBucket(MIB, { burst: 64 * 1024, clock });
    for (const n of [1, 1000, 300_000, MIB, 2 * MIB, 77, 5 * MIB]) await take(n);
    const total = 1 + 1000 + 300_000 + MIB + 2 * MIB + 77 + 5 * MIB;
    expect(clock.t).toBeCloseTo(((total - 64 * 1024) / MIB) * 1000, 3);
  });

  test("concurrent takers queue behind each other", async () => {
    const clock = fakeClock();
    clock.sleep = async (ms) => void clock.sleeps.push(ms); // time stands still: all three reserve at t=0
    const take = createBucket(MIB, { burst: 0, clock });
    await Promise.all([take(MIB), take(MIB), take(MIB)]);
    expect(clock.sleeps).toEqual([1000, 2000, 3000]);
  });

  test("save pays before, load after, stat and list not at all; no limit is the storage itself", async () => {
    const clock = fakeClock();
    const inner = memoryStorage();
    const s = withBandwidth(inner, { uploadBytesPerSec: MIB, downloadBytesPerSec: 2 * MIB, burst: 0, clock });
    await s.save("a", new Uint8Array(MIB));
    expect(clock.t).toBe(1000);
    expect((await s.load("a")).length).toBe(MIB);
    expect(clock.t).toBe(1500);
    expect((await s.load("a", { offset: 0, length: MIB / 2 })).length).toBe(MIB / 2);
    expect(clock.t).toBe(1750);
    await s.stat("a");
    for await (const _ of s.list("")) void _;
    expect(clock.t).toBe(1750);
    expect(withBandwidth(inner, {})).toBe(inner);
  });

  test("MiB/s values", () => {
    expect(parseMibPerSec("4")).toBe(4 * MIB);
    expect(parseMibPerSec("0.5")).toBe(MIB / 2);
    for (const bad of ["0", "-1", "x", "", "1e3", "4MiB"]) expect(parseMibPerSec(bad)).toBeNull();
  });
});

describe("against s3rver", () => {
  let server: S3Server;
  let work: string;
  beforeAll(async () => {
    server = await startS3Server({ bucket: "bw" });
    work = mkdtempSync(join(tmpdir(), "efsbak-bandwidth-"));
  });
  afterAll(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function open(limits: { uploadBytesPerSec?: number; downloadBytesPerSec?: number }) {
    return openStorage(`s3://${server.bucket}/rate`, {
      baseDir: work,
      env: {},
      endpoint: server.endpoint,
      forcePathStyle: true,
      region: S3RVER_CREDENTIALS.region,
      accessKeyId: S3RVER_CREDENTIALS.accessKeyId,
      secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey,
      bandwidth: limits,
    }).storage;
  }

  /** 12 MiB in 1 MiB objects, three in flight (as backup's pipeline keeps several packs going). */
  async function timed(each: (i: number) => Promise<unknown>): Promise<number> {
    const t0 = performance.now();
    let next = 0;
    await Promise.all([0, 1, 2].map(async () => {
      while (next < 12) await each(next++);
    }));
    return (performance.now() - t0) / 1000;
  }

  test("uploads and downloads at 4 MiB/s, within 10%", async () => {
    const s = open({ uploadBytesPerSec: 4 * MIB, downloadBytesPerSec: 4 * MIB });
    const data = bytes(MIB, 7);
    const up = await timed((i) => s.save(`obj-${i}`, data));
    const down = await timed((i) => s.load(`obj-${i}`));
    const upRate = 12 / up;
    const downRate = 12 / down;
    console.log(`bandwidth: upload 12 MiB in ${up.toFixed(2)} s = ${upRate.toFixed(2)} MiB/s; download in ${down.toFixed(2)} s = ${downRate.toFixed(2)} MiB/s (limit 4)`);
    expect(Math.abs(upRate - 4) / 4).toBeLessThan(0.1);
    expect(Math.abs(downRate - 4) / 4).toBeLessThan(0.1);
  }, 60_000);

  test("through the binary: --limit-upload over the vault's limit_upload, and limit_download, hold a backup and a restore to their rate", async () => {
    makeSource(join(work, "src"));
    mkdirSync(join(work, "plans"));
    writeFileSync(join(work, "plans/v.toml"), `[vaults.s3]\nurl = "s3://${server.bucket}/vault"\nendpoint = "${server.endpoint}"\nforce_path_style = true\nlimit_upload = 100\nlimit_download = 1\n`);
    const env = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey };
    let t0 = performance.now();
    const b = await runBinary(["backup", "./src", "--vault", "s3", "--limit-upload", "1", "--json"], { cwd: work, env });
    const upSeconds = (performance.now() - t0) / 1000;
    expect([b.code, b.stderr]).toEqual([0, expect.any(String)]);
    const job = JSON.parse(b.stdout).job;
    const storedMib = job.bytes_stored / MIB;
    console.log(`bandwidth: backup stored ${storedMib.toFixed(2)} MiB in ${upSeconds.toFixed(2)} s at --limit-upload 1`);
    expect(storedMib).toBeGreaterThan(5.9);
    expect(storedMib / upSeconds).toBeLessThan(1.05); // unlimited, this backup took 4.3 s here (1.4 MiB/s)
    t0 = performance.now();
    // No flag: the vault's limit_download = 1 holds (the backup's --limit-upload 1 beat its limit_upload = 100).
    const r = await runBinary(["restore", "latest", "--vault", "s3", "--resource", JSON.parse(b.stdout).job.resource, "--target", "./out", "--json"], { cwd: work, env });
    const downSeconds = (performance.now() - t0) / 1000;
    expect([r.code, r.stderr]).toEqual([0, expect.any(String)]);
    console.log(`bandwidth: restore of ${storedMib.toFixed(2)} MiB in ${downSeconds.toFixed(2)} s at limit_download = 1`);
    expect(storedMib / downSeconds).toBeLessThan(1.05); // unlimited, this restore took 2.3 s here (2.6 MiB/s)
    const bad = await runBinary(["backup", "./src", "--vault", "s3", "--limit-upload", "fast"], { cwd: work, env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Cannot read --limit-upload "fast"');
  }, 120_000);
});

function makeSource(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, `f${i}.bin`), bytes(2 * MIB, 100 + i));
}
