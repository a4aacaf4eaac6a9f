/**
 * `efsbak vault key add|list|remove ID|passwd`: the passwords of an encrypted vault.
 *
 *   unlock with the current password (EFSBAK_PASSWORD…)
 *   add     new key file for the new password (EFSBAK_NEW_PASSWORD…), same master key
 *   list    key files: id, created, label, Argon2id parameters, which one is in use
 *   remove  a key file by id or unique prefix; never the last, never the one in use
 *   passwd  new key file for the new password, then remove the one in use
 *
 * Data is never re-encrypted: every key file wraps the same master key.
 */
import { EfsbakError, UsageError } from "../errors.ts";
import { type KeyInfo, addKey, changePassword, listKeys, removeKey } from "../vault/keys.ts";
import { readConfig } from "../vault/vault.ts";
import { VAULT_ARG, command } from "./command.ts";
import { formatTime } from "./output.ts";
import { newKeyKdf, passwordVariables, readPassword, unlockWithPassword } from "./password.ts";

const ACTIONS = ["add", "list", "remove", "passwd"] as const;

/** The vault key command. */
export const vaultKeyCommand = command({
  name: "vault key",
  description: "manage the passwords of an encrypted vault: add | list | remove ID | passwd",
  args: {
    action: { type: "positional", description: ACTIONS.join(" | "), required: true },
    id: { type: "positional", description: "remove: the key's id (or a unique prefix of 4+ digits)", required: false },
    ...VAULT_ARG,
    label: { type: "string", description: "add, passwd: a note on the new key, shown by list (stored encrypted)", valueHint: "TEXT" },
  },
  exitStatus: [
    "0  success",
    `1  failure: wrong or missing password (${passwordVariables()}; new ones from ${passwordVariables("new")}), the last key or the key in use cannot be removed`,
    "2  usage error",
  ],
  async run({ ctx, args }) {
    const action = String(args.action);
    if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`Unknown action "${action}" for "efsbak vault key"`, `use one of ${ACTIONS.join(", ")}`);
    if (action === "remove" && !args.id) throw new UsageError('Cannot remove a key: name it, e.g. "efsbak vault key remove 3fa1"', 'see "efsbak vault key list"');
    if (action !== "remove" && args.id) throw new UsageError(`Unexpected argument "${args.id}" for "efsbak vault key ${action}"`);
    if (args.label !== undefined && action !== "add" && action !== "passwd") throw new UsageError(`Cannot use --label with "vault key ${action}"`);
    const target = ctx.vaultTarget(args.vault as string | undefined);
    const { storage } = ctx.storageOf(target);
    const config = await readConfig(storage);
    if (!config) throw new EfsbakError(`Cannot open vault "${target.name}": there is no vault at "${storage.location}"`, { exitCode: 1, hint: 'create it with "efsbak vault init --encryption aes-256-gcm"' });
    if (!config.encryption) throw new EfsbakError(`Cannot manage keys of vault "${target.name}": it is not encrypted`, { exitCode: 1, hint: "encryption is chosen when a vault is created" });
    const unlocked = await unlockWithPassword(ctx, { name: target.name, storage, config });
    const label = (args.label as string | undefined) ?? undefined;

    if (action === "list") {
      const keys = await listKeys(storage, unlocked);
      const rows = keys.map((k) => `${k.current ? "*" : " "} ${k.id}  ${formatTime(k.created_at)}  ${kdfText(k)}${k.label ? `  ${k.label}` : ""}`);
      return { exitCode: 0, json: { keys: keys.map(keyJson) }, text: `${rows.join("\n")}\n(* the key the current password opened)` };
    }
    if (action === "remove") {
      const removed = await removeKey(storage, unlocked, { id: String(args.id) });
      return { exitCode: 0, json: { removed: keyJson(removed) }, text: `Removed key ${removed.id} from vault "${target.name}"` };
    }
    const password = await readPassword(ctx, { action: `${action === "add" ? "add a key to" : "change the password of"} vault "${target.name}"`, kind: "new", confirm: true });
    if (action === "add") {
      const added = await addKey(storage, unlocked, { password, now: ctx.now(), kdf: newKeyKdf(ctx), label: label ?? null });
      return { exitCode: 0, json: { added: keyJson(added) }, text: `Added key ${added.id} to vault "${target.name}"` };
    }
    const { added, removed } = await changePassword(storage, unlocked, { password, now: ctx.now(), kdf: newKeyKdf(ctx), label });
    return { exitCode: 0, json: { added: keyJson(added), removed }, text: `Changed the password of vault "${target.name}": key ${added.id} replaces ${removed}` };
  },
});

function keyJson(k: KeyInfo) {
  return { id: k.id, created_at: k.created_at, label: k.label, current: k.current, kdf: k.kdf };
}

function kdfText(k: KeyInfo): string {
  return `argon2id ${k.kdf.memory_kib >= 1024 ? `${k.kdf.memory_kib / 1024} MiB` : `${k.kdf.memory_kib} KiB`}, t=${k.kdf.iterations}, p=${k.kdf.parallelism}`;
}
