/**
 * The pid that stands for this efsbak invocation in job records and leases: the process the
 * user (or systemd, or a test) started and can see and kill. When the binary re-executed itself
 * for more I/O threads (cli/io-threads.ts), that is the parent: the child dies with it
 * (PR_SET_PDEATHSIG), and the kernel queues that SIGKILL as the parent exits, so once the
 * parent is gone the child runs no more code and its lease may be taken at once.
 */
export function invocationPid(): number {
  return process.env.EFSBAK_IO_CHILD === "1" && process.ppid > 1 ? process.ppid : process.pid;
}

/** True when a process of this host with that pid is alive (signal 0; EPERM: alive, another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
