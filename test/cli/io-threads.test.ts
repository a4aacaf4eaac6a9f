import { expect, test } from "bun:test";
import { ioThreadsFor } from "../../src/cli/io-threads.ts";

const cases: { name: string; argv: string[]; env?: Record<string, string>; compiled?: boolean; want: number | null }[] = [
  { name: "backup re-executes with 64 threads", argv: ["backup", "./src", "--vault", "v"], want: 64 },
  { name: "global flags before the command", argv: ["--quiet", "restore", "latest"], want: 64 },
  { name: "run and drill too", argv: ["run", "plans/"], want: 64 },
  { name: "light commands do not", argv: ["jobs", "--json"], want: null },
  { name: "help does not", argv: ["backup", "--help"], want: null },
  { name: "an explicit pool size is kept", argv: ["backup", "x"], env: { UV_THREADPOOL_SIZE: "8" }, want: null },
  { name: "the child does not again", argv: ["backup", "x"], env: { EFSBAK_IO_CHILD: "1" }, want: null },
  { name: "EFSBAK_IO_THREADS chooses", argv: ["backup", "x"], env: { EFSBAK_IO_THREADS: "16" }, want: 16 },
  { name: "EFSBAK_IO_THREADS=0 turns it off", argv: ["backup", "x"], env: { EFSBAK_IO_THREADS: "0" }, want: null },
  { name: "capped", argv: ["backup", "x"], env: { EFSBAK_IO_THREADS: "100000" }, want: 1024 },
  { name: "not from source", argv: ["backup", "x"], compiled: false, want: null },
];
for (const c of cases) test(c.name, () => expect(ioThreadsFor(c.argv, c.env ?? {}, c.compiled ?? true)).toBe(c.want));
