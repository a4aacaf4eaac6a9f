/** In-memory storage: real code, the default for tests. Copies on save, write and load. */
import { type ByteRange, type ObjectInfo, type Storage, NotFoundError, assertKey, checkRange, type ListOptions } from "./storage.ts";

/** Creates an empty in-memory storage. */
export function memoryStorage(options: { location?: string; now?: () => number } = {}): Storage {
  const objects = new Map<string, { data: Uint8Array; mtimeMs: number }>();
  const location = options.location ?? "memory:";
  const now = options.now ?? Date.now;
  return {
    location,
    async save(key: string, data: Uint8Array) {
      assertKey(key);
      objects.set(key, { data: data.slice(), mtimeMs: now() });
    },
    async create(key: string) {
      assertKey(key);
      const parts: Uint8Array[] = [];
      return {
        async write(part: Uint8Array) {
          parts.push(part.slice());
        },
        async commit() {
          objects.set(key, { data: new Uint8Array(Buffer.concat(parts)), mtimeMs: now() });
        },
        async abort() {
          parts.length = 0;
        },
      };
    },
    async load(key: string, range?: ByteRange) {
      assertKey(key);
      const o = objects.get(key);
      if (!o) throw new NotFoundError(key, location);
      if (!range) return o.data.slice();
      checkRange(key, o.data.length, range);
      return o.data.slice(range.offset, range.offset + range.length);
    },
    async stat(key: string): Promise<ObjectInfo | null> {
      assertKey(key);
      const o = objects.get(key);
      return o ? { key, size: o.data.length, mtimeMs: o.mtimeMs } : null;
    },
    async *list(prefix: string, options?: ListOptions) {
      const after = options?.startAfter;
      for (const [key, o] of [...objects]) {
        if (key.startsWith(prefix) && (after === undefined || key > after)) yield { key, size: o.data.length, mtimeMs: o.mtimeMs };
      }
    },
    async remove(key: string) {
      assertKey(key);
      objects.delete(key);
    },
  };
}
