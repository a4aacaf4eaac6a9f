/** Entry point of the compiled binary: argv in, exit code out (see cli/main.ts). */
import { dieWithParent, ioThreadsFor, isIoChild, reexecWithThreads } from "./cli/io-threads.ts";
import { runCli } from "./cli/main.ts";
import { EfsbakError } from "./errors.ts";

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

// A rejected promise nobody waited for (work abandoned after the command's own error, which is
// reported once, by cli/main.ts) must not print a stack: an EfsbakError is already part of that
// outcome; anything else is an internal error, with its stack only under --verbose.
process.on("unhandledRejection", (err) => {
  if (err instanceof EfsbakError) return;
  process.stderr.write(`internal error (in work left behind): ${(err as Error)?.message ?? String(err)}\n`);
  if (process.argv.includes("--verbose")) process.stderr.write(`${(err as Error)?.stack ?? ""}\n`);
});

const stdout = flushable(process.stdout);
const stderr = flushable(process.stderr);
const code = await runCli(process.argv.slice(2), {
  stdout,
  stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: stop.signal,
});
// Output on stdout is never cut short, however slowly a pipe reads it: process.exit drops
// whatever a pipe has not taken yet (Bun queues writes past the 64 KiB pipe buffer), so wait
// until the last write of each stream has been handed to the kernel. (Writing "" and waiting
// for its callback does not wait under Bun.)
await Promise.all([stdout.flushed(), stderr.flushed()]);
process.exit(code);

/** A process stream whose writes can be awaited: flushed() resolves once the last one is out. */
function flushable(stream: NodeJS.WriteStream): { write(s: string): void; flushed(): Promise<void>; readonly isTTY: boolean; readonly columns?: number } {
  let last: Promise<void> = Promise.resolve();
  // A reader that went away (EPIPE, e.g. "| head") must not turn into an internal error.
  stream.on("error", () => {});
  return {
    write(s) {
      last = new Promise<void>((resolve) => void stream.write(s, () => resolve()));
    },
    flushed: () => last,
    get isTTY() {
      return !!stream.isTTY;
    },
    get columns() {
      return stream.columns;
    },
  };
}
