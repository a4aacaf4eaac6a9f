/**
 * `efsbak vault lock`: the vault lock stored in the vault (vault/vault-lock.ts). With
 * --min-retention / --max-retention it tightens the lock (never loosens it: exit 1); without
 * them it prints the lock in force.
 */
import { UsageError } from "../errors.ts";
import { formatDuration, parseDuration } from "../plan/duration.ts";
import { readVaultLock, tightenVaultLock, type RetentionLock } from "../vault/vault-lock.ts";
import { VAULT_ARG, command } from "./command.ts";

/** The vault lock command. */
export const vaultLockCommand = command({
  name: "vault lock",
  description: "show the vault lock stored in the vault, or tighten it (--min-retention, --max-retention)",
  args: {
    ...VAULT_ARG,
    "min-retention": { type: "string", description: "no recovery point younger than this may be deleted, by anyone (can only grow)", valueHint: "DURATION" },
    "max-retention": { type: "string", description: "recovery points older than this are deleted (can only shrink)", valueHint: "DURATION" },
  },
  exitStatus: ["0  the lock was shown, or is now in force", "1  the change would loosen the lock (or the vault cannot be read)", "2  usage error"],
  async run({ ctx, args }) {
    const target = ctx.vaultTarget(args.vault as string | undefined);
    const vault = await ctx.openVault(target);
    const wanted: RetentionLock = {};
    const min = durationFlag(args["min-retention"] as string | undefined, "--min-retention");
    const max = durationFlag(args["max-retention"] as string | undefined, "--max-retention");
    if (min !== undefined) wanted.minRetentionMs = min;
    if (max !== undefined) wanted.maxRetentionMs = max;
    if (min === undefined && max === undefined) {
      const lock = await readVaultLock(vault);
      return { exitCode: 0, json: { vault: target.name, lock: lockJson(lock, lock?.setAt ?? null) }, text: lock ? `Vault "${target.name}" is locked: ${describe(lock)} (last tightened ${lock.setAt})` : `Vault "${target.name}" has no lock stored in it` };
    }
    const r = await tightenVaultLock(vault, wanted, { now: ctx.now(), name: target.name, format: formatDuration });
    const text = r.changed ? `Locked vault "${target.name}": ${describe(r.lock)}` : `Vault "${target.name}" is already locked so: ${describe(r.lock)}`;
    return { exitCode: 0, json: { vault: target.name, changed: r.changed, lock: lockJson(r.lock, null) }, text };
  },
});

function durationFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === null || ms <= 0) throw new UsageError(`Cannot read ${flag} "${text}": expected a duration like 7d, 30d or 10y`);
  return ms;
}

function describe(lock: RetentionLock): string {
  const parts = [];
  if (lock.minRetentionMs !== undefined) parts.push(`min_retention ${formatDuration(lock.minRetentionMs)}`);
  if (lock.maxRetentionMs !== undefined) parts.push(`max_retention ${formatDuration(lock.maxRetentionMs)}`);
  return parts.join(", ") || "no bounds";
}

function lockJson(lock: RetentionLock | null, setAt: string | null): Record<string, unknown> | null {
  if (!lock) return null;
  return {
    min_retention: lock.minRetentionMs !== undefined ? formatDuration(lock.minRetentionMs) : null,
    max_retention: lock.maxRetentionMs !== undefined ? formatDuration(lock.maxRetentionMs) : null,
    min_retention_ms: lock.minRetentionMs ?? null,
    max_retention_ms: lock.maxRetentionMs ?? null,
    ...(setAt ? { set_at: setAt } : {}),
  };
}
