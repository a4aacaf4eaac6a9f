/**
 * The console's HTTP server (Bun.serve): the page, its embedded files and the API, all behind
 * the token.
 *
 *   Host not this server            -> 421 (DNS rebinding)
 *   /login GET: the form; POST: the token right -> cookie, 303 to /; wrong -> 401
 *   no token or a wrong one         -> 401 (the login page, or JSON under /api/)
 *   a POST from another origin      -> 403 (Referrer-Policy is same-origin, so forms send Origin)
 *   /                               -> the page shell;  /assets/*  -> embedded files
 *   /api/*                          -> api.ts
 *
 * Every answer says no-store (no secret or vault content lingers in a browser cache) and
 * carries a Content-Security-Policy that allows only this server, so the page never loads or
 * sends anything elsewhere.
 */
import { handleApi, type ApiDeps } from "./api.ts";
import { ASSETS, INDEX_HTML, loginHtml } from "./assets.ts";
import { allowedHosts, checkToken, hostAllowed, loginCookie, logoutCookie, originAllowed, sameSecret } from "./auth.ts";

/** Where and how to serve. */
export interface ConsoleOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  token: string;
  deps: ApiDeps;
}

/** A running console. */
export interface ConsoleServer {
  /** Base URL, e.g. "http://127.0.0.1:8420/". */
  url: string;
  port: number;
  /** Stops accepting requests and waits for restores under way. */
  stop(): Promise<void>;
}

const SECURITY_HEADERS: Record<string, string> = {
  "cache-control": "no-store",
  "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
};

/** Starts serving. */
export function startConsole(options: ConsoleOptions): ConsoleServer {
  let hosts: ReadonlySet<string> | null = null;
  const server = Bun.serve({
    hostname: options.host,
    port: options.port,
    idleTimeout: 120,
    fetch: async (req) => withHeaders(await route(req, options, hosts)),
  });
  const port = server.port ?? options.port;
  hosts = allowedHosts(options.host, port);
  const shown = options.host.includes(":") && !options.host.startsWith("[") ? `[${options.host}]` : options.host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    async stop() {
      await server.stop();
      await options.deps.tasks.idle();
    },
  };
}

async function route(req: Request, options: ConsoleOptions, hosts: ReadonlySet<string> | null): Promise<Response> {
  if (!hostAllowed(req, hosts)) return text("This console answers only to its own address", 421);
  const url = new URL(req.url);
  if (req.method !== "GET" && req.method !== "HEAD" && !originAllowed(req)) return text("Refused: the request came from another site", 403);
  if (url.pathname === "/login") return login(req, options.token);
  const auth = checkToken(req, options.token);
  if (auth !== "ok") {
    if (url.pathname.startsWith("/api/")) return Response.json({ error: { message: auth === "no-token" ? "Sign in first: this console needs its token" : "The token is not right" } }, { status: 401 });
    return html(loginHtml({ failed: false }), 401);
  }
  if (url.pathname === "/logout" && req.method === "POST") return new Response(null, { status: 303, headers: { location: "/login", "set-cookie": logoutCookie() } });
  if (url.pathname.startsWith("/api/")) return handleApi(url, req, options.deps);
  const asset = ASSETS[url.pathname];
  if (asset && req.method === "GET") return new Response(asset.body, { headers: { "content-type": asset.type } });
  if (url.pathname === "/" && req.method === "GET") return html(INDEX_HTML, 200);
  return text("Not found", 404);
}

async function login(req: Request, token: string): Promise<Response> {
  if (req.method === "GET") return html(loginHtml({ failed: false }), 200);
  if (req.method !== "POST") return text("Method not allowed", 405);
  const form = await req.formData().catch(() => null);
  const given = form?.get("token");
  if (typeof given !== "string" || !sameSecret(given.trim(), token)) return html(loginHtml({ failed: true }), 401);
  return new Response(null, { status: 303, headers: { location: "/", "set-cookie": loginCookie(token) } });
}

function withHeaders(res: Response): Response {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.headers.set(k, v);
  return res;
}

function html(body: string, status: number): Response {
  return new Response(body, { status, headers: { "content-type": "text/html; charset=utf-8" } });
}

function text(body: string, status: number): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}
