/** `efsbak ls RP [PATH]` and `efsbak diff RP_A RP_B`: look inside recovery points. */
import { EfsbakError } from "../errors.ts";
import { decodeTree } from "../tree/tree.ts";
import { displayName, parseDisplayName } from "../tree/name.ts";
import { type WalkBudget, createWalkBudget } from "../tree/budget.ts";
import { type DiffEntry, diffTrees, findPath, walkTree, type TreeEntry, type TreeLoader } from "../tree/list.ts";
import type { Node } from "../tree/node.ts";
import { fromHex } from "../vault/id.ts";
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import type { Vault } from "../vault/vault.ts";
import { COMMON_EXIT, type Outcome, VAULT_ARG, command } from "./command.ts";
import type { Context } from "./context.ts";
import { type StreamOut, createStreamOut, createTicker, interrupted } from "./stream.ts";
import { formatBytes } from "./output.ts";
import { resolveRecoveryPoint } from "./rp-ref.ts";

/** A tree loader over a vault; with a budget, each listing's raw bytes are counted against it. */
export function vaultTreeLoader(vault: Vault, budget?: Pick<WalkBudget, "bytes">): TreeLoader {
  return async (hex) => {
    const id = fromHex(hex, 32);
    if (!id) throw new EfsbakError(`Cannot read tree "${hex}": not a tree id`, { exitCode: 1 });
    const raw = await vault.loadBlob(id);
    budget?.bytes(raw.length);
    return decodeTree(`tree ${hex}`, raw);
  };
}

function mtimeIso(ns: string): string {
  return new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
}

/** An entry for --json: names, targets and xattr names in displayName form (docs/json.md). */
function entryJson(e: TreeEntry): Record<string, unknown> {
  const n = e.node;
  return {
    path: displayName(e.path),
    name: displayName(n.name),
    type: n.type,
    mode: `0${n.mode.toString(8)}`,
    uid: n.uid,
    gid: n.gid,
    mtime: mtimeIso(n.mtime),
    mtime_ns: n.mtime,
    ...(n.type === "file" ? { size: n.size, chunks: n.content.length, inode: n.ino } : {}),
    ...(n.type === "symlink" ? { target: displayName(n.target) } : {}),
    ...(n.type === "chardev" || n.type === "blockdev" ? { rdev: n.rdev, major: deviceMajor(n.rdev), minor: deviceMinor(n.rdev) } : {}),
    ...(n.xattrs ? { xattrs: n.xattrs.map(([name, value]) => ({ name: displayName(name), value })) } : {}),
    ...(n.inconsistent ? { inconsistent: true } : {}),
  };
}

const TYPE_LETTER: Record<Node["type"], string> = { file: "-", dir: "d", symlink: "l", chardev: "c", blockdev: "b" };

/** The mode as `ls -l` shows it: type, rwx, setuid/setgid as s/S, sticky as t/T. */
export function modeString(n: Pick<Node, "type" | "mode">): string {
  const bits = "rwxrwxrwx";
  let s = TYPE_LETTER[n.type] ?? "?";
  for (let i = 0; i < 9; i++) {
    const on = (n.mode & (1 << (8 - i))) !== 0;
    const special = i === 2 ? n.mode & 0o4000 : i === 5 ? n.mode & 0o2000 : i === 8 ? n.mode & 0o1000 : 0;
    if (special) s += i === 8 ? (on ? "t" : "T") : on ? "s" : "S";
    else s += on ? bits[i] : "-";
  }
  return s;
}

/** Linux's major and minor numbers of an st_rdev (glibc's gnu_dev_major/minor). */
function deviceMajor(rdev: string): number {
  const d = BigInt(rdev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
}

function deviceMinor(rdev: string): number {
  const d = BigInt(rdev);
  return Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
}

/** One line of `ls`: mode, size (or major, minor), mtime, path, symlink target; names in displayName form. */
function lsLine(e: TreeEntry): string {
  const n = e.node;
  const size = n.type === "file" ? formatBytes(n.size) : n.type === "chardev" || n.type === "blockdev" ? `${deviceMajor(n.rdev)}, ${deviceMinor(n.rdev)}` : "";
  return `${modeString(n)}  ${size.padStart(10)}  ${mtimeIso(n.mtime).slice(0, 19)}Z  ${displayName(e.path)}${n.type === "dir" ? "/" : ""}${n.type === "symlink" ? ` -> ${displayName(n.target)}` : ""}`;
}

/** Runs a streamed listing; an abort (SIGINT/SIGTERM) becomes a clear "interrupted" error. */
async function streaming(ctx: Context, what: string, body: (out: StreamOut) => Promise<void>): Promise<Outcome> {
  const out = createStreamOut(ctx.io.stdout, ctx.io.signal);
  try {
    await body(out);
  } catch (err) {
    await out.end();
    if (ctx.io.signal?.aborted) throw interrupted(what, err);
    throw err;
  } finally {
    await out.end();
  }
  return { exitCode: 0, json: null, text: "", streamed: true };
}

const LS_EXIT = [...COMMON_EXIT, "130  interrupted (SIGINT or SIGTERM): the output is incomplete"];

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
  exitStatus: LS_EXIT,
  async run({ ctx, args }) {
    const vault = await ctx.openVault(ctx.vaultTarget(args.vault as string | undefined));
    const rp = resolveRecoveryPoint(await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) }), String(args.rp), { resource: args.resource as string | undefined });
    const path = parseDisplayName((args.path as string | undefined) ?? "");
    const at = await findPath(vaultTreeLoader(vault), rp.tree, path);
    if (path && !at.node) throw new EfsbakError(`Cannot find "${displayName(path)}" in recovery point ${rp.id}`, { exitCode: 1, hint: `list the root with "efsbak ls ${rp.id}"` });
    const prefix = path.split("/").filter((p) => p && p !== ".").join("/");
    const budget = createWalkBudget(rp);
    const load = vaultTreeLoader(vault, budget);
    const json = ctx.flags.json;
    const silent = !json && ctx.flags.quiet;
    return streaming(ctx, `listing recovery point "${rp.id}"`, async (out) => {
      let n = 0;
      const tick = createTicker(); // SIGINT/SIGTERM are seen even when nothing is written (--quiet)
      async function emit(e: TreeEntry): Promise<void> {
        await tick();
        if (json) await out.write(`${n === 0 ? "" : ","}\n    ${JSON.stringify(entryJson(e))}`);
        else if (!silent) await out.write(`${lsLine(e)}\n`);
        n++;
      }
      if (json) await out.write(`{\n  "recovery_point": ${JSON.stringify(rp.id)},\n  "entries": [`);
      if (at.node && at.node.type !== "dir") await emit({ path: prefix, node: at.node });
      else if (at.treeId) for await (const e of walkTree(load, at.treeId, { prefix, budget, signal: ctx.io.signal })) await emit(e);
      if (json) await out.write(`${n === 0 ? "" : "\n  "}]\n}\n`);
      else if (n === 0 && !silent) await out.write("(empty)\n");
    });
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
  exitStatus: LS_EXIT,
  async run({ ctx, args }) {
    const vault = await ctx.openVault(ctx.vaultTarget(args.vault as string | undefined));
    const rps = await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) });
    const a = resolveRecoveryPoint(rps, String(args.a));
    const b = resolveRecoveryPoint(rps, String(args.b));
    const json = ctx.flags.json;
    const silent = !json && ctx.flags.quiet;
    /** One pass over the differences (each with budgets of its own: a pass may walk both trees whole). */
    function pass(): AsyncGenerator<DiffEntry> {
      // Entries are counted per side; each listing loaded is a directory entry counted (or a root).
      const budgets: [WalkBudget, WalkBudget] = [createWalkBudget(a), createWalkBudget(b)];
      return diffTrees(vaultTreeLoader(vault), a.tree, b.tree, { budgets, signal: ctx.io.signal });
    }
    return streaming(ctx, `comparing recovery points "${a.id}" and "${b.id}"`, async (out) => {
      const counts = { "+": 0, "-": 0, M: 0 };
      const tick = createTicker(); // SIGINT/SIGTERM are seen even while nothing differs
      if (json) {
        // The document keeps its shape ({a, b, added, removed, changed}), streamed: one pass per list.
        await out.write(`{\n  "a": ${JSON.stringify(a.id)},\n  "b": ${JSON.stringify(b.id)}`);
        for (const [key, kind] of [["added", "+"], ["removed", "-"], ["changed", "M"]] as const) {
          await out.write(`,\n  "${key}": [`);
          for await (const d of pass()) {
            await tick();
            if (d.kind !== kind) continue;
            await out.write(`${counts[kind] === 0 ? "" : ","}\n    ${JSON.stringify(displayName(d.path))}`);
            counts[kind]++;
          }
          await out.write(`${counts[kind] === 0 ? "" : "\n  "}]`);
        }
        await out.write("\n}\n");
        return;
      }
      for await (const d of pass()) {
        await tick();
        counts[d.kind]++;
        if (!silent) await out.write(`${d.kind} ${displayName(d.path)}\n`);
      }
      const summary = `${counts["+"]} added, ${counts["-"]} removed, ${counts.M} changed`;
      if (!silent) await out.write(counts["+"] + counts["-"] + counts.M > 0 ? `${summary}\n` : `No differences (${summary})\n`);
    });
  },
});
