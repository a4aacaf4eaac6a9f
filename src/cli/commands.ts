/** Every command of the CLI, by name. */
import type { EfsbakCommand } from "./command.ts";
import { backupCommand } from "./backup.ts";
import { checkCommand } from "./check.ts";
import { completionCommand } from "./completion.ts";
import { copyCommand } from "./copy.ts";
import { consoleCommand } from "./console.ts";
import { drillCommand } from "./drill.ts";
import { dumpCommand } from "./dump.ts";
import { findCommand } from "./find.ts";
import { jobsCommand } from "./jobs.ts";
import { diffCommand, lsCommand } from "./ls.ts";
import { pruneCommand } from "./prune.ts";
import { recoveryPointsCommand } from "./recovery-points.ts";
import { recoveryPointsDeleteCommand } from "./recovery-points-delete.ts";
import { reportCommand } from "./report.ts";
import { restoreCommand } from "./restore.ts";
import { runCommandDef } from "./run.ts";
import { statsCommand } from "./stats.ts";
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
  dump: dumpCommand,
  find: findCommand,
  stats: statsCommand,
  copy: copyCommand,
  jobs: jobsCommand,
  check: checkCommand,
  prune: pruneCommand,
  drill: drillCommand,
  report: reportCommand,
  console: consoleCommand,
  completion: completionCommand(() => ({ commands: COMMANDS, groups: GROUPS })),
};

/** Commands with subcommands (`efsbak vault init`). */
export const GROUPS: Record<string, Record<string, EfsbakCommand>> = {
  vault: { init: vaultInitCommand, key: vaultKeyCommand, lock: vaultLockCommand },
  "recovery-points": { delete: recoveryPointsDeleteCommand },
};
