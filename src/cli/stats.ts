/** `efsbak stats [RP]`: logical, unique and stored bytes, dedup and compression ratios, and what a deletion frees. */
import { listRecoveryPoints } from "../vault/recovery-point.ts";
import { vaultStats, type RpStats, type VaultStats } from "../vault/stats.ts";
import { resolveRecoveryPoint } from "./rp-ref.ts";
import { COMMON_EXIT, VAULT_ARG, command } from "./command.ts";
import { vaultTreeLoader } from "./ls.ts";
import { formatBytes, formatCount, formatTime, table } from "./output.ts";
import { phaseProgress } from "./progress.ts";

const ratio = (r: number) => `${r.toFixed(2)}x`;

function vaultText(name: string, v: VaultStats): string {
  return [
    `vault ${name}: ${formatCount(v.recovery_points)} recovery points, ${formatCount(v.files)} files, ${formatCount(v.blobs)} blobs`,
    `  logical ${formatBytes(v.logical_bytes)}, unique ${formatBytes(v.unique_bytes)}, stored ${formatBytes(v.stored_bytes)} (+ ${formatBytes(v.metadata_bytes)} trees)`,
    `  dedup ${ratio(v.dedup_ratio)}, compression ${ratio(v.compression_ratio)}; packs ${formatBytes(v.pack_bytes)}, of which ${formatBytes(v.unreferenced_bytes)} unused (the next prune reclaims it)`,
    ...(v.missing_blobs ? [`  ${formatCount(v.missing_blobs)} chunks or trees are missing from the index: run "efsbak check"`] : []),
  ].join("\n");
}

function rpRows(rps: RpStats[]): string {
  return table(["ID", "RESOURCE", "CREATED", "FILES", "LOGICAL", "UNIQUE", "STORED", "DEDUP", "COMPRESSION", "DELETE FREES"], rps.map((s) => [
    s.recovery_point, s.resource, formatTime(s.created_at), formatCount(s.files), formatBytes(s.logical_bytes), formatBytes(s.unique_bytes), formatBytes(s.stored_bytes),
    ratio(s.dedup_ratio), ratio(s.compression_ratio), formatBytes(s.freed_bytes),
  ]));
}

/** The stats command. */
export const statsCommand = command({
  name: "stats",
  description: "space of recovery points and the vault: logical, unique, stored bytes, ratios, what a deletion frees",
  args: {
    rp: { type: "positional", description: "one recovery point (id, unique prefix, or \"latest\"); all when left out", required: false },
    ...VAULT_ARG,
    resource: { type: "string", description: "only recovery points of this resource (the vault figures still count all)", valueHint: "ID" },
  },
  exitStatus: COMMON_EXIT,
  async run({ ctx, args }) {
    const target = ctx.vaultTarget(args.vault as string | undefined);
    const vault = await ctx.openVault(target);
    const rps = await listRecoveryPoints(vault, { onDamage: (e) => ctx.log.warn(e.message) });
    const one = args.rp ? resolveRecoveryPoint(rps, String(args.rp), { resource: args.resource as string | undefined }) : null;
    const progress = phaseProgress(ctx, { verb: "counting", units: { counting: " recovery points" } });
    const r = await vaultStats(vault.index, rps, {
      load: vaultTreeLoader(vault),
      signal: ctx.io.signal,
      onDamage: (e) => ctx.log.warn(e.message),
      onProgress: (done, total) => progress.update({ phase: "counting", done, total }),
    }).finally(progress.done);
    const shown = r.rps.filter((s) => (one ? s.recovery_point === one.id : !args.resource || s.resource === args.resource));
    const text = one ? `${rpRows(shown)}\n\n${vaultText(target.name, r.vault)}` : `${shown.length ? `${rpRows(shown)}\n\n` : ""}${vaultText(target.name, r.vault)}`;
    return { exitCode: 0, json: { vault: { name: target.name, ...r.vault }, recovery_points: shown }, text };
  },
});
