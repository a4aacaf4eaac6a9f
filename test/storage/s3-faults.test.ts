/**
 * HTTP-level faults between the S3 backend and a real server (s3rver on 127.0.0.1, behind a
 * loopback proxy that decides per request): 503 on continuation pages of a listing, a 404
 * for an object that exists (stores without read-after-write consistency), a pack-sized
 * save, a server that accepts connections and never answers, and a stop signal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { bytes } from "../support/tree.ts";
import { S3RVER_CREDENTIALS, type S3Proxy, type S3Server, startS3Proxy, startS3Server } from "../support/s3-server.ts";
import { type S3Options, STOP_GRACE_MS, s3Storage } from "../../src/storage/s3.ts";
import { type RetryInfo, withRetry } from "../../src/storage/retry.ts";
import { openStorage } from "../../src/storage/open.ts";
import { NotFoundError, StorageError } from "../../src/storage/storage.ts";
import { namedByVault } from "../../src/vault/layout.ts";
import { caught } from "../support/errors.ts";

let server: S3Server;
let proxy: S3Proxy;

beforeAll(async () => {
  server = await startS3Server({ bucket: "faults" });
  proxy = startS3Proxy(server.endpoint);
});

afterAll(async () => {
  await proxy?.stop();
  await server?.stop();
});

function options(extra: Partial<S3Options> = {}): S3Options {
  return { bucket: server.bucket, prefix: `t${Math.random().toString(16).slice(2, 8)}`, endpoint: proxy.endpoint, ...S3RVER_CREDENTIALS, forcePathStyle: true, ...extra };
}

function reset(): void {
  proxy.requests.length = 0;
  proxy.intercept = () => undefined;
}

const noWait = { sleep: async () => {}, random: () => 0 };

/** A TCP server on 127.0.0.1 that accepts every connection and never sends a byte. */
async function silentServer(): Promise<{ endpoint: string; connections: () => number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const srv: Server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    connections: () => count,
    stop: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      srv.close(() => resolve());
    }),
  };
}

describe("S3 listing under faults", () => {
  test("two 503s in a row on every continuation page are retried; every key comes exactly once", async () => {
    reset();
    const o = options({ listPageSize: 10 });
    const direct = s3Storage({ ...o, endpoint: server.endpoint, maxConcurrent: 32 });
    const keys = Array.from({ length: 47 }, (_, i) => `idx/${String(i).padStart(3, "0")}`);
    await Promise.all(keys.map((k) => direct.save(k, bytes(1, 1))));
    // Of the requests for a later page (continuation token, or start-after when resumed), two
    // in every three fail: each page fails twice in a row, then goes through.
    let later = 0;
    let injected = 0;
    proxy.intercept = (r) => {
      const u = new URL(r.url, "http://x");
      if (r.method !== "GET" || u.searchParams.get("list-type") !== "2") return undefined;
      if (!u.searchParams.has("continuation-token") && !u.searchParams.has("start-after")) return undefined;
      if (later++ % 3 === 2) return undefined;
      injected++;
      return new Response("<Error><Code>ServiceUnavailable</Code><Message>Please reduce your request rate.</Message></Error>", { status: 503 });
    };
    const retried: RetryInfo[] = [];
    const s = withRetry(s3Storage(o), { ...noWait, attempts: 3, onRetry: (i) => retried.push(i) });
    const seen: string[] = [];
    for await (const info of s.list("idx/")) seen.push(info.key);
    expect(seen).toEqual(keys);
    expect(injected).toBeGreaterThanOrEqual(8); // 4 continuation pages, 2 failures each
    expect(retried.length).toBe(injected);
    expect(retried.every((r) => r.op === "list" && r.attempt <= 2)).toBe(true);
  }, 60_000);

  test("a continuation page that keeps failing gives up after max attempts", async () => {
    reset();
    const o = options({ listPageSize: 5 });
    const direct = s3Storage({ ...o, endpoint: server.endpoint });
    for (let i = 0; i < 12; i++) await direct.save(`l/${i}`, bytes(1, 1));
    proxy.intercept = (r) => (r.method === "GET" && /continuation-token|start-after/.test(r.url) ? new Response("<Error><Code>SlowDown</Code></Error>", { status: 503 }) : undefined);
    const s = withRetry(s3Storage(o), { ...noWait, attempts: 2 });
    const err = await caught((async () => { for await (const _ of s.list("l/")) { /* drain */ } })());
    expect((err as Error).message).toContain("gave up after 2 attempts");
  }, 30_000);
});

describe("S3 saves and loads", () => {
  test("a pack-sized object (17.5 MiB) goes up as one PUT by default", async () => {
    reset();
    const s = s3Storage(options());
    const pack = bytes(17 * 1024 * 1024 + 512 * 1024, 5);
    await s.save("packs/ab/abcdef", pack);
    expect(proxy.requests.map((r) => r.method)).toEqual(["PUT"]);
    expect(proxy.requests[0]!.bodyBytes).toBe(pack.length);
    expect(Buffer.from(await s.load("packs/ab/abcdef")).equals(Buffer.from(pack))).toBe(true);
  }, 60_000);

  test("a 404 for an object the vault names is retried (not read-after-write consistent stores)", async () => {
    reset();
    const o = options();
    await s3Storage(o).save("packs/cd/cdef", bytes(100, 6));
    let misses = 2;
    proxy.intercept = (r) => (r.method === "GET" && r.url.includes("/packs/cd/cdef") && misses-- > 0
      ? new Response("<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>", { status: 404 })
      : undefined);
    const retried: RetryInfo[] = [];
    const s = withRetry(s3Storage(o), { ...noWait, mustExist: namedByVault, onRetry: (i) => retried.push(i) });
    expect(await s.load("packs/cd/cdef")).toEqual(bytes(100, 6));
    expect(retried.map((r) => r.attempt)).toEqual([1, 2]);
    // A key nobody named (a probe for the config) is not retried.
    reset();
    expect(await caught(s.load("config"))).toBeInstanceOf(NotFoundError);
    expect(proxy.requests.length).toBe(1);
  }, 30_000);
});

describe("a server that accepts and never answers", () => {
  test("every request ends within its bounded time: timeout × attempts, settable", async () => {
    const silent = await silentServer();
    try {
      const { storage } = openStorage("s3://b/p", { baseDir: "/", env: {}, endpoint: silent.endpoint, ...S3RVER_CREDENTIALS, requestTimeoutMs: 400, maxAttempts: 3 });
      const started = performance.now();
      const err = await caught(storage.stat("config"));
      const took = performance.now() - started;
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).permanent).toBe(true);
      expect((err as Error).message).toBe('Cannot stat "config" in "s3://b/p": no answer within 0.4 s (gave up after 3 attempts)');
      expect(took).toBeGreaterThan(3 * 400);
      expect(took).toBeLessThan(3 * 400 + 200 + 400 + 1500); // the backoff before retries 1 and 2 is at most 200 + 400 ms
      expect(silent.connections()).toBeGreaterThanOrEqual(1);
    } finally {
      await silent.stop();
    }
  }, 30_000);

  test("a stop signal ends requests in flight STOP_GRACE_MS after it, and new ones at once", async () => {
    const silent = await silentServer();
    try {
      const stop = new AbortController();
      const { storage } = openStorage("s3://b/p", { baseDir: "/", env: {}, endpoint: silent.endpoint, ...S3RVER_CREDENTIALS, signal: stop.signal });
      const pending = caught(storage.load("packs/aa/aa"));
      await Bun.sleep(200);
      const stoppedAt = performance.now();
      stop.abort();
      const err = await pending;
      const took = performance.now() - stoppedAt;
      expect((err as Error).message).toBe('Cannot load "packs/aa/aa" in "s3://b/p": stopped by a signal');
      expect(took).toBeGreaterThan(STOP_GRACE_MS - 100);
      expect(took).toBeLessThan(STOP_GRACE_MS + 1500);
      const later = performance.now();
      expect((await caught(storage.save("jobs/x/0001", bytes(10))) as Error).message).toContain("stopped by a signal");
      expect(performance.now() - later).toBeLessThan(500);
    } finally {
      await silent.stop();
    }
  }, 30_000);
});
