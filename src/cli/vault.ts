/** `efsbak vault init URL`: create a vault. */
import { UsageError } from "../errors.ts";
import { initVault, readConfig } from "../vault/vault.ts";
import { EfsbakError } from "../errors.ts";
import { COMMON_EXIT, command } from "./command.ts";

/** The vault init command. */
export const vaultInitCommand = command({
  name: "vault init",
  description: "create a vault (a local directory or s3://bucket/prefix)",
  args: {
    url: { type: "positional", description: "vault name from the plans, a directory, or s3://bucket/prefix", required: true },
    encryption: { type: "string", description: "aes-256-gcm (password from EFSBAK_PASSWORD…)", valueHint: "ALGORITHM" },
  },
  exitStatus: COMMON_EXIT,
  async run({ ctx, args }) {
    const target = ctx.vaultTarget(String(args.url));
    const encryption = (args.encryption as string | undefined) ?? target.spec?.encryption ?? null;
    if (encryption && encryption !== "aes-256-gcm") throw new UsageError(`Cannot use encryption "${encryption}": the only algorithm is aes-256-gcm`);
    if (encryption) throw new EfsbakError("Cannot create an encrypted vault: encryption is not available in this version yet", { exitCode: 1, hint: "create the vault without --encryption for now" });
    const { storage, cold } = ctx.storageOf(target);
    if (await readConfig(storage)) throw new EfsbakError(`Cannot create vault "${target.name}": a vault already exists at "${storage.location}"`, { exitCode: 1, hint: "use it as it is, or choose another path" });
    const config = await initVault(storage, { cold, now: ctx.now() });
    return {
      exitCode: 0,
      json: { vault: { name: target.name, location: storage.location, id: config.id, created_at: config.created_at, format_version: config.version, encryption: config.encryption } },
      text: `Created vault "${target.name}" at ${storage.location} (id ${config.id})`,
    };
  },
});
