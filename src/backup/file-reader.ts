/**
 * Reads one file into pipeline slots and cuts it into chunks, without waiting for hashes.
 *
 *   small file (size <= minSize: one chunk): its bytes are reserved in a slot and a worker
 *     reads them (pipeline.ts); if it changed since the walker's lstat, it comes back here
 *   other files: cut on the main thread, one file at a time, streaming through slots; a
 *     chunk is cut as soon as its boundary is in the slot, and only the tail that has none yet
 *     is carried into the next slot, so that chunk boundaries do not depend on slot size; read with several reads in flight ahead of the chunker, files of 16 MiB
 *     and more past the page cache (direct-read.ts); the after-read check is a statx of size,
 *     mtime and ctime (fs/statx.ts: no GETATTR round trip on a mount when nothing changed)
 *
 * A file whose size, mtime or ctime differ before and after the read is read again, up to
 * MAX_ATTEMPTS times in all, then kept as read and marked inconsistent.
 * Paths are in tree/name.ts's lossless string form (exact bytes at the system call), and
 * short: long ones go through a directory descriptor (source-fs.ts).
 */
import { fstat, lstatSync, type BigIntStats, constants } from "node:fs";
import { cutPoint, type ChunkerTables } from "../chunk/fastcdc.ts";
import { fsPath } from "../tree/name.ts";
import { FileSource } from "./direct-read.ts";
import type { Pipeline } from "./pipeline.ts";
import type { ChunkSink, Slot, SmallFileSink, SmallRead } from "./slot.ts";
import { StorageError } from "../storage/storage.ts";
import { type ChangeStat, fdChangeStat } from "../fs/statx.ts";

const MAX_ATTEMPTS = 3;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | (constants.O_NOATIME ?? 0);

/** Outcome of reading a file. */
export interface FileRead {
  content: string[];
  /** Bytes actually read (the sum of the chunks' lengths). */
  size: number;
  inconsistent: boolean;
  /** The stat the content belongs to (the one taken before the read that was kept). */
  stat: BigIntStats;
}

/** What became of a file: read, gone before it could be opened, or unreadable (an errno code). */
export type ReadOutcome = { kind: "read"; read: FileRead } | { kind: "vanished" } | { kind: "error"; code: string };

/** A read under way: `done` settles once every chunk is hashed and stored or deduped. */
export interface StartedRead {
  done: Promise<ReadOutcome>;
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

/** The sink of a small file a worker reads: its one chunk, then how the read went. */
class SmallSink implements SmallFileSink {
  id = "";
  #resolve!: (r: SmallRead & { id: string }) => void;
  readonly done = new Promise<SmallRead & { id: string }>((r) => (this.#resolve = r));

  resolve(_index: number, id: string): void {
    this.id = id;
  }
  settled(read: SmallRead): void {
    this.#resolve({ ...read, id: this.id });
  }
}

/**
 * Starts reading a file whose lstat is `before`: returns once its bytes are in slots (or
 * reserved for a worker), with a promise of the outcome. Throws only when the backup stops.
 */
export function readFile(p: Pipeline, tables: ChunkerTables, path: string, before: BigIntStats, signal?: AbortSignal): StartedRead | Promise<StartedRead> {
  if (Number(before.size) > tables.minSize) {
    // Opened (and its first piece read) ahead of its turn at the chunker, so that on a mount
    // the round trips of the next files overlap the chunking of this one.
    return p.opensAhead.run(async () => {
      const first = FileSource.open(path, READ_FLAGS, Number(before.size), { waiting: true, direct: p.directReads });
      first.catch(() => {}); // its outcome is taken in readOnMain
      return p.exclusive(() => readOnMain(p, tables, path, before, MAX_ATTEMPTS, signal, first));
    });
  }
  const sink = new SmallSink();
  const done = sink.done.then((r): ReadOutcome | Promise<ReadOutcome> => {
    switch (r.status) {
      case "ok":
        return { kind: "read", read: { content: r.size > 0 ? [r.id] : [], size: r.size, inconsistent: false, stat: before } };
      case "vanished":
        return { kind: "vanished" };
      case "error":
        return { kind: "error", code: r.code };
      case "changed":
        return rereadOnMain(p, tables, path, signal);
    }
  });
  const waiting = p.reserveFile(path, before, sink);
  return waiting ? waiting.then(() => ({ done })) : { done };
}

/** A small file that changed under the worker's read: main reads it, with the attempts left. */
async function rereadOnMain(p: Pipeline, tables: ChunkerTables, path: string, signal?: AbortSignal): Promise<ReadOutcome> {
  let before: BigIntStats;
  try {
    before = lstatSync(fsPath(path), { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? { kind: "vanished" } : { kind: "error", code: code ?? (err as Error).message };
  }
  const started = await p.exclusive(async () => {
    const s = await readOnMain(p, tables, path, before, MAX_ATTEMPTS - 1, signal);
    p.dispatch(); // nothing else may come to fill this slot: its chunks must reach a worker
    return s;
  });
  return started.done;
}

async function readOnMain(p: Pipeline, tables: ChunkerTables, path: string, before: BigIntStats, attempts: number, signal?: AbortSignal, opened?: Promise<FileSource>): Promise<StartedRead> {
  let expected = before;
  for (let attempt = 1; ; attempt++) {
    let file: FileSource;
    const size = Number(expected.size);
    try {
      file = await (attempt === 1 && opened ? opened : FileSource.open(path, READ_FLAGS, size, { direct: p.directReads }));
      file.reading();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return { done: Promise.resolve({ kind: "vanished" }) };
      try {
        if (code === "EPERM" && constants.O_NOATIME) file = await FileSource.open(path, constants.O_RDONLY | constants.O_NOFOLLOW, size, { direct: p.directReads });
        else throw err;
      } catch (err2) {
        return { done: Promise.resolve({ kind: "error", code: (err2 as NodeJS.ErrnoException).code ?? (err2 as Error).message }) };
      }
    }
    let sink: FileSink;
    let after: ChangeStat;
    let got = 0;
    try {
      sink = new FileSink();
      got = await readInto(p, tables, file, size, sink, signal);
      after = fdChangeStat(file.fd) ?? (await fstatAt(file.fd));
      // Another attempt records the stat its read belongs to: a whole one.
      if (!sameContent(after, expected) && attempt < attempts) after = await fstatAt(file.fd);
    } catch (err) {
      if (signal?.aborted || err instanceof StorageError) throw err; // the vault failed, not this file
      return { done: Promise.resolve({ kind: "error", code: (err as NodeJS.ErrnoException).code ?? (err as Error).message }) };
    } finally {
      await file.close();
    }
    const stable = sameContent(after, expected);
    if (stable || attempt >= attempts) {
      sink.seal();
      const stat = expected;
      const done = sink.done.then((): ReadOutcome => ({ kind: "read", read: { content: sink.ids, size: got, inconsistent: !stable, stat } }));
      return { done };
    }
    sink.seal(); // its chunks are stored or deduped; the ids are simply not used
    expected = after as BigIntStats;
  }
}

/** Reads size bytes of fd into slots, cutting chunks as it goes; returns the bytes read. */
async function readInto(p: Pipeline, tables: ChunkerTables, file: FileSource, size: number, sink: FileSink, signal?: AbortSignal): Promise<number> {
  const held: { slot: Slot | null } = { slot: await p.take() };
  try {
    return await fill(p, tables, file, size, sink, held, signal);
  } finally {
    // Whatever the slot holds is whole (this file's chunks so far, earlier files'): keep it.
    if (held.slot) p.give(held.slot);
  }
}

/** The loop of readInto; held.slot is the slot it owns (null between sending one and taking the next). */
async function fill(p: Pipeline, tables: ChunkerTables, file: FileSource, size: number, sink: FileSink, held: { slot: Slot | null }, signal?: AbortSignal): Promise<number> {
  const shared = p.shared;
  const maxSize = tables.maxSize;
  let slot = held.slot!;
  let pos = 0;
  let carry = 0;
  let index = 0;
  for (;;) {
    const room = p.slotBytes - slot.used - carry;
    const want = Math.min(room, size - pos);
    let n = 0;
    while (n < want) {
      const r = await file.read(shared, slot.base + slot.used + carry + n, want - n, pos + n);
      if (r === 0) break;
      n += r;
    }
    pos += n;
    const eof = pos >= size || n < want;
    let start = slot.base + slot.used;
    const end = start + carry + n;
    while (start < end) {
      const len = cutPoint(tables, shared, start, end);
      // With fewer than maxSize bytes left, only a boundary found inside them is final.
      if (!eof && len === end - start && len < maxSize) break;
      sink.expect();
      p.addChunk(slot, len, sink, index++);
      start += len;
    }
    carry = end - start;
    if (eof) return pos;
    // The carry stays where it is until copied: nothing writes to a sent slot, and one that
    // came back free in the meantime is only taken here (memmove semantics cover that case).
    p.send(slot);
    held.slot = null;
    if (signal?.aborted) {
      sink.seal();
      throw new Error("backup stopped");
    }
    let next = await p.take();
    while (next.used > 0 && next.used + carry + maxSize > p.slotBytes) {
      p.send(next);
      next = await p.take();
    }
    held.slot = next;
    if (carry > 0) shared.copyWithin(next.base + next.used, start, start + carry);
    slot = next;
  }
}

/** Whether the file's size, mtime and ctime are still those of `expected`. */
function sameContent(after: ChangeStat, expected: BigIntStats): boolean {
  return after.size === expected.size && after.mtimeNs === expected.mtimeNs && after.ctimeNs === expected.ctimeNs;
}

/** fstat on the thread pool. */
function fstatAt(fd: number): Promise<BigIntStats> {
  return new Promise((resolve, reject) => fstat(fd, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st as BigIntStats))));
}
