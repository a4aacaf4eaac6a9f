// Installs the Debian packages the tests need when they are missing (`apt-get install -y`;
// needs root and Debian's apt, as on CI): chromium for the console's browser test (playwright
// never downloads a browser of its own here), zsh and fish for the completion scripts' tests,
// script and systemd-analyze for the operator tests.
import { TEST_PACKAGES, ensureDebianPackage } from "../test/support/apt.ts";

for (const [path, pkg] of TEST_PACKAGES) console.error(`${pkg}: ${ensureDebianPackage(path, pkg)}`);
