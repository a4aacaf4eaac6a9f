/**
 * Nodes: one directory entry as a recovery point records it. Times are nanoseconds since the
 * epoch as decimal strings (they overflow doubles); inode and device numbers are strings too.
 * Names and symlink targets are byte strings carried in tree/name.ts's lossless string form.
 */
import type { BigIntStats } from "node:fs";

interface NodeBase {
  name: string;
  mode: number; // permission bits incl. setuid/setgid/sticky (st_mode & 0o7777)
  uid: number;
  gid: number;
  mtime: string; // ns
  /** Set when the entry changed while it was read (see DESIGN.md, consistency). */
  inconsistent?: true;
  /** Extended attributes (every namespace the process could read, POSIX ACLs included), sorted by name. */
  xattrs?: Xattr[];
}

/** One extended attribute: its name (lossless string form) and its value in base64. */
export type Xattr = [name: string, value: string];

/** A regular file. */
export interface FileNode extends NodeBase {
  type: "file";
  size: number;
  ctime: string;
  ino: string;
  /** Chunk ids (hex) in order; their raw lengths add up to size. */
  content: string[];
  /** Hard link count and device, only when links > 1 (to rebuild link groups). */
  links?: number;
  dev?: string;
}

/** A directory; its entries are in the tree blob `subtree`. */
export interface DirNode extends NodeBase {
  type: "dir";
  subtree: string;
}

/** A symbolic link (the target is stored as is, never followed). */
export interface SymlinkNode extends NodeBase {
  type: "symlink";
  target: string;
}

/** A character or block device (restored by root only). */
export interface DeviceNode extends NodeBase {
  type: "chardev" | "blockdev";
  /** st_rdev, decimal. */
  rdev: string;
}

/** Any entry. */
export type Node = FileNode | DirNode | SymlinkNode | DeviceNode;

/** The root directory's own metadata, recorded in the recovery point and set on the restore directory. */
export type RootMeta = Pick<NodeBase, "mode" | "uid" | "gid" | "mtime" | "xattrs">;

/** The metadata every node takes from an lstat. */
export function baseFromStat(name: string, st: BigIntStats): NodeBase {
  return {
    name,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: st.mtimeNs.toString(),
  };
}

/** True when a file's identity and times match a node of the parent recovery point. */
export function unchanged(prev: Node | undefined, st: BigIntStats): prev is FileNode {
  return prev !== undefined && prev.type === "file" && !prev.inconsistent &&
    prev.size === Number(st.size) && prev.mtime === st.mtimeNs.toString() &&
    prev.ctime === st.ctimeNs.toString() && prev.ino === st.ino.toString();
}
