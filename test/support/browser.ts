/**
 * A real headless browser for the console tests: Debian's chromium (installed with apt-get
 * when missing), driven by playwright-core, which never downloads a browser. The browser gets
 * a fresh profile and may talk to 127.0.0.1 only: any other request is aborted and recorded.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { ensureDebianPackage } from "./apt.ts";

/** Where Debian puts chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/** Installs chromium with apt-get when it is missing; returns its path. */
export function ensureChromium(): string {
  return ensureDebianPackage(CHROMIUM, "chromium");
}

/** A browser with a fresh profile, and the requests it was refused (anything not 127.0.0.1). */
export interface TestBrowser {
  context: BrowserContext;
  refused: string[];
  close(): Promise<void>;
}

/** Launches headless chromium on a fresh profile. */
export async function launchBrowser(): Promise<TestBrowser> {
  const executablePath = ensureChromium();
  const profile = mkdtempSync(join(tmpdir(), "efsbak-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1360, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
  });
  const refused: string[] = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "127.0.0.1") return route.continue();
    refused.push(url.href);
    return route.abort();
  });
  return {
    context,
    refused,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
