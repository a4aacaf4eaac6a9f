// Installs Debian's chromium for the console's browser test when /usr/bin/chromium is missing
// (`apt-get install -y chromium`; needs root and Debian's apt, as on CI). Playwright never
// downloads a browser of its own here.
import { ensureChromium } from "../test/support/browser.ts";

console.error(`chromium: ${ensureChromium()}`);
