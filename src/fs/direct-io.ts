/**
 * O_DIRECT I/O: the alignment it needs, aligned buffers, and whether it is available at all.
 * Shared by the writes of local storage (storage/file-writer.ts) and the large-file reads and
 * pack buffers of a backup (backup/direct-read.ts, backup/_worker.ts).
 *
 * O_DIRECT needs the memory address, file offset and length of every read and write aligned
 * to the device's block size; DIRECT_ALIGN (4096) covers every common device.
 */
import { ptr } from "bun:ffi";
import { constants } from "node:fs";

/** Alignment of address, offset and length of direct reads and writes. */
export const DIRECT_ALIGN = 4096;

/** Whether the platform has O_DIRECT at all. Whether to use it is the caller's setting (cli/: EFSBAK_DIRECT_IO=0 turns it off). */
export function directIoSupported(): boolean {
  return constants.O_DIRECT !== undefined;
}

/** A view of `length` bytes of a new buffer that starts at an aligned address. */
export function alignedBuffer(length: number): Uint8Array {
  const raw = new Uint8Array(length + DIRECT_ALIGN);
  const skip = (DIRECT_ALIGN - (Number(ptr(raw)) % DIRECT_ALIGN)) % DIRECT_ALIGN;
  return raw.subarray(skip, skip + length);
}

/** True when bytes is not empty and starts at an aligned address (writable in place). */
export function isAligned(bytes: Uint8Array): boolean {
  return bytes.length > 0 && Number(ptr(bytes)) % DIRECT_ALIGN === 0;
}
