/** Entry point of the compiled binary: argv in, exit code out (see cli/main.ts). */
import { runCli } from "./cli/main.ts";

// First SIGINT/SIGTERM: stop cleanly (a backup keeps what it stored, as a PARTIAL recovery
// point); a second one: exit at once.
const stop = new AbortController();
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (stop.signal.aborted) process.exit(130);
    process.stderr.write(`\n${sig}: stopping cleanly (again to exit at once)\n`);
    stop.abort();
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: stop.signal,
});
// Let piped output drain before exiting (a pipe write may still be queued).
await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write("", () => resolve()))));
process.exit(code);
