import { expect, test } from "bun:test";
import { allowedHosts, checkToken, hostAllowed, originAllowed } from "../../src/console/auth.ts";
import { consoleToken, parseListen } from "../../src/cli/console.ts";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const TOKEN = "t0ken-t0ken-t0ken-t0ken";
const req = (headers: Record<string, string>) => new Request("http://127.0.0.1:9/api/x", { headers });

test("the token comes in the cookie or a Bearer header, nothing else", () => {
  expect(checkToken(req({}), TOKEN)).toBe("no-token");
  expect(checkToken(req({ cookie: `a=b; efsbak_console=${TOKEN}` }), TOKEN)).toBe("ok");
  expect(checkToken(req({ authorization: `Bearer ${TOKEN}` }), TOKEN)).toBe("ok");
  expect(checkToken(req({ authorization: `Bearer ${TOKEN}x` }), TOKEN)).toBe("wrong-token");
  expect(checkToken(req({ cookie: "efsbak_console=nope" }), TOKEN)).toBe("wrong-token");
  expect(checkToken(req({ "x-token": TOKEN }), TOKEN)).toBe("no-token");
});

test("only this server's names pass the Host check; only its origin may POST", () => {
  const hosts = allowedHosts("127.0.0.1", 8420);
  expect(hostAllowed(req({ host: "127.0.0.1:8420" }), hosts)).toBe(true);
  expect(hostAllowed(req({ host: "localhost:8420" }), hosts)).toBe(true);
  expect(hostAllowed(req({ host: "evil.example:8420" }), hosts)).toBe(false);
  expect(hostAllowed(req({ host: "127.0.0.1:8421" }), hosts)).toBe(false);
  expect(allowedHosts("0.0.0.0", 1)).toBeNull();
  expect(originAllowed(req({ host: "127.0.0.1:8420", origin: "http://127.0.0.1:8420" }))).toBe(true);
  expect(originAllowed(req({ host: "127.0.0.1:8420", origin: "http://evil.example" }))).toBe(false);
  expect(originAllowed(req({ host: "127.0.0.1:8420", origin: "null" }))).toBe(false);
});

test("--listen and --token-file", () => {
  expect(parseListen("127.0.0.1:8420")).toEqual({ host: "127.0.0.1", port: 8420 });
  expect(parseListen("[::1]:0")).toEqual({ host: "::1", port: 0 });
  expect(parseListen(":9000")).toEqual({ host: "127.0.0.1", port: 9000 });
  expect(() => parseListen("8420")).toThrow('Cannot read --listen "8420"');
  const dir = mkdtempSync(join(tmpdir(), "efsbak-token-"));
  const made = consoleToken("tok", dir);
  expect(made.made).toBe(true);
  expect(readFileSync(join(dir, "tok"), "utf8").trim()).toBe(made.token);
  expect(statSync(join(dir, "tok")).mode & 0o777).toBe(0o600);
  expect(consoleToken("tok", dir)).toEqual({ token: made.token, made: false });
  writeFileSync(join(dir, "short"), "abc\n");
  expect(() => consoleToken("short", dir)).toThrow("shorter than 16 characters");
});
