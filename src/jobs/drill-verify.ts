/**
 * Verifying a restored tree against the recovery point it came from, the second half of a
 * drill (drill.ts). Reads the restored files and the recovery point's trees; never writes.
 *
 *   walk(tree, dir):
 *     entries = the tree's nodes            damaged listing -> mismatch, subtree skipped
 *     for node:  unsafe or duplicate name   -> mismatch (restore could not put it in place)
 *                inconsistent file          -> counted (restore put it in lost+found), not verified
 *                lstat(dir/name)            -> missing (with the lost+found reason) | other type
 *                file: size, then re-chunk (vault chunker) and re-hash (vault hash) -> chunk ids
 *                symlink: readlink = target;  dir: walk(subtree)
 *     names in dir that no node has         -> mismatch "unexpected entry" (root lost+found aside)
 *
 * Never follows a restored symlink, and builds paths only from names that passed the same
 * checks the restore applies, so it never looks outside the restore directory. Mode and
 * mtime differences are warnings: file systems differ in what they keep.
 */
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type BigIntStats } from "node:fs";
import { displayName, nameFromBytes, nameToBytes } from "../tree/name.ts";
import { Chunker, createChunkerTables, type ChunkerTables } from "../chunk/fastcdc.ts";
import { createBlobHasher, type BlobHasher } from "../chunk/hash.ts";
import { VaultDamageError } from "../errors.ts";
import { LOST_FOUND_DIR, type Fragment } from "../restore/lost-found.ts";
import type { RestoreProgress } from "../restore/restore.ts";
import { nameProblem } from "../restore/walk.ts";
import { NotFoundError, StorageError } from "../storage/storage.ts";
import type { FileNode, Node } from "../tree/node.ts";
import { decodeTree } from "../tree/tree.ts";
import { fromHex, toHex } from "../vault/id.ts";
import type { RecoveryPoint } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";

/** One entry that did not verify. */
export interface Mismatch {
  /** Path relative to the recovery point root. */
  path: string;
  reason: string;
}

/** What the verification found. */
export interface VerifyResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  mismatches: Mismatch[];
  /** Files recorded as inconsistent at backup time, which restore puts into lost+found. */
  inconsistent: string[];
  /** Metadata differences (mode, mtime), not counted as mismatches. */
  warnings: string[];
}

/** Options of verifyRestore. */
export interface VerifyOptions {
  /** The directory the recovery point was restored into (its root). */
  restoreDir: string;
  /** The restore's lost+found fragments, to say why an entry is not in place. */
  fragments?: Fragment[];
  /** The restore's lost+found folder name (RestoreResult.lostFound). */
  lostFound?: string;
  signal?: AbortSignal;
  onProgress?: (p: RestoreProgress) => void;
}

const READ_BYTES = 4 * 1024 * 1024;
const SLASH = Buffer.from("/");
const MAX_WARNINGS = 100;
/** Bytes hashed between turns of the event loop (so progress and lease refreshes run). */
const YIELD_BYTES = 64 * 1024 * 1024;

/** Checks every entry of a recovery point against a directory it was restored into. */
export async function verifyRestore(vault: Vault, rp: RecoveryPoint, options: VerifyOptions): Promise<VerifyResult> {
  const c = vault.config.chunker;
  const v = new Verifier(
    vault,
    createChunkerTables({ minSize: c.min_size, avgSize: c.avg_size, maxSize: c.max_size, seed: c.seed }),
    await createBlobHasher(vault.keys?.idKey),
    rp.size_bytes,
    options,
  );
  await v.walk(rp.tree, Buffer.from(options.restoreDir), "");
  v.report(true);
  return v.result;
}

class Verifier {
  readonly result: VerifyResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0, mismatches: [], inconsistent: [], warnings: [] };
  readonly #vault: Vault;
  readonly #tables: ChunkerTables;
  readonly #hasher: BlobHasher;
  readonly #options: VerifyOptions;
  readonly #lost = new Map<string, Fragment>();
  /** dev:ino -> content ids already verified (hard links are read once). */
  readonly #seen = new Map<string, string>();
  readonly #buf = new Uint8Array(READ_BYTES);
  readonly #progress: RestoreProgress;
  #lastReport = -Infinity;

  constructor(vault: Vault, tables: ChunkerTables, hasher: BlobHasher, totalBytes: number, options: VerifyOptions) {
    this.#vault = vault;
    this.#tables = tables;
    this.#hasher = hasher;
    this.#options = options;
    this.#progress = { files: 0, bytes: 0, totalBytes, currentPath: "" };
    for (const f of options.fragments ?? []) if (f.original_path) this.#lost.set(f.original_path, f);
  }

  report(force = false): void {
    const now = performance.now();
    if (!this.#options.onProgress || (!force && now - this.#lastReport < 100)) return;
    this.#lastReport = now;
    this.#options.onProgress({ ...this.#progress });
  }

  #mismatch(path: string, reason: string): void {
    this.result.mismatches.push({ path: displayName(path), reason });
  }

  #warn(message: string): void {
    if (this.result.warnings.length < MAX_WARNINGS) this.result.warnings.push(message);
  }

  async walk(treeHex: string, dir: Buffer, rel: string): Promise<void> {
    this.#options.signal?.throwIfAborted();
    let nodes: Node[];
    try {
      nodes = await this.#listing(treeHex);
    } catch (err) {
      if (!isDamage(err)) throw err;
      this.#mismatch(rel || ".", `directory listing cannot be read from the vault: ${(err as Error).message}`);
      return;
    }
    const names = new Set<string>();
    for (const node of nodes) {
      const path = rel ? `${rel}/${String(node.name)}` : String(node.name);
      const problem = nameProblem(node.name, names);
      if (problem) {
        this.#mismatch(path, `not restored in place: ${problem}`);
        continue;
      }
      names.add(node.name);
      if (node.type === "file" && node.inconsistent) {
        this.result.inconsistent.push(path);
        continue;
      }
      const abs = Buffer.concat([dir, SLASH, nameToBytes(node.name)!]);
      let st: BigIntStats;
      try {
        st = lstatSync(abs, { bigint: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        const f = this.#lost.get(displayName(path));
        this.#mismatch(path, f ? `not restored in place: ${f.reason} (see ${this.#options.lostFound ?? LOST_FOUND_DIR}/${f.name})` : "missing from the restore");
        continue;
      }
      const kind = st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : st.isCharacterDevice() ? "chardev" : st.isBlockDevice() ? "blockdev" : "special file";
      if (kind !== node.type) {
        this.#mismatch(path, `restored as a ${kind}, the recovery point has a ${node.type}`);
        continue;
      }
      this.#checkMeta(path, node, st);
      if (node.type === "dir") {
        this.result.dirs++;
        await this.walk(node.subtree, abs, path);
      } else if (node.type === "symlink") {
        const target = nameFromBytes(readlinkSync(abs, { encoding: "buffer" }));
        if (target !== node.target) this.#mismatch(path, `symlink points to "${displayName(target)}", the recovery point says "${displayName(node.target)}"`);
        else this.result.symlinks++;
      } else if (node.type === "chardev" || node.type === "blockdev") {
        if (st.rdev.toString() !== node.rdev) this.#mismatch(path, `device ${st.rdev}, the recovery point says ${node.rdev}`);
      } else if (node.type === "file") {
        this.#progress.currentPath = path;
        if (await this.#file(path, abs, node, st)) {
          this.result.files++;
          this.#progress.files++;
        }
        this.report();
      }
    }
    for (const raw of readdirSync(dir, { encoding: "buffer" })) {
      const name = nameFromBytes(raw);
      if (names.has(name) || (rel === "" && name === (this.#options.lostFound ?? LOST_FOUND_DIR))) continue;
      this.#mismatch(rel ? `${rel}/${name}` : name, "unexpected entry: the recovery point has no such entry");
    }
  }

  async #listing(treeHex: string): Promise<Node[]> {
    const id = fromHex(treeHex, 32);
    if (!id) throw new VaultDamageError(`tree ${treeHex}`, "not a valid tree id");
    return decodeTree(`tree ${treeHex}`, await this.#vault.loadBlob(id));
  }

  #checkMeta(path: string, node: Node, st: BigIntStats): void {
    if (node.type === "symlink") return;
    const mode = Number(st.mode & 0o7777n);
    if ((mode & 0o777) !== (node.mode & 0o777)) this.#warn(`"${displayName(path)}": mode ${mode.toString(8)}, the recovery point says ${node.mode.toString(8)}`);
    if (node.type === "file" && st.mtimeNs.toString() !== node.mtime) this.#warn(`"${displayName(path)}": mtime differs from the recovery point`);
  }

  /** True when the file's content matches its chunk ids; else records why not. */
  async #file(path: string, abs: Buffer, node: FileNode, st: BigIntStats): Promise<boolean> {
    if (Number(st.size) !== node.size) {
      this.#mismatch(path, `has ${st.size} bytes, the recovery point says ${node.size}`);
      return false;
    }
    const identity = `${st.dev}:${st.ino}`;
    const expected = node.content.join(",");
    if (this.#seen.get(identity) === expected) {
      this.#progress.bytes += node.size;
      this.result.bytes += node.size;
      return true;
    }
    const fd = openSync(abs, "r");
    try {
      const chunker = new Chunker(this.#tables);
      let index = 0;
      let offset = 0;
      let pos = 0;
      let sinceYield = 0;
      const compare = (chunks: Uint8Array[]): string | null => {
        for (const chunk of chunks) {
          const want = node.content[index];
          const got = toHex(this.#hasher.hash(chunk));
          if (want === undefined) return `has more content than the recovery point's ${node.content.length} chunks`;
          if (got !== want) return `content differs from the recovery point in bytes ${offset}..${offset + chunk.length} (chunk ${index + 1} of ${node.content.length})`;
          index++;
          offset += chunk.length;
        }
        return null;
      };
      for (;;) {
        this.#options.signal?.throwIfAborted();
        const n = readSync(fd, this.#buf, 0, READ_BYTES, pos);
        if (n === 0) break;
        pos += n;
        this.#progress.bytes += n;
        const problem = compare(chunker.push(this.#buf.subarray(0, n)));
        if (problem) {
          this.#mismatch(path, problem);
          return false;
        }
        this.report();
        sinceYield += n;
        if (sinceYield >= YIELD_BYTES) {
          sinceYield = 0;
          await new Promise((r) => setTimeout(r, 0));
        }
      }
      const problem = compare(chunker.finish());
      if (problem) {
        this.#mismatch(path, problem);
        return false;
      }
      if (index !== node.content.length) {
        this.#mismatch(path, `content ends after ${index} of the recovery point's ${node.content.length} chunks`);
        return false;
      }
    } finally {
      closeSync(fd);
    }
    this.#seen.set(identity, expected);
    this.result.bytes += node.size;
    return true;
  }
}

function isDamage(err: unknown): boolean {
  return err instanceof VaultDamageError || err instanceof NotFoundError || (err instanceof StorageError && err.permanent);
}
