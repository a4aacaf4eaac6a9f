/**
 * Local-directory storage. A key "a/b/c" is the file DIR/a/b/c.
 * save: write a temp file in the same folder, fsync, rename over the key, fsync the folder,
 * so a crash leaves either the old state or the whole new object (temp files are ignored by
 * list and cleaned up by prune). Files are 0600 and folders 0700. Objects of 1 MiB and more
 * (packs) are written with O_DIRECT where the file system takes it (file-writer.ts).
 *
 * Nothing below the root is followed: a folder or object that is a symbolic link (or not a
 * plain folder or file) is refused with UnsafeObjectError naming its key, in every verb.
 * Folders are checked with lstat on each use (never cached: a folder swapped for a link later
 * is caught too), objects are opened with O_NOFOLLOW (and O_NONBLOCK, so a FIFO put in a
 * pack's place cannot hang a reader) and fstat-checked. A hostile vault therefore cannot
 * turn a load into a read of a file elsewhere, nor a save or remove into a write elsewhere.
 * The root itself may be a link: that is the user's choice.
 */
import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, rename, rmdir, unlink } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, sep } from "node:path";
import { randomBytes } from "node:crypto";
import { directIoSupported } from "../fs/direct-io.ts";
import { DIRECT_MIN_BYTES, FileWriter } from "./file-writer.ts";
import { type ByteRange, type ListOptions, type ObjectInfo, type ObjectWriter, type Storage, NotFoundError, StorageError, UnsafeObjectError, assertKey, checkRange } from "./storage.ts";

const TEMP_MARK = ".tmp-";

/**
 * Opens (without creating) a storage rooted at dir. With `linkFreeBelow` (a folder dir is
 * inside, such as the vault holding a cold tier at VAULT/cold), the folders between it and
 * dir are checked like the ones below dir: only linkFreeBelow itself may be a link.
 * `direct: false` writes large objects without O_DIRECT too (cli: EFSBAK_DIRECT_IO=0).
 */
export function localStorage(dir: string, options: { linkFreeBelow?: string; direct?: boolean } = {}): Storage {
  const location = dir;
  const trusted = options.linkFreeBelow ?? dir;
  const between = relative(trusted, dir);
  const lead = between && !between.startsWith("..") && !isAbsolute(between) ? between.split(sep) : [];
  let direct = (options.direct ?? true) && directIoSupported();

  function pathOf(key: string): string {
    assertKey(key);
    return join(dir, key);
  }

  function fail(op: string, key: string, err: unknown): never {
    const e = err as NodeJS.ErrnoException;
    if (err instanceof StorageError) throw err;
    if (e?.code === "ENOENT") throw new NotFoundError(key, location);
    if (e?.code === "ELOOP") throw new UnsafeObjectError(`${op} "${key}"`, [key], location);
    const denied = e?.code === "EACCES" || e?.code === "EPERM" || e?.code === "EROFS" ? e.code : null;
    const permanent = denied !== null || e?.code === "EISDIR" || e?.code === "ENOTDIR";
    throw new StorageError(`Cannot ${op} "${key}" in "${location}": ${e?.code ?? e?.message ?? String(err)}`, { permanent, key, cause: err, denied, hint: localHint(e?.code, location) });
  }

  /**
   * Checks the folders between the root and key's object (lstat each): "missing" when one
   * does not exist (with create, makes it, 0700); throws UnsafeObjectError for a link or a
   * non-folder, naming that folder's key.
   */
  async function folders(op: string, key: string, create = false): Promise<"ok" | "missing"> {
    const parts = [...lead, ...key.split("/")];
    // The root may be missing (made on first save, with its parents) and may be a link.
    if (create) await mkdir(trusted, { recursive: true, mode: 0o700 }).catch((err) => fail(op, key, err));
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join("/");
      const path = join(trusted, rel);
      let st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return null;
        fail(op, key, err);
      });
      if (!st && create) {
        await mkdir(path, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "EEXIST") fail(op, key, err);
        });
        st = await lstat(path).catch((err) => fail(op, key, err));
      }
      if (!st) return "missing";
      if (st.isSymbolicLink()) throw new UnsafeObjectError(`${op} "${key}"`, [rel], location);
      if (!st.isDirectory()) throw new UnsafeObjectError(`${op} "${key}"`, [rel], location, "not a folder");
    }
    return "ok";
  }

  /** lstat of key's object after checking its folders; null when missing; refuses a link. */
  async function lstatObject(op: string, key: string) {
    if ((await folders(op, key)) === "missing") return null;
    try {
      const st = await lstat(pathOf(key));
      if (st.isSymbolicLink()) throw new UnsafeObjectError(`${op} "${key}"`, [key], location);
      return st;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return null;
      fail(op, key, err);
    }
  }

  /**
   * A new object under key: a temp file in its folder, renamed over the key by commit()
   * (after fsync of the file, then of the folder). `streamed` objects are written with
   * O_DIRECT from the start (they are packs); save() decides by size.
   */
  async function begin(key: string, streamed = false): Promise<ObjectWriter & { write(part: Uint8Array): Promise<void> }> {
    const path = pathOf(key);
    const folder = dirname(path);
    const temp = join(folder, `${TEMP_MARK}${randomBytes(8).toString("hex")}`);
    let file: FileWriter | null = null;
    let sized = streamed;
    const refused = () => void (direct = false); // this file system does not take O_DIRECT
    const opened = async (first: Uint8Array): Promise<FileWriter> => {
      if (file) return file;
      sized ||= first.length >= DIRECT_MIN_BYTES;
      await folders("save", key, true);
      try {
        return (file = await FileWriter.create(temp, direct && sized, refused));
      } catch (err) {
        // Another process's remove() took the folder away when it emptied it: make it again.
        if ((err as NodeJS.ErrnoException)?.code !== "ENOENT") throw err;
        await folders("save", key, true);
        return (file = await FileWriter.create(temp, direct && sized, refused));
      }
    };
    return {
      async write(part) {
        try {
          await (await opened(part)).write(part);
        } catch (err) {
          fail("save", key, err);
        }
      },
      async commit() {
        try {
          await (await opened(new Uint8Array(0))).finish();
          // Checked again right before the rename: a folder swapped for a link meanwhile, or
          // a link planted under the key, is refused, never written through or replaced.
          await lstatObject("save", key);
          await rename(temp, path);
          await syncDir(folder);
        } catch (err) {
          await unlink(temp).catch(() => {});
          fail("save", key, err);
        }
      },
      async abort() {
        if (file) await file.abort();
      },
    };
  }

  async function syncDir(folder: string): Promise<void> {
    const fh = await open(folder, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try { await fh.sync(); } finally { await fh.close(); }
  }

  return {
    location,
    async save(key: string, data: Uint8Array) {
      const w = await begin(key);
      try {
        await w.write(data);
        await w.commit();
      } catch (err) {
        await w.abort();
        throw err;
      }
    },
    create: (key: string) => begin(key, true),
    async load(key: string, range?: ByteRange) {
      const path = pathOf(key);
      let fh;
      try {
        if ((await folders("load", key)) === "missing") throw new NotFoundError(key, location);
        fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch (err) {
        fail("load", key, err);
      }
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw new UnsafeObjectError(`load "${key}"`, [key], location, "not a plain file");
        const size = st.size;
        const offset = range ? range.offset : 0;
        const length = range ? range.length : size;
        if (range) checkRange(key, size, range);
        // Not zero-filled (every byte is read into it, checked below); a plain Uint8Array, not a Buffer.
        const out = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await fh.read(out, done, length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        if (done !== length) {
          throw new StorageError(`Cannot read "${key}": object shrank while reading`, { permanent: true, key });
        }
        return out;
      } catch (err) {
        if (err instanceof StorageError) throw err;
        fail("load", key, err);
      } finally {
        await fh.close();
      }
    },
    async stat(key: string): Promise<ObjectInfo | null> {
      assertKey(key);
      const s = await lstatObject("stat", key);
      return s?.isFile() ? { key, size: s.size, mtimeMs: s.mtimeMs } : null;
    },
    async *list(prefix: string, options?: ListOptions) {
      // Walk only the folder that can hold the prefix, then filter by the full prefix.
      const cut = prefix.lastIndexOf("/");
      const base = cut < 0 ? "" : prefix.slice(0, cut);
      if (base && (await folders(`list "${prefix}"`, `${base}/x`)) === "missing") return;
      const refused: string[] = [];
      yield* walk(dir, base, prefix, refused, { after: options?.startAfter });
      // Everything else was listed first, so that check can report the links and go on.
      if (refused.length) throw new UnsafeObjectError(`list "${prefix}"`, refused.sort(), location);
    },
    async *leftovers(prefix: string) {
      const cut = prefix.lastIndexOf("/");
      yield* walk(dir, cut < 0 ? "" : prefix.slice(0, cut), prefix, [], { temp: true });
    },
    async remove(key: string) {
      const path = pathOf(key);
      try {
        if (!(await lstatObject("remove", key))) return;
        await unlink(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
        fail("remove", key, err);
      }
      // An emptied folder goes too (jobs/<id>/ once prune removed the job), so listings do
      // not wade through empty folders; a save into it makes it again.
      const folder = dirname(path);
      if (folder !== dir) {
        await rmdir(folder).catch(() => {});
      }
    },
  };
}

/** A next step that fits a local file system error (a local vault has no credentials). */
function localHint(code: string | undefined, location: string): string {
  if (code === "ENOSPC" || code === "EDQUOT") return `the file system holding "${location}" is full (or over quota): free space there, then try again; what was stored so far is kept`;
  if (code === "EACCES" || code === "EPERM") return `this user may not write there: check the owner and mode of "${location}", or run as its owner`;
  if (code === "EROFS") return `"${location}" is on a read-only file system`;
  return `check that "${location}" is reachable (a mounted disk or share), then try again`;
}

/**
 * Objects under prefix (after `after`, when given), walking only folders that can hold some;
 * with `temp`, the temp files of interrupted saves instead of objects.
 */
async function* walk(root: string, rel: string, prefix: string, refused: string[], options: { after?: string; temp?: boolean } = {}): AsyncGenerator<ObjectInfo> {
  const after = options.after;
  let entries;
  try {
    entries = await readdir(rel ? join(root, rel) : root, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return;
    throw new StorageError(`Cannot list "${prefix}" in "${root}": ${code}`, { permanent: false, cause: err });
  }
  for (const e of entries) {
    const key = rel ? `${rel}/${e.name}` : e.name;
    const wanted = prefix.startsWith(key + "/") || key.startsWith(prefix) || prefix === "";
    if (e.isSymbolicLink()) {
      if (wanted) refused.push(key);
    } else if (e.isDirectory()) {
      // Every key in the folder sorts before key + "/\u{10ffff}": skip it when that is not after `after`.
      if (after !== undefined && !(`${key}/\u{10ffff}` > after)) continue;
      if (wanted) yield* walk(root, key, prefix, refused, options);
    } else if (e.isFile() && e.name.startsWith(TEMP_MARK) === !!options.temp && key.startsWith(prefix) && (after === undefined || key > after)) {
      let s;
      try {
        s = await lstat(join(root, key));
      } catch {
        continue; // removed while listing
      }
      if (s.isSymbolicLink()) refused.push(key); // swapped for a link while listing
      else if (s.isFile()) yield { key, size: s.size, mtimeMs: s.mtimeMs };
    }
  }
}
