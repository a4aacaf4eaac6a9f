/**
 * Who may use the console: whoever holds its token. Every request shows it, either in the
 * cookie the login form sets (HttpOnly, SameSite=Strict, so page scripts never see it and other
 * sites' pages never send it) or in an `Authorization: Bearer` header (scripts, curl).
 *
 * Besides the token, a request must name this server in its Host header (a page on another
 * name rebound to 127.0.0.1 is refused), and a state-changing request that carries an Origin
 * must come from this server's own origin.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";

/** Name of the session cookie. */
export const COOKIE = "efsbak_console";

/** A new random token: 32 bytes, base64url. */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** How a request stands with respect to the token. */
export type AuthResult = "ok" | "no-token" | "wrong-token";

/** Checks the token in the cookie or the Authorization header, in constant time. */
export function checkToken(req: Request, token: string): AuthResult {
  const given = bearer(req) ?? cookie(req, COOKIE);
  if (given === null) return "no-token";
  return sameSecret(given, token) ? "ok" : "wrong-token";
}

/** True when two secrets are equal (time independent of where they differ). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The Set-Cookie value that logs a browser in (a session cookie, gone when the browser closes). */
export function loginCookie(token: string): string {
  return `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}

/** The Set-Cookie value that logs out. */
export function logoutCookie(): string {
  return `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
}

/** True when the Host header names this server (any host when it listens on every address). */
export function hostAllowed(req: Request, allowed: ReadonlySet<string> | null): boolean {
  if (allowed === null) return true;
  const host = req.headers.get("host");
  return host !== null && allowed.has(host.toLowerCase());
}

/** True when a request that changes something comes from a page of this server (or from no page). */
export function originAllowed(req: Request): boolean {
  const origin = req.headers.get("origin");
  if (origin === null) return true;
  const host = req.headers.get("host");
  return host !== null && (origin === `http://${host}` || origin === `https://${host}`);
}

/** Host header values that name a server listening on host:port. */
export function allowedHosts(host: string, port: number): ReadonlySet<string> | null {
  if (host === "0.0.0.0" || host === "::" || host === "[::]") return null;
  const names = new Set([`${host}:${port}`.toLowerCase()]);
  if (host === "127.0.0.1" || host === "::1" || host === "[::1]" || host === "localhost") {
    for (const h of ["127.0.0.1", "localhost", "[::1]"]) names.add(`${h}:${port}`);
  }
  return names;
}

function bearer(req: Request): string | null {
  const h = req.headers.get("authorization");
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m ? m[1] : null;
}

function cookie(req: Request, name: string): string | null {
  const h = req.headers.get("cookie");
  if (!h) return null;
  for (const part of h.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
