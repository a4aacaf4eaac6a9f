/**
 * Reads one file into pipeline slots and cuts it into chunks, without waiting for hashes.
 * Small files share a slot (one open/read/fstat/close each); large files stream through
 * slots, the unfinished tail of one slot carried into the next so that chunk boundaries do
 * not depend on slot size. A file whose size, mtime or ctime differ before and after the
 * read is read again, up to MAX_ATTEMPTS times, then kept as read and marked inconsistent.
 */
import { closeSync, fstatSync, openSync, readSync, type BigIntStats, constants } from "node:fs";
import { cutPoint, type ChunkerTables } from "../chunk/fastcdc.ts";
import type { ChunkSink, Pipeline } from "./pipeline.ts";

const MAX_ATTEMPTS = 3;

/** Outcome of reading a file. */
export interface FileRead {
  content: string[];
  /** Bytes actually read (the sum of the chunks' lengths). */
  size: number;
  inconsistent: boolean;
  /** The stat the content belongs to (the one taken before the read that was kept). */
  stat: BigIntStats;
}

/** Collects chunk ids of one read of a file, in order. */
class FileSink implements ChunkSink {
  readonly ids: string[] = [];
  #pending = 0;
  #sealed = false;
  #resolve!: () => void;
  readonly done = new Promise<void>((r) => (this.#resolve = r));

  expect(): void {
    this.#pending++;
  }
  resolve(index: number, id: string): void {
    this.ids[index] = id;
    if (--this.#pending === 0 && this.#sealed) this.#resolve();
  }
  seal(): void {
    this.#sealed = true;
    if (this.#pending === 0) this.#resolve();
  }
}

/**
 * Reads a file whose lstat is `before`. Returns once its bytes are in slots, with a promise of
 * the chunk ids; null when the file vanished. Other errors (EACCES…) are thrown.
 */
export async function readFile(p: Pipeline, tables: ChunkerTables, path: string, before: BigIntStats, signal?: AbortSignal): Promise<{ done: Promise<FileRead> } | null> {
  let expected = before;
  for (let attempt = 1; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | (constants.O_NOATIME ?? 0));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return null;
      if (code === "EPERM" && constants.O_NOATIME) fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      else throw err;
    }
    let sink: FileSink;
    let after: BigIntStats;
    let got = 0;
    try {
      const size = Number(expected.size);
      sink = new FileSink();
      got = await readInto(p, tables, fd, size, sink, signal);
      after = fstatSync(fd, { bigint: true });
    } finally {
      closeSync(fd);
    }
    const stable = after.size === expected.size && after.mtimeNs === expected.mtimeNs && after.ctimeNs === expected.ctimeNs;
    if (stable || attempt >= MAX_ATTEMPTS) {
      sink.seal();
      const stat = expected;
      const done = sink.done.then(() => ({ content: sink.ids, size: got, inconsistent: !stable, stat }));
      return { done };
    }
    sink.seal(); // its chunks are stored or deduped; the ids are simply not used
    expected = after;
  }
}

async function readInto(p: Pipeline, tables: ChunkerTables, fd: number, size: number, sink: FileSink, signal?: AbortSignal): Promise<number> {
  const shared = p.shared;
  const maxSize = tables.maxSize;
  let slot = await p.slot();
  let pos = 0;
  let carry = 0;
  let index = 0;
  for (;;) {
    const room = p.slotBytes - slot.used - carry;
    const want = Math.min(room, size - pos);
    let n = 0;
    while (n < want) {
      const r = readSync(fd, shared, slot.base + slot.used + carry + n, want - n, pos + n);
      if (r === 0) break;
      n += r;
    }
    pos += n;
    const eof = pos >= size || n < want;
    let start = slot.base + slot.used;
    const end = start + carry + n;
    while (start < end && (eof || end - start >= maxSize)) {
      const len = cutPoint(tables, shared, start, end);
      sink.expect();
      p.addChunk(slot, len, sink, index++);
      start += len;
    }
    carry = end - start;
    if (eof) return pos;
    p.dispatch();
    if (signal?.aborted) {
      sink.seal();
      throw new Error("backup stopped");
    }
    const next = await p.slot();
    if (carry > 0) shared.copyWithin(next.base, start, start + carry);
    slot = next;
  }
}
