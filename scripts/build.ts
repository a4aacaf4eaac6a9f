// Builds the self-contained binary dist/efsbak (bun build --compile).
// The workers are extra entry points: a compiled binary can only start workers it embeds.
// The native addons (@napi-rs/blake-hash, @node-rs/argon2; src/native.ts) are embedded by the
// bundler from their literal require()s, once for the main entry and the workers alike; the
// binary extracts each to $TMPDIR when first loaded.
import { $ } from "bun";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const entry = join(root, "src/main.ts");
const worker = join(root, "src/backup/_worker.ts");
const restoreWorker = join(root, "src/restore/_decode-worker.ts");
const timesWorker = join(root, "src/restore/_times-worker.ts");
const out = process.env.EFSBAK_BUILD_OUT ?? join(root, "dist/efsbak"); // another path for side-by-side builds
const started = performance.now();
await $`bun build --compile --minify --bytecode --format=esm ${entry} ${worker} ${restoreWorker} ${timesWorker} --outfile ${out}`.cwd(root).quiet();
console.error(`built ${out} in ${Math.round(performance.now() - started)} ms`);
