/**
 * The backup's tree blobs: one per directory, encoded once its entries are known, hashed and
 * packed into tree packs of their own (the pipeline saves them, beside the data packs).
 * Trees are small and few next to data, so they are hashed on the main thread.
 */
import { EfsbakError } from "../errors.ts";
import type { BlobHasher } from "../chunk/hash.ts";
import type { Vault } from "../vault/vault.ts";
import { BLOB_TREE, MAX_TREE_BYTES, PACK_TARGET_BYTES, PackWriter } from "../vault/pack.ts";
import { toHex } from "../vault/id.ts";
import { displayName } from "../tree/name.ts";
import type { Node } from "../tree/node.ts";
import { MAX_TREE_ENTRIES, encodeTree } from "../tree/tree.ts";
import type { Pipeline } from "./pipeline.ts";

/** Saves the tree blobs of one backup. */
export class TreeSaver {
  /** Raw bytes of every listing saved (or found stored): with the counts, they bound a walk of the trees (tree/budget.ts). */
  bytes = 0;
  readonly #pipeline: Pipeline;
  readonly #hasher: BlobHasher;
  readonly #packer: PackWriter;

  constructor(vault: Vault, pipeline: Pipeline, hasher: BlobHasher) {
    this.#pipeline = pipeline;
    this.#hasher = hasher;
    this.#packer = new PackWriter(new Uint8Array(256 * 1024), { keys: vault.keys, packType: BLOB_TREE, growTo: PACK_TARGET_BYTES + 1024 * 1024 });
  }

  /** Stores the listing of the directory at `rel` (entries in any order: encodeTree sorts); returns its id (hex). */
  save(nodes: Node[], rel: string): string {
    const raw = encodeTree(nodes);
    if (nodes.length > MAX_TREE_ENTRIES || raw.length > MAX_TREE_BYTES) {
      // Readers refuse such a listing (a hostile vault could declare any size): never write one.
      throw new EfsbakError(`Cannot back up directory "${displayName(rel || ".")}": ${nodes.length} entries (${raw.length} bytes of listing), more than a directory may hold (${MAX_TREE_ENTRIES} entries, ${MAX_TREE_BYTES} bytes)`, { exitCode: 1, hint: "split the directory, or exclude part of it" });
    }
    this.bytes += raw.length;
    const id = this.#hasher.hash(raw);
    const hex = toHex(id);
    if (this.#pipeline.known(id, hex)) return hex;
    this.#pipeline.markInflight(hex);
    if (!this.#packer.add(BLOB_TREE, id, raw)) {
      this.flush();
      this.#packer.add(BLOB_TREE, id, raw);
    }
    if (this.#packer.size >= PACK_TARGET_BYTES) this.flush();
    return hex;
  }

  /** Closes the current tree pack and hands it to the pipeline to save. */
  flush(): void {
    if (this.#packer.count === 0) return;
    const { bytes, entries, packId } = this.#packer.finish();
    this.#pipeline.savePack(packId, bytes.slice(), entries, BLOB_TREE);
  }
}
