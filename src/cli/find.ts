/** `efsbak find PATTERN`: paths matching a glob in every recovery point, newest first, streamed. */
import { UsageError } from "../errors.ts";
import { compileFindPattern, findInTrees } from "../tree/find.ts";
import { displayName } from "../tree/name.ts";
import type { Node } from "../tree/node.ts";
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import { COMMON_EXIT, VAULT_ARG, command } from "./command.ts";
import { vaultTreeLoader } from "./ls.ts";
import { streamTo, untilInterrupted } from "./stream.ts";

function matchJson(rp: string, path: string, n: Node): Record<string, unknown> {
  return {
    recovery_point: rp,
    path: displayName(path),
    type: n.type,
    ...(n.type === "file" ? { size: n.size } : {}),
    mtime: new Date(Number(BigInt(n.mtime) / 1_000_000n)).toISOString(),
  };
}

/** The find command. */
export const findCommand = command({
  name: "find",
  description: "list paths matching a glob in every recovery point (as .gitignore matches)",
  args: {
    pattern: { type: "positional", description: "a glob: without \"/\" it matches a name at any depth (\"*.conf\"), with one a path from the root (\"etc/*.conf\"); a trailing \"/\" only directories", required: true },
    ...VAULT_ARG,
    resource: { type: "string", description: "only recovery points of this resource", valueHint: "ID" },
    newest: { type: "string", description: "only the N newest recovery points", valueHint: "N" },
  },
  exitStatus: COMMON_EXIT,
  async run({ ctx, args }) {
    const pattern = compileFindPattern(String(args.pattern));
    let newest: number | null = null;
    if (args.newest !== undefined) {
      newest = Number(args.newest);
      if (!Number.isInteger(newest) || newest < 1) throw new UsageError(`Cannot read --newest "${args.newest}": expected a whole number of 1 or more`);
    }
    const vault = await ctx.openVault(ctx.vaultTarget(args.vault as string | undefined));
    let rps = (await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) }))
      .filter((r) => !args.resource || r.resource === args.resource)
      .reverse();
    if (newest !== null) rps = rps.slice(0, newest);
    const out = streamTo(ctx.io.stdout);
    const json = ctx.flags.json;
    if (json) await out.write('{\n  "matches": [');
    let count = 0;
    await untilInterrupted("find", ctx.io.signal, async () => {
      for await (const m of findInTrees(rps.map((r) => ({ rp: r.id, tree: r.tree })), pattern, { load: vaultTreeLoader(vault), signal: ctx.io.signal })) {
        await out.write(json ? `${count ? "," : ""}\n    ${JSON.stringify(matchJson(m.rp, m.path, m.node))}` : `${m.rp}\t${displayName(m.path)}\n`);
        count++;
      }
    });
    if (json) await out.write(`${count ? "\n  " : ""}],\n  "recovery_points": ${rps.length},\n  "count": ${count}\n}\n`);
    ctx.log.info(`${count} matches in ${rps.length} recovery points`);
    return { exitCode: 0, json: null, text: "", streamed: true };
  },
});
