/** Entry point of the compiled binary: argv in, exit code out (see cli/main.ts). */
import { dieWithParent, ioThreadsFor, isIoChild, reexecWithThreads } from "./cli/io-threads.ts";
import { runCli } from "./cli/main.ts";

// Commands that walk or write trees run again with enough I/O threads (cli/io-threads.ts).
const threads = ioThreadsFor(process.argv.slice(2), process.env, import.meta.path.startsWith("/$bunfs/"));
if (threads !== null) process.exit(await reexecWithThreads(threads, process.argv.slice(2)));
const child = isIoChild(process.env);
if (child) dieWithParent();

// First SIGINT/SIGTERM: stop cleanly (a backup keeps what it stored, as a PARTIAL recovery
// point); a second one: exit at once. In a re-executed child the same signal can arrive twice
// at once (from the terminal and forwarded by the parent): within 250 ms it counts once.
const stop = new AbortController();
let firstSignalAt = 0;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (stop.signal.aborted && child && performance.now() - firstSignalAt < 250) return;
    if (stop.signal.aborted) process.exit(130);
    firstSignalAt = performance.now();
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
