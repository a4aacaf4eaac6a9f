/**
 * Slots: the regions of the pipeline's shared memory that main fills (large files' bytes, and
 * small files read asynchronously into reserved room) and a worker then hashes, and what waits on
 * their chunks. Types only; pipeline.ts hands them out.
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
