import { afterEach, beforeEach, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_RUN_DECODED_BYTES, type BlobReader, createBlobReader, takeRun } from "../../src/restore/blob-reader.ts";
import { type RunBlob, inlineDecoder } from "../../src/restore/decoder.ts";
import { ZERO_PIECE_BYTES, dataPieces } from "../../src/restore/bytes.ts";
import { type ContentResult, createContentWriter } from "../../src/restore/write-file.ts";
import type { FileNode } from "../../src/tree/node.ts";
import type { BlobLocation } from "../../src/vault/blob-index.ts";
import { fromHex, toHex } from "../../src/vault/id.ts";
import type { Vault } from "../../src/vault/vault.ts";
import { storeChunks, testVault } from "../support/vault.ts";

let tmp: string;
beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), "efsbak-wf-"))));
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const MiB = 1024 * 1024;

/** A blob id (hex) made from a number. */
const hexId = (n: number) => n.toString(16).padStart(64, "0");

/** The bytes a fake blob decodes to: its number in every byte (never all zero unless n = 0). */
const content = (n: number, length: number) => new Uint8Array(length).fill(n % 256);

/**
 * A fake index of blobs that compress 1000x, and a reader that "decodes" each in a fresh
 * buffer of its raw length a little later, counting the decoded bytes held: from the read
 * to the end of its done() call (when the writer has written them).
 */
function fakes(blobs: { n: number; rawLength: number }[]) {
  const locs = new Map<string, BlobLocation>();
  for (const [i, b] of blobs.entries()) {
    locs.set(hexId(b.n), { packId: "p", tier: "warm", type: 0, compressed: true, offset: i * 1000, storedLength: Math.ceil(b.rawLength / 1000), rawLength: b.rawLength, crc: 0, id: fromHex(hexId(b.n), 32)! });
  }
  const vault = { index: { get: (id: Uint8Array) => locs.get(toHex(id)) ?? null } } as unknown as Pick<Vault, "index">;
  const stats = { asked: 0, reads: [] as string[], peak: 0 };
  const reader: BlobReader = {
    read(loc, done) {
      stats.asked += loc.rawLength;
      stats.peak = Math.max(stats.peak, stats.asked);
      stats.reads.push(toHex(loc.id));
      setTimeout(() => {
        done(content(Number.parseInt(toHex(loc.id), 16), loc.rawLength), null);
        stats.asked -= loc.rawLength;
      }, Math.random() * 3);
    },
    isDamage: async () => false,
    stop() {},
    close() {},
  };
  return { vault, reader, stats };
}

function fileNode(ids: string[], size: number): FileNode {
  return { type: "file", name: "f", mode: 0o644, uid: 0, gid: 0, mtime: "0", size, ctime: "0", ino: "1", content: ids } as FileNode;
}

/** Writes files through the writer into tmp; resolves with each file's result once all are finished. */
async function writeFiles(writer: ReturnType<typeof createContentWriter>, files: { name: string; node: FileNode }[]): Promise<ContentResult[]> {
  const finished = files.map(({ name, node }) => {
    let resolve!: (r: ContentResult) => void;
    let reject!: (e: unknown) => void;
    const p = new Promise<ContentResult>((a, b) => ((resolve = a), (reject = b)));
    let fd = -1;
    const start = writer.write(node, {
      open: () => (fd = openSync(join(tmp, name), "wx")),
      finish(result, fatal) {
        if (fd >= 0) closeSync(fd);
        if (result) resolve(result);
        else reject(fatal);
      },
    });
    return { start, p };
  });
  for (const f of finished) await f.start;
  return Promise.all(finished.map((f) => f.p));
}

test("decoded bytes asked for and not yet written never exceed the budget, however well blobs compress", async () => {
  // 3 files of 40 chunks of 1 MiB decoded, 1 KiB stored: a budget in stored bytes would let all 120 go at once.
  const blobs = Array.from({ length: 120 }, (_, i) => ({ n: i + 1, rawLength: MiB }));
  const { vault, reader, stats } = fakes(blobs);
  const budget = 4 * MiB;
  const writer = createContentWriter(vault, reader, { budgetBytes: budget, maxFiles: 8 });
  const files = [0, 1, 2].map((f) => ({ name: `f${f}`, node: fileNode(blobs.slice(f * 40, f * 40 + 40).map((b) => hexId(b.n)), 40 * MiB) }));
  const results = await writeFiles(writer, files);
  expect(results.every((r) => !r.damaged && r.missing.length === 0)).toBe(true);
  expect(stats.reads.length).toBe(120);
  expect(stats.peak).toBeGreaterThan(0);
  expect(stats.peak).toBeLessThanOrEqual(budget);
  expect(stats.asked).toBe(0);
  for (const [f] of files.entries()) {
    const got = readFileSync(join(tmp, `f${f}`));
    expect(got.length).toBe(40 * MiB);
    for (let c = 0; c < 40; c++) expect(got[c * MiB + 12345]).toBe((f * 40 + c + 1) % 256);
  }
});

test("a blob larger than the budget is let through alone", async () => {
  const blobs = [{ n: 1, rawLength: 3 * MiB }, { n: 2, rawLength: 3 * MiB }, { n: 3, rawLength: 100 }];
  const { vault, reader, stats } = fakes(blobs);
  const writer = createContentWriter(vault, reader, { budgetBytes: MiB, maxFiles: 8 });
  const [r] = await writeFiles(writer, [{ name: "big", node: fileNode(blobs.map((b) => hexId(b.n)), 6 * MiB + 100) }]);
  expect(r.damaged).toBe(false);
  expect(stats.peak).toBe(3 * MiB);
  expect(statSync(join(tmp, "big")).size).toBe(6 * MiB + 100);
});

test("a known zero chunk is a hole, never loaded; the file stays sparse", async () => {
  const zero = 0x2e20; // never decoded: its fake content would not even be zero
  const blobs = [{ n: 7, rawLength: 100_000 }, { n: zero, rawLength: 4 * MiB }, { n: 9, rawLength: 50_000 }];
  const { vault, reader, stats } = fakes(blobs);
  const writer = createContentWriter(vault, reader, { budgetBytes: MiB, maxFiles: 8, zeroChunks: [hexId(zero).toUpperCase()] });
  const ids = [hexId(7), ...Array(64).fill(hexId(zero)), hexId(9)];
  const size = 100_000 + 64 * 4 * MiB + 50_000;
  const [r] = await writeFiles(writer, [{ name: "sparse", node: fileNode(ids, size) }]);
  expect(r).toEqual({ missing: [], damaged: false, sizeMismatch: false, tooLarge: false });
  expect(stats.reads.sort()).toEqual([hexId(7), hexId(9)]);
  const st = statSync(join(tmp, "sparse"));
  expect(st.size).toBe(size);
  expect(st.blocks * 512).toBeLessThan(MiB);
  const fd = openSync(join(tmp, "sparse"), "r");
  try {
    const b = Buffer.alloc(16);
    readSync(fd, b, 0, 16, 100_000 + 10 * 4 * MiB);
    expect([...b]).toEqual(Array(16).fill(0));
    readSync(fd, b, 0, 16, size - 16);
    expect([...b]).toEqual(Array(16).fill(9));
  } finally {
    closeSync(fd);
  }
});

test("zero pieces inside a chunk are not written; the rest is, in as few writes as possible", () => {
  const P = ZERO_PIECE_BYTES;
  const data = new Uint8Array(4 * P);
  data[10] = 1; // piece 0 (file offset 100 .. P)
  data[3 * P + 5] = 1; // piece 3
  // At file offset 100 the pieces are [0, P-100), [P-100, 2P-100), … and a partial last one.
  expect(dataPieces(data, data.length, 100)).toEqual([[0, P - 100], [3 * P - 100, 4 * P - 100]]);
  expect(dataPieces(data, data.length, 0)).toEqual([[0, P], [3 * P, 4 * P]]);
  expect(dataPieces(new Uint8Array(P * 2).fill(3), P * 2, 7)).toEqual([[0, P * 2]]);
  expect(dataPieces(new Uint8Array(P * 2), P * 2, 7)).toEqual([]);
  // Only `length` bytes count (a last chunk cut short by the file's size).
  expect(dataPieces(data, 2 * P, 0)).toEqual([[0, P]]);
});

test("runs of well-compressed blobs are cut at MAX_RUN_DECODED_BYTES decoded, whatever their stored length", () => {
  const wants: RunBlob[] = Array.from({ length: 40 }, (_, i) => ({
    loc: { packId: "p", tier: "warm", type: 0, compressed: true, offset: i * 2000, storedLength: 2000, rawLength: MiB, crc: 0, id: new Uint8Array(32) },
    done: () => {},
  }));
  const q = { wants: wants.slice().reverse(), sorted: false };
  const runs: number[] = [];
  while (q.wants.length > 0) {
    const run = takeRun(q);
    expect(run.reduce((s, w) => s + w.loc.rawLength, 0)).toBeLessThanOrEqual(MAX_RUN_DECODED_BYTES);
    runs.push(run.length);
  }
  expect(runs).toEqual([8, 8, 8, 8, 8]);
  // A single blob larger than the cap is a run of its own.
  const big = { wants: [{ ...wants[0], loc: { ...wants[0].loc, rawLength: 2 * MAX_RUN_DECODED_BYTES } }, wants[1]], sorted: true };
  expect(takeRun(big).length).toBe(1);
});

test("through a real vault: each run decoded holds at most MAX_RUN_DECODED_BYTES, and the file comes back whole", async () => {
  const vault = await testVault();
  // 600 chunks of 16 KiB that compress to a few dozen bytes: one pack, stored ~20 KiB.
  const chunks = Array.from({ length: 600 }, (_, i) => new TextEncoder().encode(`chunk ${i} `.repeat(3000).slice(0, 16384)));
  const ids = await storeChunks(vault, chunks);
  const inline = inlineDecoder(vault);
  const runs: number[] = [];
  const reader = createBlobReader(vault, {
    concurrency: 4,
    decoder: {
      decode(run, data, start) {
        runs.push(run.reduce((s, w) => s + w.loc.rawLength, 0));
        return inline.decode(run, data, start);
      },
      close() {},
    },
  });
  const writer = createContentWriter(vault, reader, { budgetBytes: 64 * MiB, maxFiles: 8 });
  const [r] = await writeFiles(writer, [{ name: "text", node: fileNode(ids, 600 * 16384) }]);
  expect(r.damaged).toBe(false);
  expect(Math.max(...runs)).toBeLessThanOrEqual(MAX_RUN_DECODED_BYTES);
  expect(runs.length).toBeGreaterThanOrEqual(Math.ceil((600 * 16384) / MAX_RUN_DECODED_BYTES));
  expect(Buffer.compare(readFileSync(join(tmp, "text")), Buffer.concat(chunks))).toBe(0);
});
