/**
 * A byte-exact snapshot of a directory tree, for round-trip tests in the manner of
 * `rsync -naHAXc --numeric-ids`: names and link targets as bytes (hex), type, mode, uid/gid,
 * mtime (ns), size, SHA-256, device numbers, every extended attribute, hard-link groups, and
 * whether a file is sparse. Walks through directory descriptors (/proc/self/fd), so paths of
 * any length are read.
 */
import { closeSync, constants, lstatSync, openSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { getXattr, listXattrs } from "../../src/fs/libc.ts";

/** One entry of an exact snapshot. */
export interface ExactEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
  size?: number;
  sha?: string;
  target?: string;
  rdev?: string;
  xattrs: Record<string, string>;
  link?: string;
  sparse?: boolean;
}

const DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Snapshot keyed by the hex of each path's bytes relative to root ("" for the root itself). */
export function exactTree(root: string, options: { ignore?: string[]; rootMeta?: boolean } = {}): Record<string, ExactEntry> {
  const out: Record<string, ExactEntry> = {};
  const inodes = new Map<string, string[]>();
  const ignore = new Set((options.ignore ?? []).map((n) => Buffer.from(n).toString("hex")));
  function entry(path: string | Buffer): ExactEntry {
    const st = lstatSync(path, { bigint: true });
    const xattrs: Record<string, string> = {};
    for (const n of listXattrs(path)) {
      const v = getXattr(path, n);
      if (v) xattrs[n.toString("latin1")] = v.toString("base64");
    }
    const e: ExactEntry = { type: "other", mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs.toString(), xattrs };
    if (st.isFile()) {
      e.type = "file";
      e.size = Number(st.size);
      e.sha = new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
      e.sparse = Number(st.blocks) * 512 < Number(st.size) / 2;
      if (st.nlink > 1n) e.link = `${st.dev}:${st.ino}`;
    } else if (st.isDirectory()) e.type = "dir";
    else if (st.isSymbolicLink()) {
      e.type = "symlink";
      e.mode = 0;
      e.target = readlinkSync(path, { encoding: "buffer" }).toString("hex");
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      e.type = st.isCharacterDevice() ? "chardev" : "blockdev";
      e.rdev = st.rdev.toString();
    }
    return e;
  }
  function walk(fd: number, rel: string): void {
    for (const name of readdirSync(`/proc/self/fd/${fd}`, { encoding: "buffer" })) {
      if (rel === "" && ignore.has(name.toString("hex"))) continue;
      const r = rel ? `${rel}2f${name.toString("hex")}` : name.toString("hex");
      const p = Buffer.concat([Buffer.from(`/proc/self/fd/${fd}/`), name]);
      const e = entry(p);
      out[r] = e;
      if (e.link) inodes.set(e.link, [...(inodes.get(e.link) ?? []), r]);
      if (e.type === "dir") {
        const child = openSync(p, DIR);
        try {
          walk(child, r);
        } finally {
          closeSync(child);
        }
      }
    }
  }
  if (options.rootMeta) out[""] = entry(root);
  const fd = openSync(root, DIR);
  try {
    walk(fd, "");
  } finally {
    closeSync(fd);
  }
  for (const members of inodes.values()) {
    const first = members.slice().sort()[0]!;
    for (const m of members) {
      if (members.length > 1) out[m]!.link = first;
      else delete out[m]!.link; // its other names are outside the tree
    }
  }
  return out;
}

/** The snapshot with readable keys (for failure messages): hex path -> text with \xHH. */
export function readable(snap: Record<string, ExactEntry>): Record<string, ExactEntry> {
  const out: Record<string, ExactEntry> = {};
  for (const [k, v] of Object.entries(snap)) {
    const text = [...Buffer.from(k, "hex")].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("");
    out[text] = v;
  }
  return out;
}
