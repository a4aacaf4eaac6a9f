/** `efsbak dump RP PATH`: one file to stdout, or a directory as a pax tar stream. */
import { basename } from "node:path";
import { EfsbakError, UsageError } from "../errors.ts";
import { dumpFile, dumpTar, type DumpRoot } from "../restore/dump.ts";
import { findPath, splitPath } from "../tree/list.ts";
import { displayName, parseDisplayName } from "../tree/name.ts";
import { listRecoveryPoints, type RecoveryPoint } from "../vault/recovery-point.ts";
import { acquireVaultLock } from "../vault/lock.ts";
import { type Vault, withCurrentIndex } from "../vault/vault.ts";
import { resolveRecoveryPoint } from "./rp-ref.ts";
import { COMMON_EXIT, type Outcome, VAULT_ARG, command } from "./command.ts";
import type { Context } from "./context.ts";
import { vaultTreeLoader } from "./ls.ts";
import { streamTo, untilInterrupted } from "./stream.ts";

/** The archive name of a recovery point's root: its source directory's name, else the resource id. */
function rootName(rp: RecoveryPoint): string {
  const b = basename(rp.source_path ?? "");
  return b && b !== "/" && b !== "." ? b : rp.resource;
}

/** The dump command. */
export const dumpCommand = command({
  name: "dump",
  description: "write a file of a recovery point to stdout, or a directory as a tar stream",
  args: {
    rp: { type: "positional", description: "recovery point id (or a unique prefix, or \"latest\")", required: true },
    path: { type: "positional", description: "a file or directory inside it (\"/\" for all; names as ls shows them, \\xHH for a byte)", required: true },
    ...VAULT_ARG,
    resource: { type: "string", description: "with \"latest\": the resource", valueHint: "ID" },
  },
  exitStatus: [
    "0  the file or archive was written in full",
    "1  failure: not found, not a file or directory, damaged data, or stdout closed (what was written is incomplete)",
    "2  usage error (e.g. a tar archive to a terminal)",
    "4  a prune holds the vault's lock",
  ],
  async run({ ctx, args }) {
    const target = ctx.vaultTarget(args.vault as string | undefined);
    const opened = await ctx.openVault(target);
    // The shared vault lock, as restore takes it: no prune repacks what is being read.
    const lock = await acquireVaultLock(opened, { purpose: "a dump", exclusive: false, settleMs: ctx.settleMs(target), signal: ctx.io.signal, onReadOnly: (m) => ctx.log.warn(m) });
    try {
      return await dumpWith(ctx, args, await withCurrentIndex(opened));
    } finally {
      await lock.release().catch(() => {});
    }
  },
});

async function dumpWith(ctx: Context, args: Record<string, unknown>, vault: Vault): Promise<Outcome> {
  {
    const rp = resolveRecoveryPoint(await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) }), String(args.rp), { resource: args.resource as string | undefined });
    const load = vaultTreeLoader(vault);
    const path = parseDisplayName(String(args.path));
    const parts = splitPath(path);
    const shown = displayName(parts.join("/")) || "/";
    const at = parts.length === 0 ? null : (await findPath(load, rp.tree, parts.join("/"))).node;
    if (parts.length > 0 && !at) throw new EfsbakError(`Cannot dump "${shown}" of recovery point ${rp.id}: no such file or directory`, { exitCode: 1, hint: `list it with "efsbak ls ${rp.id}"` });
    const out = streamTo(ctx.io.stdout);
    const t0 = performance.now();
    let summary: Record<string, unknown>;
    if (at && at.type === "file") {
      const bytes = await untilInterrupted("the dump", ctx.io.signal, () => dumpFile(vault, at, { sink: out, signal: ctx.io.signal, path: parts.join("/") }));
      summary = { recovery_point: rp.id, path: shown, type: "file", bytes };
    } else if (at && at.type !== "dir") {
      throw new EfsbakError(`Cannot dump "${shown}" of recovery point ${rp.id}: it is a ${at.type === "symlink" ? `symlink to "${displayName(at.target)}"` : "device"}, not a file or directory`, { exitCode: 1, hint: "dump the directory that holds it, as a tar" });
    } else {
      if (ctx.io.stdout.isTTY) throw new UsageError("Cannot write a tar archive to a terminal", `pipe it: "efsbak dump ${rp.id} ${String(args.path)} | tar -xpf -"`);
      const root: DumpRoot = at
        ? { name: at.name, subtree: at.subtree, mode: at.mode, uid: at.uid, gid: at.gid, mtime: at.mtime, xattrs: at.xattrs }
        : { name: rootName(rp), subtree: rp.tree, mode: rp.root?.mode ?? 0o755, uid: rp.root?.uid ?? 0, gid: rp.root?.gid ?? 0, mtime: rp.root?.mtime ?? String(BigInt(Date.parse(rp.created_at)) * 1_000_000n), xattrs: rp.root?.xattrs };
      const r = await untilInterrupted("the dump", ctx.io.signal, () => dumpTar(vault, root, { load, sink: out, signal: ctx.io.signal, onSkip: (p, why) => ctx.log.warn(`Left "${p}" out of the archive: ${why}`) }));
      summary = { recovery_point: rp.id, path: shown, type: "tar", root: displayName(root.name), members: r.members, bytes: r.bytes, skipped: r.skipped };
    }
    ctx.log.info(`Dumped "${shown}" of recovery point ${rp.id} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    // stdout carries the data; with --json the summary goes to stderr as one JSON document.
    if (ctx.flags.json) ctx.io.stderr.write(`${JSON.stringify(summary)}\n`);
    return { exitCode: 0, json: summary, text: "", streamed: true };
  }
}
