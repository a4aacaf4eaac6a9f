/**
 * Enough I/O threads for network file systems. Bun runs asynchronous file system calls on a
 * thread pool whose size is read from UV_THREADPOOL_SIZE once, at start (setting it later has
 * no effect), and defaults to a handful: on a mount where every stat, open, read and create
 * is a 0.5 ms round trip, that caps a backup or restore at ~1,500 requests/s whatever the code
 * keeps in flight. So commands that walk or write trees re-execute the binary once with
 * UV_THREADPOOL_SIZE set (default 64, EFSBAK_IO_THREADS to choose), measured on a 500 µs mount:
 * 64 lstat calls in flight give ~20,000 stats/s with 64 threads against ~1,500 without.
 *
 *   parent: spawn(self, same argv, env + UV_THREADPOOL_SIZE, stdio inherited)
 *           forward SIGINT/SIGTERM/SIGHUP to the child; exit with its code
 *   child:  prctl(PR_SET_PDEATHSIG, SIGKILL): dies with its parent (kill -9 of the parent
 *           leaves nothing running); a signal repeated within 250 ms counts once (the
 *           terminal sends Ctrl-C to both processes and the parent forwards it too)
 *
 * Not done when the variable is already set, for light commands, when EFSBAK_IO_THREADS=0,
 * or when not running as the compiled binary (tests run the CLI in process).
 */
import { dlopen, FFIType } from "bun:ffi";

/** Commands whose speed on network file systems depends on many requests in flight. */
const HEAVY = new Set(["run", "backup", "restore", "drill", "copy", "dump", "check"]);
const DEFAULT_THREADS = 64;
const MAX_THREADS = 1024;
/** Marks the re-executed child. */
const CHILD_MARK = "EFSBAK_IO_CHILD";

/** True in the child of a re-execution (signals may arrive twice, see the module comment). */
export function isIoChild(env: Record<string, string | undefined>): boolean {
  return env[CHILD_MARK] === "1";
}

/** The thread count to re-execute with, or null when the command should run as it is. */
export function ioThreadsFor(argv: string[], env: Record<string, string | undefined>, compiled: boolean): number | null {
  if (!compiled || env.UV_THREADPOOL_SIZE !== undefined || isIoChild(env)) return null;
  const command = argv.find((a) => !a.startsWith("-"));
  if (!command || !HEAVY.has(command) || argv.includes("--help") || argv.includes("-h")) return null;
  const asked = env.EFSBAK_IO_THREADS;
  if (asked === undefined || asked === "") return DEFAULT_THREADS;
  const n = Number(asked);
  if (!Number.isInteger(n) || n <= 0) return null;
  return Math.min(n, MAX_THREADS);
}

/** Runs this binary again with the thread pool sized; resolves to the exit code to exit with. */
export async function reexecWithThreads(threads: number, argv: string[]): Promise<number> {
  const child = Bun.spawn([process.execPath, ...argv], {
    env: { ...process.env, UV_THREADPOOL_SIZE: String(threads), [CHILD_MARK]: "1" },
    stdio: ["inherit", "inherit", "inherit"],
  });
  const forward = (sig: NodeJS.Signals) => () => {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, forward(sig));
  const code = await child.exited;
  if (child.signalCode) return 128 + (SIGNALS[child.signalCode] ?? 1);
  return code;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** In the child: die with the parent (Linux prctl PR_SET_PDEATHSIG); best effort elsewhere. */
export function dieWithParent(): void {
  try {
    const lib = dlopen("libc.so.6", { prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 } });
    lib.symbols.prctl(1 /* PR_SET_PDEATHSIG */, 9, 0, 0, 0);
    if (process.ppid === 1) process.exit(137); // the parent is already gone
  } catch {
    // not Linux/glibc: nothing to do
  }
}
