/**
 * Worker of restore/times.ts: sets nanosecond-exact times (futimens through libc) on
 * descriptors the main thread owns (descriptors are per process), off the main thread, so
 * that on a network file system many SETATTR round trips are in flight at once.
 *
 * Messages: TimesRequest in, TimesAnswer out (worker-protocol.ts).
 */
import { dlopen, FFIType, read } from "bun:ffi";
import { constants } from "node:os";
import type { TimesAnswer, TimesRequest } from "./worker-protocol.ts";

declare const self: Worker;

const lib = dlopen("libc.so.6", {
  futimens: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
}).symbols;
const CODES: Record<number, string> = Object.fromEntries(Object.entries(constants.errno).map(([k, v]) => [v, k]));

self.onmessage = (e: MessageEvent<TimesRequest>) => {
  const { id, fds, times } = e.data;
  const errors: (string | null)[] = [];
  const ts = new BigInt64Array(4);
  for (let i = 0; i < fds.length; i++) {
    ts[0] = ts[2] = times[2 * i]!;
    ts[1] = ts[3] = times[2 * i + 1]!;
    const rc = lib.futimens(fds[i]!, ts);
    errors.push(rc === 0 ? null : (CODES[read.i32(lib.__errno_location()!, 0)] ?? "EIO"));
  }
  const answer: TimesAnswer = { id, errors };
  self.postMessage(answer);
};
