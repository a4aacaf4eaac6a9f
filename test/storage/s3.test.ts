/**
 * The S3 backend against a real S3-compatible server (s3rver under Node) on 127.0.0.1, started
 * by this file and stopped afterwards. Never skipped, never a mock: faults are injected by a
 * loopback proxy in front of the real server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { S3Client } from "bun";
import { storageContract } from "./contract.ts";
import { S3RVER_CREDENTIALS, type S3Proxy, type S3Server, startS3Proxy, startS3Server } from "../support/s3-server.ts";
import { type S3Options, clientOptions, s3ErrorKind, s3Storage } from "../../src/storage/s3.ts";
import { withRetry } from "../../src/storage/retry.ts";
import { openStorage } from "../../src/storage/open.ts";
import { NotFoundError, StorageError, type Storage } from "../../src/storage/storage.ts";
import { caught } from "../support/errors.ts";
import { randomBytes } from "../support/random.ts";
import { listKeys } from "../support/storage.ts";

let server: S3Server;
let prefixes = 0;
const ROOT_BUCKET = "efsbak-root";

beforeAll(async () => {
  server = await startS3Server({ extraBuckets: [ROOT_BUCKET] });
});
afterAll(async () => {
  await server?.stop();
});

function options(extra: Partial<S3Options> = {}): S3Options {
  return { bucket: server.bucket, prefix: `t${++prefixes}/vault`, endpoint: server.endpoint, ...S3RVER_CREDENTIALS, ...extra };
}

/** Empties a storage. Sequential: s3rver answers parallel DELETEs in one folder with InternalError now and then. */
async function removeAll(s: Storage): Promise<void> {
  const keys: string[] = [];
  for await (const o of s.list("")) keys.push(o.key);
  const retrying = withRetry(s, { baseMs: 10 });
  for (const k of keys) await retrying.remove(k);
}

storageContract("s3", async () => {
  const storage = s3Storage(options());
  return { storage, cleanup: () => removeAll(storage) };
});

storageContract("s3 at the bucket root, under withRetry", async () => {
  const storage = withRetry(s3Storage({ ...options(), bucket: ROOT_BUCKET, prefix: "" }));
  return { storage, cleanup: () => removeAll(storage) };
});

describe("s3 backend", () => {
  test("lists every key over many pages (1,234 keys, pages of 1,000)", async () => {
    const s = s3Storage(options({ maxConcurrent: 32 }));
    const want = Array.from({ length: 1234 }, (_, i) => `data/${(i % 7).toString()}/${i.toString(16).padStart(6, "0")}`);
    await Promise.all(want.map((k, i) => s.save(k, randomBytes(1 + (i % 5), i + 1))));
    await s.save("other/x", randomBytes(1));
    const got = await listKeys(s, "data/");
    expect(got.length).toBe(1234);
    expect(new Set(got).size).toBe(1234);
    expect(got.sort()).toEqual([...want].sort());
    expect((await listKeys(s, "data/3/")).length).toBe(want.filter((k) => k.startsWith("data/3/")).length);
    expect((await listKeys(s, "")).length).toBe(1235);
  }, 120_000);

  test("list reports sizes and modification times of objects under the prefix only", async () => {
    const opts = options();
    const s = s3Storage(opts);
    await s.save("p/a", randomBytes(77));
    // An object beside the storage prefix ("t7/vault-other/...") must not leak in.
    await new S3Client(clientOptions(opts)).write(`${opts.prefix}-other/p/b`, "x");
    const all = await Array.fromAsync(s.list("p/"));
    expect(all.length).toBe(1);
    expect((await Array.fromAsync(s.list(""))).length).toBe(1);
    const [info] = all;
    expect(info).toEqual({ key: "p/a", size: 77, mtimeMs: expect.any(Number) });
    expect(Math.abs(info!.mtimeMs - Date.now())).toBeLessThan(10 * 60_000);
  });

  test("range reads return exactly the bytes asked for, and never short data", async () => {
    const s = s3Storage(options());
    const data = randomBytes(10_000, 9);
    await s.save("r/x", data);
    const cases = [
      { offset: 0, length: 1 },
      { offset: 0, length: 10_000 },
      { offset: 9_999, length: 1 },
      { offset: 1234, length: 5678 },
      { offset: 10_000, length: 0 },
      { offset: 5, length: 0 },
    ];
    for (const r of cases) {
      const got = await s.load("r/x", r);
      expect(Buffer.from(got).equals(Buffer.from(data.subarray(r.offset, r.offset + r.length)))).toBe(true);
    }
    for (const r of [{ offset: 9_990, length: 11 }, { offset: 10_000, length: 1 }, { offset: 20_000, length: 5 }, { offset: 10_001, length: 0 }, { offset: -1, length: 2 }]) {
      const err = await caught(s.load("r/x", r));
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).permanent).toBe(true);
      expect(err).not.toBeInstanceOf(NotFoundError);
    }
    expect(await caught(s.load("r/missing", { offset: 0, length: 4 }))).toBeInstanceOf(NotFoundError);
    expect(await caught(s.load("r/missing", { offset: 0, length: 0 }))).toBeInstanceOf(NotFoundError);
  });

  test("a multipart save of ~20 MiB round-trips exactly", async () => {
    const s = s3Storage(options());
    const data = randomBytes(20 * 1024 * 1024 + 4321, 5);
    await s.save("packs/big", data);
    expect((await s.stat("packs/big"))?.size).toBe(data.length);
    const back = await s.load("packs/big");
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    const mid = await s.load("packs/big", { offset: 17 * 1024 * 1024 - 3, length: 1024 * 1024 });
    expect(Buffer.from(mid).equals(Buffer.from(data.subarray(17 * 1024 * 1024 - 3, 18 * 1024 * 1024 - 3)))).toBe(true);
  }, 60_000);

  test("a missing object is NotFoundError on load, null on stat, and fine to remove", async () => {
    const s = s3Storage(options());
    const err = await caught(s.load("nope/x"));
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain("nope/x");
    expect((err as Error).message).toContain(`s3://${server.bucket}/`);
    expect(await s.stat("nope/x")).toBeNull();
    await s.remove("nope/x");
  });

  test("location is s3://bucket/prefix and carries no credentials", async () => {
    const s = s3Storage({ bucket: server.bucket, prefix: "/a//b/", endpoint: server.endpoint, accessKeyId: "AKIDEXAMPLE1234", secretAccessKey: "wJalrXUtnFEMIsecretKEY", sessionToken: "SESSIONTOKEN999" });
    expect(s.location).toBe(`s3://${server.bucket}/a/b`);
    expect(s3Storage({ bucket: "b", endpoint: server.endpoint }).location).toBe("s3://b");
  });

  test("wrong credentials fail permanently, naming bucket, key and operation, without secrets", async () => {
    const secret = "wJalrXUtnFEMI-very-secret";
    const s = withRetry(s3Storage(options({ accessKeyId: "AKIAWRONGKEY", secretAccessKey: secret, sessionToken: "TOKEN-secret-123" })), { sleep: async () => {} });
    const err = await caught(s.save("keys/k1", randomBytes(10)));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).permanent).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^Cannot save "keys\/k1" in "s3:\/\/efsbak-test\/t\d+\/vault": /);
    expect(msg).toContain("InvalidAccessKeyId");
    expect(msg).not.toContain(secret);
    expect(msg).not.toContain("TOKEN-secret-123");
    expect(msg).not.toContain("AKIAWRONGKEY");
    expect(msg).not.toMatch(/Signature=|Credential=/);
  });

  test("a missing bucket is a permanent error", async () => {
    const s = s3Storage(options({ bucket: "no-such-bucket" }));
    const err = await caught(s.save("k", randomBytes(3)));
    expect((err as StorageError).permanent).toBe(true);
    expect((err as Error).message).toContain("NoSuchBucket");
    const listErr = await caught(listKeys(s, ""));
    expect((listErr as StorageError).permanent).toBe(true);
  });

  test("a server that is down is a transient error, and retries give up with a clear message", async () => {
    const down = await startS3Server();
    const endpoint = down.endpoint;
    await down.stop();
    const delays: number[] = [];
    const s = withRetry(s3Storage(options({ endpoint })), { attempts: 3, sleep: async (ms) => { delays.push(ms); } });
    const err = await caught(s.load("packs/ab"));
    expect((err as StorageError).permanent).toBe(true);
    expect((err as Error).message).toMatch(/^Cannot load "packs\/ab" in "s3:\/\/efsbak-test\/t\d+\/vault": .*\(gave up after 3 attempts\)$/);
    expect(delays.length).toBe(2);
  });

  test("the cold tier writes with its storage class, beside the warm tier", async () => {
    const root = `t${++prefixes}`;
    const env = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: server.endpoint };
    const opened = openStorage(`s3://${server.bucket}/${root}/vault`, { baseDir: "/", env, coldStorageClass: "STANDARD_IA" });
    expect(opened.location).toBe(`s3://${server.bucket}/${root}/vault`);
    expect(opened.cold.location).toBe(`s3://${server.bucket}/${root}/vault/cold`);
    await opened.cold.save("packs/c1", randomBytes(100, 3));
    await opened.cold.save("packs/c2", randomBytes(17 * 1024 * 1024, 4));
    await opened.storage.save("packs/w1", randomBytes(10, 5));
    expect(Buffer.from(await opened.cold.load("packs/c1")).equals(Buffer.from(randomBytes(100, 3)))).toBe(true);
    expect((await opened.cold.stat("packs/c2"))?.size).toBe(17 * 1024 * 1024);
    expect(await listKeys(opened.storage, "cold/packs/")).toEqual(expect.arrayContaining(["cold/packs/c1", "cold/packs/c2"]));
    expect(await listKeys(opened.cold, "")).toEqual(expect.arrayContaining(["packs/c1", "packs/c2"]));
    expect(await listKeys(opened.storage, "packs/")).toEqual(["packs/w1"]);
  }, 60_000);

  test("the same object is readable through any prefix view of the bucket", async () => {
    const a = s3Storage(options({ prefix: "shared/x" }));
    const b = s3Storage(options({ prefix: "shared" }));
    await a.save("k", randomBytes(5, 1));
    expect(Buffer.from(await b.load("x/k")).equals(Buffer.from(randomBytes(5, 1)))).toBe(true);
    await removeAll(b);
  });
});

describe("s3 backend through a fault-injecting loopback proxy", () => {
  let proxy: S3Proxy;
  beforeAll(() => {
    proxy = startS3Proxy(server.endpoint);
  });
  afterAll(async () => {
    await proxy?.stop();
  });
  function reset(): void {
    proxy.requests.length = 0;
    proxy.intercept = () => undefined;
  }

  test("small saves are one PUT, large ones multipart, both with the storage class", async () => {
    reset();
    const s = s3Storage(options({ endpoint: proxy.endpoint, storageClass: "STANDARD_IA", partSize: 6 * 1024 * 1024, multipartThreshold: 16 * 1024 * 1024 }));
    await s.save("p/small", randomBytes(1000));
    expect(proxy.requests.map((r) => r.method)).toEqual(["PUT"]);
    expect(proxy.requests[0]!.headers.get("x-amz-storage-class")).toBe("STANDARD_IA");
    reset();
    const big = randomBytes(16 * 1024 * 1024 + 1, 2);
    await s.save("p/big", big);
    const initiate = proxy.requests.filter((r) => r.method === "POST" && r.url.includes("uploads"));
    const parts = proxy.requests.filter((r) => r.method === "PUT" && r.url.includes("partNumber="));
    expect(initiate.length).toBe(1);
    expect(initiate[0]!.headers.get("x-amz-storage-class")).toBe("STANDARD_IA");
    expect(parts.map((p) => p.bodyBytes).sort((x, y) => y - x)).toEqual([6 * 1024 * 1024, 6 * 1024 * 1024, 4 * 1024 * 1024 + 1]);
    reset();
    expect(Buffer.from(await s.load("p/big")).equals(Buffer.from(big))).toBe(true);
  }, 60_000);

  test("at most maxConcurrent requests are in flight", async () => {
    reset();
    let inFlight = 0;
    let peak = 0;
    const s = s3Storage(options({ endpoint: proxy.endpoint, maxConcurrent: 3 }));
    proxy.intercept = async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await Bun.sleep(20);
      inFlight--;
      return undefined;
    };
    await Promise.all(Array.from({ length: 12 }, (_, i) => s.save(`c/${i}`, randomBytes(10, i + 1))));
    expect(peak).toBe(3);
    expect(proxy.requests.length).toBe(12);
  });

  const transient: { name: string; respond: () => Response }[] = [
    { name: "503 SlowDown", respond: () => xmlError(503, "SlowDown", "Please reduce your request rate.") },
    { name: "500 InternalError", respond: () => xmlError(500, "InternalError", "We encountered an internal error.") },
    { name: "502 without a body", respond: () => new Response(null, { status: 502 }) },
    { name: "429 without a body", respond: () => new Response(null, { status: 429 }) },
  ];
  for (const c of transient) {
    test(`${c.name} is retried until the call succeeds`, async () => {
      reset();
      const s = withRetry(s3Storage(options({ endpoint: proxy.endpoint })), { sleep: async () => {} });
      let failures = 2;
      proxy.intercept = () => (failures-- > 0 ? c.respond() : undefined);
      await s.save("retry/k", randomBytes(50, 7));
      expect(proxy.requests.length).toBe(3);
      failures = 2;
      expect(Buffer.from(await s.load("retry/k")).equals(Buffer.from(randomBytes(50, 7)))).toBe(true);
      failures = 2;
      expect((await listKeys(s, "retry/")).length).toBe(1);
    });
  }

  test("403 AccessDenied is not retried", async () => {
    reset();
    const s = withRetry(s3Storage(options({ endpoint: proxy.endpoint })), { sleep: async () => {} });
    proxy.intercept = () => xmlError(403, "AccessDenied", "Access Denied");
    const err = await caught(s.save("deny/k", randomBytes(5)));
    expect(proxy.requests.length).toBe(1);
    expect((err as StorageError).permanent).toBe(true);
    expect((err as Error).message).toMatch(/^Cannot save "deny\/k" in "s3:\/\/efsbak-test\/t\d+\/vault": Access Denied \(AccessDenied\)$/);
  });

  test("an HTML error page becomes a short message", async () => {
    reset();
    const s = s3Storage(options({ endpoint: proxy.endpoint }));
    proxy.intercept = () => new Response("<html><body>Bad gateway from proxy X-Amz-Signature=abc</body></html>", { status: 502 });
    const err = await caught(s.load("html/k"));
    expect((err as StorageError).permanent).toBe(false);
    expect((err as Error).message).toBe(`Cannot load "html/k" in "${s.location}": unexpected response from the server (UnknownError)`);
  });

  test("a request with no answer times out as a transient error", async () => {
    reset();
    const s = s3Storage(options({ endpoint: proxy.endpoint, timeoutMs: 300 }));
    proxy.intercept = () => "hang";
    const err = await caught(s.stat("slow/k"));
    expect((err as StorageError).permanent).toBe(false);
    expect((err as Error).message).toContain('Cannot stat "slow/k"');
    expect((err as Error).message).toContain("no answer within");
  });

  test("a ranged read answered short is not returned", async () => {
    reset();
    const s = s3Storage(options({ endpoint: proxy.endpoint }));
    await s.save("short/k", randomBytes(1000, 3));
    let cut = true;
    proxy.intercept = (r) => (r.method === "GET" && cut ? (cut = false, new Response(new Uint8Array(10), { status: 206 })) : undefined);
    const err = await caught(s.load("short/k", { offset: 100, length: 500 }));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).permanent).toBe(false);
    expect((err as Error).message).toContain("got 10 of 500 bytes");
  });

  test("list follows continuation tokens through the proxy too", async () => {
    reset();
    const s = s3Storage(options({ endpoint: proxy.endpoint, maxConcurrent: 32 }));
    await Promise.all(Array.from({ length: 1001 }, (_, i) => s.save(`pg/${i}`, randomBytes(1, i + 1))));
    reset();
    expect((await listKeys(s, "pg/")).length).toBe(1001);
    expect(proxy.requests.filter((r) => r.url.includes("list-type=2")).length).toBe(2);
    expect(proxy.requests.some((r) => r.url.includes("continuation-token="))).toBe(true);
  }, 60_000);
});

describe("s3 error classification and client options", () => {
  const kinds: [string | undefined, string][] = [
    ["NoSuchKey", "notfound"], ["AccessDenied", "permanent"], ["InvalidAccessKeyId", "permanent"],
    ["SignatureDoesNotMatch", "permanent"], ["NoSuchBucket", "permanent"], ["InvalidRange", "permanent"],
    ["ERR_S3_MISSING_CREDENTIALS", "permanent"], ["SomeNewClientError", "permanent"],
    ["SlowDown", "transient"], ["InternalError", "transient"], ["ServiceUnavailable", "transient"],
    ["RequestTimeout", "transient"], ["UnknownError", "transient"], ["ConnectionRefused", "transient"],
    ["ConnectionClosed", "transient"], ["DNSResolveFailed", "transient"], ["ECONNRESET", "transient"], [undefined, "transient"],
  ];
  for (const [code, kind] of kinds) {
    test(`${code} is ${kind}`, () => expect(s3ErrorKind(code)).toBe(kind as ReturnType<typeof s3ErrorKind>));
  }

  test("path style by default; virtual-hosted puts the bucket in the host", () => {
    expect(clientOptions({ bucket: "b", endpoint: "http://127.0.0.1:9000/" })).toMatchObject({ endpoint: "http://127.0.0.1:9000", virtualHostedStyle: false, region: "us-east-1" });
    expect(clientOptions({ bucket: "b", region: "eu-west-1" })).toMatchObject({ endpoint: "https://s3.eu-west-1.amazonaws.com", virtualHostedStyle: false });
    expect(clientOptions({ bucket: "b", region: "eu-west-1", forcePathStyle: false })).toMatchObject({ endpoint: "https://b.s3.eu-west-1.amazonaws.com", virtualHostedStyle: true });
  });
});

function xmlError(status: number, code: string, message: string): Response {
  const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>1</RequestId></Error>`;
  return new Response(body, { status, headers: { "content-type": "application/xml" } });
}
