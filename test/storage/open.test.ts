import { describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStorage, parseS3Url } from "../../src/storage/open.ts";
import { UsageError } from "../../src/errors.ts";

function usageError(f: () => unknown): UsageError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).exitCode).toBe(2);
    return e as UsageError;
  }
  throw new Error("expected a UsageError");
}

describe("openStorage: local", () => {
  test("relative paths resolve against baseDir; cold defaults to VAULT/cold", () => {
    const o = openStorage("vault", { baseDir: "/srv/plans", env: {} });
    expect(o.location).toBe("/srv/plans/vault");
    expect(o.storage.location).toBe("/srv/plans/vault");
    expect(o.cold.location).toBe("/srv/plans/vault/cold");
  });

  test("absolute paths, file:// URLs and cold_path", () => {
    expect(openStorage("/data/v", { baseDir: "/x", env: {} }).location).toBe("/data/v");
    expect(openStorage("file:///data/v", { baseDir: "/x", env: {} }).location).toBe("/data/v");
    expect(openStorage("./v", { baseDir: "/x", env: {}, coldPath: "/mnt/hdd/cold" }).cold.location).toBe("/mnt/hdd/cold");
    expect(openStorage("./v", { baseDir: "/x", env: {}, coldPath: "cold-elsewhere" }).cold.location).toBe("/x/cold-elsewhere");
  });

  test("the local storage works", async () => {
    const dir = await mkdtemp(join(tmpdir(), "efsbak-open-"));
    try {
      const o = openStorage("v", { baseDir: dir, env: {} });
      await o.storage.save("k", new Uint8Array([1]));
      await o.cold.save("k", new Uint8Array([2]));
      expect(await o.storage.load("k")).toEqual(new Uint8Array([1]));
      expect(await o.storage.load("cold/k")).toEqual(new Uint8Array([2]));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("openStorage: s3", () => {
  const env = { AWS_ACCESS_KEY_ID: "AKIDENV", AWS_SECRET_ACCESS_KEY: "secretenv", AWS_REGION: "eu-west-1" };

  test("bucket and prefix; cold beside it", () => {
    const o = openStorage("s3://bkt/some/prefix/", { baseDir: "/", env });
    expect(o.location).toBe("s3://bkt/some/prefix");
    expect(o.cold.location).toBe("s3://bkt/some/prefix/cold");
    const root = openStorage("s3://bkt", { baseDir: "/", env });
    expect(root.location).toBe("s3://bkt");
    expect(root.cold.location).toBe("s3://bkt/cold");
    expect(openStorage("S3://bkt/p", { baseDir: "/", env }).location).toBe("s3://bkt/p");
  });

  test("parseS3Url", () => {
    expect(parseS3Url("s3://b")).toEqual({ bucket: "b", prefix: "" });
    expect(parseS3Url("s3://b/")).toEqual({ bucket: "b", prefix: "" });
    expect(parseS3Url("s3://my.bucket-1/a/b")).toEqual({ bucket: "my.bucket-1", prefix: "a/b" });
  });

  const bad: { url: string; says: RegExp }[] = [
    { url: "s3://", says: /bucket name is missing/ },
    { url: "s3:///prefix", says: /bucket name is missing/ },
    { url: "http://example.com/vault", says: /unsupported scheme "http:\/\/"/ },
    { url: "ftp://x", says: /unsupported scheme/ },
    { url: "", says: /URL is empty/ },
    { url: "s3://b/a/../c", says: /"\." or "\.\."/ },
    { url: "s3://b/a//c", says: /empty/ },
    { url: "s3://b/p?x=1", says: /query strings/ },
    { url: "s3://b_ad!/p", says: /not a valid bucket name/ },
  ];
  for (const c of bad) {
    test(`refuses ${JSON.stringify(c.url)}`, () => {
      expect(usageError(() => openStorage(c.url, { baseDir: "/", env })).message).toMatch(c.says);
    });
  }

  test("credentials in a URL are refused without repeating them", () => {
    const err = usageError(() => openStorage("s3://AKID:topsecret@bucket/p", { baseDir: "/", env }));
    expect(err.message).not.toContain("topsecret");
    expect(err.message).toContain("credentials do not belong");
    const err2 = usageError(() => openStorage("s3://b/p", { baseDir: "/", env, endpoint: "http://user:pw-secret@127.0.0.1:9000" }));
    expect(err2.message).not.toContain("pw-secret");
  });

  test("endpoints must be http(s)://host[:port]", () => {
    usageError(() => openStorage("s3://b", { baseDir: "/", env, endpoint: "not a url" }));
    usageError(() => openStorage("s3://b", { baseDir: "/", env, endpoint: "ftp://127.0.0.1" }));
    usageError(() => openStorage("s3://b", { baseDir: "/", env, endpoint: "http://127.0.0.1:9000/path" }));
    expect(openStorage("s3://b", { baseDir: "/", env, endpoint: "http://127.0.0.1:9000/" }).location).toBe("s3://b");
    expect(openStorage("s3://b", { baseDir: "/", env: { ...env, AWS_ENDPOINT_URL: "http://127.0.0.1:9" } }).location).toBe("s3://b");
    usageError(() => openStorage("s3://b", { baseDir: "/", env: { ...env, AWS_ENDPOINT_URL: "bogus" } }));
  });

  test("half a key pair is refused, from the table or the environment", () => {
    const a = usageError(() => openStorage("s3://b", { baseDir: "/", env: {}, accessKeyId: "AKID" }));
    expect(a.message).toContain("no secret access key");
    const b = usageError(() => openStorage("s3://b", { baseDir: "/", env: { AWS_SECRET_ACCESS_KEY: "s3cr3t-value" } }));
    expect(b.message).toContain("no access key id");
    expect(b.message).not.toContain("s3cr3t-value");
  });

  test("cold_storage_class is checked", () => {
    expect(openStorage("s3://b", { baseDir: "/", env, coldStorageClass: "glacier_ir" }).cold.location).toBe("s3://b/cold");
    const err = usageError(() => openStorage("s3://b", { baseDir: "/", env, coldStorageClass: "COLDEST" }));
    expect(err.message).toContain('"COLDEST"');
    expect(err.hint).toContain("GLACIER_IR");
  });
});
