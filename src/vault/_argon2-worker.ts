/**
 * Argon2id helper thread: fills lanes of the shared memory beside the main thread. Private
 * to vault/ (started by argon2.ts; an extra entry point of the compiled binary).
 *
 * Protocol (main -> worker, once): { module, memory, job } — the compiled kernel, the shared
 * memory, the fill's shape. The worker then takes segments as _argon2-lanes.ts describes
 * until none is left; it answers nothing (the main thread sees the work done in memory), and
 * on failure sets the FAILED control word (one that cannot even start takes no work, and the
 * main thread does it all). The main thread terminates it afterwards.
 */
import { type Fill, type LaneJob, failLanes, fillLanes } from "./_argon2-lanes.ts";

declare var self: Worker;

self.onmessage = (event: MessageEvent) => {
  const { module, memory, job } = event.data as { module: WebAssembly.Module; memory: WebAssembly.Memory; job: LaneJob };
  let fill: Fill;
  try {
    fill = new WebAssembly.Instance(module, { env: { mem: memory } }).exports.fill as Fill;
  } catch {
    return; // the main thread does all the work
  }
  try {
    fillLanes(fill, { memory, job, thread: 1, all: false });
  } catch {
    failLanes(memory);
  }
};
