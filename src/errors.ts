/**
 * The error vocabulary of efsbak. Every error a user may see is an EfsbakError with an
 * exit code and, where there is one, a next step (hint). cli/main.ts is the one place that
 * maps them to exit codes and prints them; anything else is an internal error.
 *
 * Messages: sentence case, no trailing period, the failed action first, a colon before the
 * detail, values quoted. Never a password, key or signature.
 */

/** Base class: a failure efsbak understands, printed without a stack. */
export class EfsbakError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  constructor(message: string, options: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? 1;
    this.hint = options.hint;
  }
}

/** One problem in a plan file, positioned at the offending key or value (1-based). */
export interface PlanProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

/** Plan files are invalid; carries every problem found, exit 2. */
export class PlanError extends EfsbakError {
  readonly problems: PlanProblem[];
  constructor(problems: PlanProblem[]) {
    super(
      problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).join("\n"),
      { exitCode: 2, hint: 'fix the plan files, then run "efsbak validate"' },
    );
    this.problems = problems;
  }
}

/** The command line is wrong, exit 2. */
export class UsageError extends EfsbakError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: 2, hint });
  }
}

/** Another job holds the lock or lease, exit 4. */
export class LockedError extends EfsbakError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: 4, hint });
  }
}

/** A vault object is missing, corrupt, truncated or of an unknown version; names the object. */
export class VaultDamageError extends EfsbakError {
  readonly key: string;
  constructor(key: string, detail: string, hint = 'run "efsbak check --read-data" to see what is affected') {
    super(`Cannot read "${key}": ${detail}`, { exitCode: 1, hint });
    this.key = key;
  }
}
