/** Every command of the CLI, by name. */
import type { EfsbakCommand } from "./command.ts";
import { backupCommand } from "./backup.ts";
import { checkCommand } from "./check.ts";
import { completionCommand } from "./completion.ts";
import { drillCommand } from "./drill.ts";
import { jobsCommand } from "./jobs.ts";
import { diffCommand, lsCommand } from "./ls.ts";
import { pruneCommand } from "./prune.ts";
import { recoveryPointsCommand } from "./recovery-points.ts";
import { reportCommand } from "./report.ts";
import { restoreCommand } from "./restore.ts";
import { runCommandDef } from "./run.ts";
import { validateCommand } from "./validate.ts";
import { vaultInitCommand } from "./vault.ts";
import { vaultKeyCommand } from "./vault-key.ts";
import { vaultLockCommand } from "./vault-lock.ts";

/** Top-level commands. */
export const COMMANDS: Record<string, EfsbakCommand> = {
  run: runCommandDef,
  validate: validateCommand,
  backup: backupCommand,
  restore: restoreCommand,
  "recovery-points": recoveryPointsCommand,
  ls: lsCommand,
  diff: diffCommand,
  jobs: jobsCommand,
  check: checkCommand,
  prune: pruneCommand,
  drill: drillCommand,
  report: reportCommand,
  completion: completionCommand(() => ({ commands: COMMANDS, groups: GROUPS })),
};

/** Commands with subcommands (`efsbak vault init`). */
export const GROUPS: Record<string, Record<string, EfsbakCommand>> = {
  vault: { init: vaultInitCommand, key: vaultKeyCommand, lock: vaultLockCommand },
};
