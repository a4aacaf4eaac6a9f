/** `efsbak vault init URL`: create a vault, encrypted with --encryption aes-256-gcm. */
import { EfsbakError, UsageError } from "../errors.ts";
import { initEncryptedVault } from "../vault/keys.ts";
import { initVault, readConfig } from "../vault/vault.ts";
import { COMMON_EXIT, command } from "./command.ts";
import { newKeyKdf, passwordVariables, readPassword } from "./password.ts";

/** The vault init command. */
export const vaultInitCommand = command({
  name: "vault init",
  description: "create a vault (a local directory or s3://bucket/prefix)",
  args: {
    url: { type: "positional", description: "vault name from the plans, a directory, or s3://bucket/prefix", required: true },
    encryption: { type: "string", description: `aes-256-gcm (password from ${passwordVariables()}, or asked on a terminal)`, valueHint: "ALGORITHM" },
    label: { type: "string", description: "a note on the first key, shown by \"vault key list\" (encrypted)", valueHint: "TEXT" },
  },
  exitStatus: COMMON_EXIT,
  async run({ ctx, args }) {
    const target = ctx.vaultTarget(String(args.url));
    const encryption = (args.encryption as string | undefined) ?? target.spec?.encryption ?? null;
    if (encryption && encryption !== "aes-256-gcm") throw new UsageError(`Cannot use encryption "${encryption}": the only algorithm is aes-256-gcm`);
    if (!encryption && args.label !== undefined) throw new UsageError("Cannot use --label without --encryption: only encrypted vaults have keys");
    const { storage, cold } = ctx.storageOf(target);
    if (await readConfig(storage)) throw new EfsbakError(`Cannot create vault "${target.name}": a vault already exists at "${storage.location}"`, { exitCode: 1, hint: "use it as it is, or choose another path" });
    let keyId: string | null = null;
    let config;
    if (encryption) {
      const password = await readPassword(ctx, { action: `create encrypted vault "${target.name}"`, confirm: true });
      const made = await initEncryptedVault(storage, password, { cold, now: ctx.now(), kdf: newKeyKdf(ctx), label: (args.label as string | undefined) ?? null });
      config = made.config;
      keyId = made.unlocked.keyId;
    } else {
      config = await initVault(storage, { cold, now: ctx.now() });
    }
    return {
      exitCode: 0,
      json: { vault: { name: target.name, location: storage.location, id: config.id, created_at: config.created_at, format_version: config.version, encryption: config.encryption, key: keyId } },
      text: `Created ${encryption ? "encrypted " : ""}vault "${target.name}" at ${storage.location} (id ${config.id}${keyId ? `, key ${keyId}` : ""})` +
        (encryption ? "\nKeep the password safe: without it (or another key's) the vault cannot be read, by anyone" : ""),
    };
  },
});
