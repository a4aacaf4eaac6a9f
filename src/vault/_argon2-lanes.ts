/**
 * How threads share one Argon2id fill: the memory layout of the kernel's WebAssembly memory,
 * and the loop each thread (argon2.ts's caller, and at most one _argon2-worker.ts) runs.
 * Private to vault/.
 *
 * The work is t passes × 4 slices × p lanes segments, taken in that order from one shared
 * counter. A segment may start once every segment of the slice before it is finished (RFC
 * 9106: the lanes of a slice only reference blocks of earlier slices, or their own lane):
 *
 *   loop: k = CLAIMED++            (k >= total: no more work)
 *         wait until FINISHED >= p * (k / p)        (k / p: the slice, counted over passes)
 *         fill(pass, slice, lane of k); FINISHED++, waking waiters at each slice's end
 *
 * A thread that starts late (or never) takes less (or none) of the work; the result does
 * not depend on who filled what. A thread that fails sets FAILED, so the others stop.
 *
 * Memory: ZERO_AT zero block, control words, one scratch area per thread, then the blocks
 * from BLOCKS_AT (page-aligned).
 */
import { SCRATCH_BYTES, ZERO_AT } from "./argon2-wasm.ts";

/** The kernel's entry point (see argon2-wasm.ts). */
export type Fill = (base: number, lanes: number, laneLength: number, passes: number, pass: number, slice: number, lane: number, scratch: number) => void;

/** Shape of the memory filling; the same for every thread of a call. */
export interface LaneJob {
  lanes: number;
  laneLength: number;
  passes: number;
}

const CONTROL_AT = ZERO_AT + 1024;
const READY = 0;
const CLAIMED = 1;
const FINISHED = 2;
const FAILED = 3;
/** Scratch area of thread n (0 is the caller's). */
export const SCRATCH_AT = [4096, 4096 + SCRATCH_BYTES];
/** Where block 0 of lane 0 starts. */
export const BLOCKS_AT = 65536;
/** How long a thread waits for a slice's other lanes before it gives up (never, in practice). */
const STALL_MS = 60_000;

function control(memory: WebAssembly.Memory): Int32Array {
  return new Int32Array(memory.buffer, CONTROL_AT, 4);
}

/** Lets threads waiting in fillLanes start (the first two blocks of each lane are written). */
export function openLanes(memory: WebAssembly.Memory): void {
  const ctl = control(memory);
  Atomics.store(ctl, READY, 1);
  Atomics.notify(ctl, READY);
}

/** Tells the other threads that this one failed: they throw instead of waiting for it. */
export function failLanes(memory: WebAssembly.Memory): void {
  const ctl = control(memory);
  Atomics.store(ctl, FAILED, 1);
  Atomics.notify(ctl, FINISHED);
  Atomics.notify(ctl, READY);
}

/** Blocks until ctl[at] >= target; throws if a thread failed or nothing moved for STALL_MS. */
function waitFor(ctl: Int32Array, at: number, target: number): void {
  for (;;) {
    const now = Atomics.load(ctl, at);
    if (Atomics.load(ctl, FAILED) !== 0) throw new Error("Cannot derive the key: an Argon2id thread failed");
    if (now >= target) return;
    if (Atomics.wait(ctl, at, now, STALL_MS) === "timed-out") throw new Error("Cannot derive the key: an Argon2id thread stopped");
  }
}

/** How one thread takes part: its scratch area (`thread`), and whether it waits for all. */
export interface LaneRun {
  memory: WebAssembly.Memory;
  job: LaneJob;
  /** 0 for the caller's thread, 1 for the helper. */
  thread: number;
  /** Return only once every segment is filled (by any thread), not just when none is left. */
  all: boolean;
}

/** Fills segments until none is left (see above). */
export function fillLanes(fill: Fill, run: LaneRun): void {
  const ctl = control(run.memory);
  const { lanes, laneLength, passes } = run.job;
  const total = passes * 4 * lanes;
  waitFor(ctl, READY, 1);
  for (;;) {
    const k = Atomics.add(ctl, CLAIMED, 1);
    if (k >= total) break;
    const slices = Math.floor(k / lanes);
    waitFor(ctl, FINISHED, slices * lanes);
    fill(BLOCKS_AT, lanes, laneLength, passes, slices >> 2, slices & 3, k % lanes, SCRATCH_AT[run.thread]);
    if ((Atomics.add(ctl, FINISHED, 1) + 1) % lanes === 0) Atomics.notify(ctl, FINISHED);
  }
  if (run.all) waitFor(ctl, FINISHED, total);
}
