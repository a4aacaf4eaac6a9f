/**
 * A real S3-compatible server for tests: s3rver 3.7.1 under Node, on 127.0.0.1 at a free
 * port, with a fresh temp directory and one bucket. Never listens on or talks to anything
 * but loopback. The server exits by itself when this process goes away (its stdin closes).
 *
 * Known s3rver gaps (do not lean on them in tests): it does not check v4 signatures (only
 * that the access key is "S3RVER"), ignores If-None-Match on PUT, and reports every object
 * as STANDARD whatever storage class was asked for.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The credentials s3rver accepts (its built-in dummy account). */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" } as const;

/** A running s3rver. */
export interface S3Server {
  /** e.g. "http://127.0.0.1:41234" */
  endpoint: string;
  bucket: string;
  stop(): Promise<void>;
}

const MAIN = join(import.meta.dir, "_s3rver-main.cjs");
const START_TIMEOUT_MS = 20_000;

/** Starts s3rver on 127.0.0.1 at a free port with one empty bucket (and any extra ones). */
export async function startS3Server(options: { bucket?: string; extraBuckets?: string[] } = {}): Promise<S3Server> {
  const bucket = options.bucket ?? "efsbak-test";
  const directory = await mkdtemp(join(tmpdir(), "efsbak-s3rver-"));
  const buckets = [bucket, ...(options.extraBuckets ?? [])];
  const child = spawn("node", [MAIN, JSON.stringify({ directory, buckets })], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "--openssl-legacy-provider" },
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
  let port: number;
  try {
    port = await readPort(child, () => stderr);
  } catch (err) {
    child.kill("SIGKILL");
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        child.once("exit", () => { clearTimeout(timer); resolve(); });
        child.kill("SIGTERM");
      });
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function readPort(child: ChildProcess, stderr: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => done(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms: ${stderr()}`)), START_TIMEOUT_MS);
    function done(err: Error | null, port?: number) {
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
      if (err) reject(err); else resolve(port!);
    }
    function onData(d: Buffer) {
      out += d.toString();
      const nl = out.indexOf("\n");
      if (nl < 0) return;
      try {
        const { port } = JSON.parse(out.slice(0, nl)) as { port: number };
        if (!Number.isInteger(port) || port <= 0) throw new Error(`bad port ${port}`);
        done(null, port);
      } catch (err) {
        done(new Error(`s3rver printed an unexpected line "${out.slice(0, nl)}": ${(err as Error).message}`));
      }
    }
    function onExit(code: number | null) {
      done(new Error(`s3rver exited with code ${code} before it started: ${stderr()}`));
    }
    function onError(err: Error) {
      done(new Error(`Cannot start s3rver under node: ${err.message}`));
    }
    child.stdout!.on("data", onData);
    child.once("exit", onExit);
    child.once("error", onError);
  });
}

/** One request seen by a proxy. */
export interface ProxiedRequest {
  method: string;
  /** Path and query, e.g. "/bucket/key?uploads=". */
  url: string;
  headers: Headers;
  /** Body size in bytes (0 for GET/HEAD). */
  bodyBytes: number;
}

/** What a proxy does with a request: undefined forwards it, a Response answers it, "hang" never answers. */
export type ProxyDecision = Response | "hang" | undefined;

/** A loopback proxy in front of a real server, to observe requests and inject faults. */
export interface S3Proxy {
  endpoint: string;
  requests: ProxiedRequest[];
  /** Decides per request; default forwards everything. */
  intercept: (req: ProxiedRequest) => ProxyDecision | Promise<ProxyDecision>;
  stop(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 that forwards to target (which must be a loopback URL). */
export function startS3Proxy(target: string): S3Proxy {
  const t = new URL(target);
  if (t.hostname !== "127.0.0.1") throw new Error(`Cannot proxy to "${target}": only 127.0.0.1 is allowed`);
  const hanging = new Set<() => void>();
  const proxy: S3Proxy = {
    endpoint: "",
    requests: [],
    intercept: () => undefined,
    async stop() {
      for (const release of hanging) release();
      server.stop(true);
    },
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const u = new URL(req.url);
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : new Uint8Array(await req.arrayBuffer());
      const seen: ProxiedRequest = { method: req.method, url: u.pathname + u.search, headers: req.headers, bodyBytes: body?.length ?? 0 };
      proxy.requests.push(seen);
      const decision = await proxy.intercept(seen);
      if (decision === "hang") {
        await new Promise<void>((resolve) => hanging.add(resolve));
        return new Response(null, { status: 503 });
      }
      if (decision) return decision;
      const headers = new Headers(req.headers);
      headers.delete("host");
      const res = await fetch(`${t.origin}${u.pathname}${u.search}`, { method: req.method, headers, body, redirect: "manual" });
      const out = new Headers(res.headers);
      out.delete("content-encoding");
      out.delete("transfer-encoding");
      const bytes = req.method === "HEAD" ? null : new Uint8Array(await res.arrayBuffer());
      if (bytes) out.set("content-length", String(bytes.length));
      return new Response(bytes, { status: res.status, headers: out });
    },
  });
  proxy.endpoint = `http://127.0.0.1:${server.port}`;
  return proxy;
}
