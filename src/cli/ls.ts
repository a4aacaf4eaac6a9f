/** `efsbak ls RP [PATH]` and `efsbak diff RP_A RP_B`: look inside recovery points. */
import { EfsbakError } from "../errors.ts";
import { decodeTree } from "../tree/tree.ts";
import { diffTrees, findPath, walkTree, type TreeEntry, type TreeLoader } from "../tree/list.ts";
import type { Node } from "../tree/node.ts";
import { fromHex } from "../vault/id.ts";
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import { COMMON_EXIT, VAULT_ARG, command } from "./command.ts";
import { formatBytes } from "./output.ts";
import { resolveRecoveryPoint } from "./rp-ref.ts";

/** A tree loader over a vault. */
export function vaultTreeLoader(vault: Vault): TreeLoader {
  return async (hex) => {
    const id = fromHex(hex, 32);
    if (!id) throw new EfsbakError(`Cannot read tree "${hex}": not a tree id`, { exitCode: 1 });
    return decodeTree(`tree ${hex}`, await vault.loadBlob(id));
  };
}

function mtimeIso(ns: string): string {
  return new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
}

function entryJson(e: TreeEntry): Record<string, unknown> {
  const n = e.node;
  return {
    path: e.path,
    type: n.type,
    mode: `0${n.mode.toString(8)}`,
    uid: n.uid,
    gid: n.gid,
    mtime: mtimeIso(n.mtime),
    mtime_ns: n.mtime,
    ...(n.type === "file" ? { size: n.size, chunks: n.content.length, inode: n.ino } : {}),
    ...(n.type === "symlink" ? { target: n.target } : {}),
    ...(n.inconsistent ? { inconsistent: true } : {}),
  };
}

function modeString(n: Node): string {
  const t = n.type === "dir" ? "d" : n.type === "symlink" ? "l" : "-";
  const bits = "rwxrwxrwx";
  let s = t;
  for (let i = 0; i < 9; i++) s += n.mode & (1 << (8 - i)) ? bits[i] : "-";
  return s;
}

/** The ls command. */
export const lsCommand = command({
  name: "ls",
  description: "list the files inside a recovery point",
  args: {
    rp: { type: "positional", description: "recovery point id (or a unique prefix, or \"latest\")", required: true },
    path: { type: "positional", description: "a directory or file inside it", required: false },
    ...VAULT_ARG,
    resource: { type: "string", description: "with \"latest\": the resource", valueHint: "ID" },
  },
  exitStatus: COMMON_EXIT,
  async run({ ctx, args }) {
    const vault = await ctx.openVault(ctx.vaultTarget(args.vault as string | undefined));
    const rp = resolveRecoveryPoint(await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) }), String(args.rp), { resource: args.resource as string | undefined });
    const load = vaultTreeLoader(vault);
    const path = (args.path as string | undefined) ?? "";
    const at = await findPath(load, rp.tree, path);
    if (path && !at.node) throw new EfsbakError(`Cannot find "${path}" in recovery point ${rp.id}`, { exitCode: 1, hint: `list the root with "efsbak ls ${rp.id}"` });
    const entries: TreeEntry[] = [];
    const prefix = path.split("/").filter((p) => p && p !== ".").join("/");
    if (at.node && at.node.type !== "dir") entries.push({ path: prefix, node: at.node });
    else if (at.treeId) for await (const e of walkTree(load, at.treeId, prefix)) entries.push(e);
    const text = entries.map((e) => {
      const n = e.node;
      const size = n.type === "file" ? formatBytes(n.size) : "";
      return `${modeString(n)}  ${size.padStart(10)}  ${mtimeIso(n.mtime).slice(0, 19)}Z  ${e.path}${n.type === "dir" ? "/" : ""}${n.type === "symlink" ? ` -> ${n.target}` : ""}`;
    }).join("\n");
    return { exitCode: 0, json: { recovery_point: rp.id, entries: entries.map(entryJson) }, text: text || "(empty)" };
  },
});

/** The diff command. */
export const diffCommand = command({
  name: "diff",
  description: "show paths added, removed and changed between two recovery points",
  args: {
    a: { type: "positional", description: "the older recovery point", required: true },
    b: { type: "positional", description: "the newer recovery point", required: true },
    ...VAULT_ARG,
  },
  exitStatus: COMMON_EXIT,
  async run({ ctx, args }) {
    const vault = await ctx.openVault(ctx.vaultTarget(args.vault as string | undefined));
    const rps = await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) });
    const a = resolveRecoveryPoint(rps, String(args.a));
    const b = resolveRecoveryPoint(rps, String(args.b));
    const d = await diffTrees(vaultTreeLoader(vault), a.tree, b.tree);
    const lines = [...d.added.map((p) => ["+", p]), ...d.removed.map((p) => ["-", p]), ...d.changed.map((p) => ["M", p])]
      .sort((x, y) => (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0)).map(([k, p]) => `${k} ${p}`);
    const summary = `${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed`;
    return { exitCode: 0, json: { a: a.id, b: b.id, ...d }, text: lines.length ? `${lines.join("\n")}\n${summary}` : `No differences (${summary})` };
  },
});
