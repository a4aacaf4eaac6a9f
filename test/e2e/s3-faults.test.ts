/**
 * S3 faults through dist/efsbak, with a loopback proxy in front of s3rver (or a server that
 * accepts and never answers), all on 127.0.0.1: retries shown under --verbose and counted in
 * the metrics file, a pack uploaded with one PUT, storage dying mid-backup (one error naming
 * the vault, the job FAILED, no per-file warnings), bounded timeouts, and SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytes, makeTree } from "../support/tree.ts";
import { BINARY, ensureBinary, runBinary } from "../support/cli.ts";
import { S3RVER_CREDENTIALS, type S3Proxy, type S3Server, startS3Proxy, startS3Server } from "../support/s3-server.ts";

let server: S3Server;
let proxy: S3Proxy;
let silent: { endpoint: string; stop(): Promise<void> };
let work: string;
let env: Record<string, string>;

const MIB = 1024 * 1024;

beforeAll(async () => {
  ensureBinary();
  server = await startS3Server({ bucket: "vaults" });
  proxy = startS3Proxy(server.endpoint);
  silent = await silentServer();
  work = mkdtempSync(join(tmpdir(), "efsbak-s3-faults-"));
  env = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, EFSBAK_S3_SETTLE: "100ms" };
  const small: Record<string, string> = {};
  for (let i = 0; i < 300; i++) small[`f${i}.txt`] = `small file ${i}\n`.repeat(1 + (i % 5));
  const big: Record<string, Uint8Array> = {};
  for (let i = 0; i < 16; i++) big[`b${i}.bin`] = bytes(3 * MIB + 1000 * i, 100 + i); // 48 MiB that does not compress
  makeTree(join(work, "data/packs"), { small, big });
  const many: Record<string, string> = {};
  for (let i = 0; i < 12000; i++) many[`m${i}.txt`] = `many ${i}\n`;
  const bigger: Record<string, Uint8Array> = {};
  for (let i = 0; i < 12; i++) bigger[`c${i}.bin`] = bytes(3 * MIB, 200 + i);
  makeTree(join(work, "data/dies"), { a: bigger, small: many });
  mkdirSync(join(work, "plans"));
  writeFileSync(join(work, "plans/s3.toml"), `
[vaults.s3]
url = "s3://${server.bucket}/faulty"
endpoint = "${proxy.endpoint}"
force_path_style = true
request_timeout = "20s"
max_attempts = 4

[[resources]]
id = "packs"
path = "data/packs"

[[resources]]
id = "dies"
path = "data/dies"
`);
});

afterAll(async () => {
  await proxy?.stop();
  await server?.stop();
  await silent?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A TCP server on 127.0.0.1 that accepts every connection and never sends a byte. */
async function silentServer(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(srv.address() as { port: number }).port}`,
    stop: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      srv.close(() => resolve());
    }),
  };
}

function unavailable(): Response {
  return new Response("<Error><Code>ServiceUnavailable</Code><Message>Service is unable to handle request.</Message></Error>", { status: 503 });
}

describe("S3 faults through the binary", () => {
  test("retries are shown under --verbose and counted in the metrics file; a pack over 16 MiB is one PUT", async () => {
    proxy.requests.length = 0;
    // Every 4th request fails with 503, five times in all.
    let n = 0;
    let injected = 0;
    proxy.intercept = () => (++n % 4 === 0 && injected < 5 ? (injected++, unavailable()) : undefined);
    const metrics = join(work, "packs.prom");
    const r = await runBinary(["backup", "packs", "--vault", "s3", "--verbose", "--metrics-file", metrics], { cwd: work, env });
    proxy.intercept = () => undefined;
    expect(r.stderr).not.toContain("internal error");
    expect(r.code).toBe(0);
    expect(injected).toBe(5);
    const lines = r.stderr.split("\n").filter((l) => l.includes("Retrying "));
    expect(lines.length).toBe(5);
    expect(lines[0]).toMatch(/Retrying (save|load|stat|list|remove) ".*" in "s3:\/\/vaults\/faulty" in \d+\.\d s: attempt 1 failed: .*\(ServiceUnavailable\)/);
    const text = readFileSync(metrics, "utf8");
    expect(text).toContain("# TYPE efsbak_storage_retries_total counter");
    expect(text).toContain('efsbak_storage_retries_total{vault="s3"} 5\n');
    // Data packs: one PUT each, the largest above the old 16 MiB multipart threshold.
    expect(proxy.requests.some((q) => q.method === "POST" || q.url.includes("partNumber="))).toBe(false);
    const packPuts = proxy.requests.filter((q) => q.method === "PUT" && q.url.includes("/packs/"));
    expect(Math.max(...packPuts.map((q) => q.bodyBytes))).toBeGreaterThan(16 * MIB);
  }, 120_000);

  test("storage dying mid-backup is one error naming the vault, the job FAILED, no per-file warnings", async () => {
    proxy.requests.length = 0;
    // Every pack PUT fails (the rest of the vault still works), while files are still being read.
    proxy.intercept = (q) => (q.method === "PUT" && q.url.includes("/packs/") ? unavailable() : undefined);
    const r = await runBinary(["backup", "dies", "--vault", "s3"], { cwd: work, env: { ...env, EFSBAK_S3_MAX_ATTEMPTS: "1" } });
    proxy.intercept = () => undefined;
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain("internal error");
    expect(r.stderr).not.toContain("Cannot read");
    expect(r.stderr).not.toMatch(/\[warn\] Cannot/);
    const errors = r.stderr.split("\n").filter((l) => /error/i.test(l) && !l.startsWith("hint"));
    if (errors.length !== 1) console.error(r.stderr);
    expect(errors.length).toBe(1);
    expect(errors[0]).toMatch(/Cannot save "packs\/[0-9a-f]{2}\/[0-9a-f]+" in "s3:\/\/vaults\/faulty": .*\(gave up after 1 attempt\)/);
    const jobs = await runBinary(["jobs", "--vault", "s3", "--json"], { cwd: work, env });
    expect(jobs.code).toBe(0);
    const list = JSON.parse(jobs.stdout) as { type: string; resource?: string; state: string; error?: string }[] | { jobs: { type: string; resource?: string; state: string }[] };
    const all = Array.isArray(list) ? list : list.jobs;
    const dies = all.filter((j) => j.type === "backup" && j.resource === "dies");
    expect(dies.map((j) => j.state)).toEqual(["FAILED"]);
  }, 180_000);

  test("a server that accepts and never answers: the command ends within timeout × attempts", async () => {
    const started = performance.now();
    const r = await runBinary(["check", "--vault", "s3://vaults/none"], {
      cwd: work,
      env: { ...env, AWS_ENDPOINT_URL: silent.endpoint, EFSBAK_S3_REQUEST_TIMEOUT: "1s", EFSBAK_S3_MAX_ATTEMPTS: "2" },
    });
    const took = performance.now() - started;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('in "s3://vaults/none": no answer within 1 s (gave up after 2 attempts)');
    expect(r.stderr).not.toContain("internal error");
    expect(took).toBeLessThan(10_000);
  }, 30_000);

  test("a bad EFSBAK_S3_REQUEST_TIMEOUT is a usage error", async () => {
    const r = await runBinary(["check", "--vault", "s3://vaults/none"], { cwd: work, env: { ...env, AWS_ENDPOINT_URL: silent.endpoint, EFSBAK_S3_REQUEST_TIMEOUT: "soon" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Cannot use EFSBAK_S3_REQUEST_TIMEOUT="soon"');
  }, 30_000);

  test("SIGTERM stops a command waiting on a silent server within seconds", async () => {
    const proc = Bun.spawn([BINARY, "check", "--vault", "s3://vaults/none"], {
      cwd: work,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env, AWS_ENDPOINT_URL: silent.endpoint },
      stdout: "pipe",
      stderr: "pipe",
    });
    await Bun.sleep(1500);
    const signalled = performance.now();
    proc.kill("SIGTERM");
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    const took = performance.now() - signalled;
    expect(stderr).toContain("stopping cleanly");
    expect(stderr).toContain("stopped by a signal");
    expect(code).not.toBe(0);
    expect(took).toBeLessThan(8_000);
  }, 30_000);
});
