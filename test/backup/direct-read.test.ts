import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants } from "node:fs";
import { DIRECT_READ_MIN, FileSource } from "../../src/backup/direct-read.ts";
import { randomBytes } from "../support/random.ts";


async function readAll(src: FileSource, size: number, step: number): Promise<Uint8Array> {
  const out = new Uint8Array(size + 16);
  let pos = 0;
  for (;;) {
    const n = await src.read(out, pos, Math.min(step, size + 16 - pos), pos);
    if (n === 0) break;
    pos += n;
  }
  return out.subarray(0, pos);
}

describe("FileSource: reads ahead, returns the file's bytes in order", () => {
  const dir = mkdtempSync(join(tmpdir(), "efsbak-direct-read-"));
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW;

  for (const size of [0, 1, 1024 * 1024, 5 * 1024 * 1024 + 777, DIRECT_READ_MIN + 4097]) {
    test(`${size} bytes, read in odd steps`, async () => {
      const data = randomBytes(size);
      const path = join(dir, `f${size}`);
      writeFileSync(path, data);
      const src = await FileSource.open(path, flags, size);
      try {
        const got = await readAll(src, size, 300_001);
        expect(got.length).toBe(size);
        expect(Buffer.compare(Buffer.from(got), Buffer.from(data))).toBe(0);
      } finally {
        await src.close();
      }
    });
  }

  test("a jump back and a jump ahead read the right bytes", async () => {
    const size = 12 * 1024 * 1024 + 3;
    const data = randomBytes(size);
    const path = join(dir, "jumps");
    writeFileSync(path, data);
    const src = await FileSource.open(path, flags, size);
    try {
      const buf = new Uint8Array(4096);
      for (const pos of [9 * 1024 * 1024 + 5, 100, 11 * 1024 * 1024, size - 10]) {
        const n = await src.read(buf, 0, 4096, pos);
        expect(n).toBe(Math.min(4096, size - pos, 1024 * 1024 - (pos % (1024 * 1024))));
        expect(Buffer.compare(Buffer.from(buf.subarray(0, n)), Buffer.from(data.subarray(pos, pos + n)))).toBe(0);
      }
    } finally {
      await src.close();
    }
  });

  test("a file that shrank since its lstat ends early, without an error", async () => {
    const size = 3 * 1024 * 1024;
    const path = join(dir, "shrinks");
    writeFileSync(path, randomBytes(size));
    truncateSync(path, 1024 * 1024 + 10);
    const src = await FileSource.open(path, flags, size);
    try {
      const got = await readAll(src, size, 1 << 20);
      expect(got.length).toBe(1024 * 1024 + 10);
    } finally {
      await src.close();
    }
  });

  test("cleanup", () => rmSync(dir, { recursive: true, force: true }));
});
