/**
 * Slots: the regions of the pipeline's shared memory that main fills (large files' bytes, and
 * small files read asynchronously into reserved room) and a worker then hashes, what waits on
 * their chunks, and the pool that hands free ones out (pipeline.ts decides when).
 *
 * A slot is owned by one party at a time: free in the pool, taken by a writer, or sent to a
 * worker until its chunks are stored; release() resets it and makes it free again.
 */
import type { BigIntStats } from "node:fs";

/** Receives the id of one chunk (hex) once it is hashed and known to be stored or deduped. */
export interface ChunkSink {
  resolve(index: number, id: string, isNew: boolean, length: number): void;
}

/** How a worker's read of a small file went. */
export type SmallRead =
  | { status: "ok"; size: number }
  | { status: "changed" }
  | { status: "vanished" }
  | { status: "error"; code: string };

/** A small file's sink: its one chunk (when not empty) resolves first, then settled(). */
export interface SmallFileSink extends ChunkSink {
  settled(read: SmallRead): void;
}

export interface SlotFile {
  path: string;
  /** Index of its chunk in the slot's ranges, or -1 for an empty file. */
  range: number;
  expected: BigIntStats;
  sink: SmallFileSink;
  /** How main's read went (small-read.ts status codes), once it has. */
  status: number;
  got: number;
  code: string;
}

/** A region of the shared memory, filled by one writer at a time, then hashed by a worker. */
export interface Slot {
  no: number;
  base: number;
  used: number;
  ranges: number[];
  sinks: ChunkSink[];
  sinkIndex: number[];
  files: SlotFile[];
  /** Small-file reads into this slot still under way: it goes to a worker once they are done. */
  reading: number;
  /** send() was called while reads were under way. */
  sendWhenRead: boolean;
}

/** Small-file read status codes (small-read.ts), by number. */
export const READ_STATUS = ["ok", "changed", "vanished", "error"] as const;

/** The free slots of a pipeline, and the waits for one (or for any change a waiter checks). */
export class SlotPool {
  readonly #free: Slot[] = [];
  readonly #waiters: (() => void)[] = [];

  /** `count` slots of `slotBytes` each, one after another in the shared memory. */
  constructor(count: number, slotBytes: number) {
    for (let i = 0; i < count; i++) this.#free.push(emptySlot(i, i * slotBytes));
  }

  /** A free slot, or null when none is. */
  pop(): Slot | null {
    return this.#free.pop() ?? null;
  }

  /** True when no slot is free. */
  get empty(): boolean {
    return this.#free.length === 0;
  }

  /** Resets a slot and makes it free; wakes the waiters. */
  release(s: Slot): void {
    s.used = 0;
    s.ranges = [];
    s.sinks = [];
    s.sinkIndex = [];
    s.files = [];
    s.reading = 0;
    s.sendWhenRead = false;
    this.#free.push(s);
    this.wake();
  }

  /** Resolves at the next wake() (a slot freed, a save settled, a failure): the waiter checks again. */
  changed(): Promise<void> {
    return new Promise<void>((r) => this.#waiters.push(r));
  }

  /** Wakes every waiter of changed(). */
  wake(): void {
    const w = this.#waiters.splice(0);
    for (const r of w) r();
  }
}

function emptySlot(no: number, base: number): Slot {
  return { no, base, used: 0, ranges: [], sinks: [], sinkIndex: [], files: [], reading: 0, sendWhenRead: false };
}
