/**
 * Debian packages the tests need (chromium for the console, zsh and fish for the completion
 * scripts, script and systemd-analyze for the operator tests), installed with apt-get when missing: as root, as CI runs (`npm run test-tools`
 * installs them all up front; a test asks again for its own, so a bare `npm test` works too).
 */
import { existsSync } from "node:fs";

/** Makes sure `path` exists, installing Debian's `pkg` when it does not; returns the path. */
export function ensureDebianPackage(path: string, pkg: string): string {
  if (existsSync(path)) return path;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const argv of [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", pkg]]) {
    const r = Bun.spawnSync(argv, { env, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`Cannot install ${pkg}: "${argv.join(" ")}" failed: ${r.stderr.toString().slice(-2000)}`);
  }
  if (!existsSync(path)) throw new Error(`Cannot find ${path} after apt-get install ${pkg}`);
  return path;
}

/** What `npm run test-tools` installs: the path each test looks for, and its package. */
export const TEST_PACKAGES: [path: string, pkg: string][] = [
  ["/usr/bin/chromium", "chromium"],
  ["/usr/bin/zsh", "zsh"],
  ["/usr/bin/fish", "fish"],
  ["/usr/bin/script", "bsdutils"],
  ["/usr/bin/systemd-analyze", "systemd"],
];
