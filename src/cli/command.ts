/**
 * The shape of an efsbak command: a citty command definition plus what citty has no place
 * for (exit statuses for --help, repeatable options). A command returns an Outcome; only
 * cli/main.ts prints it and turns it into an exit code.
 */
import { defineCommand, type ArgsDef, type CommandDef, type ParsedArgs } from "citty";
import type { Context } from "./context.ts";

/** What a command produced: its --json document, its text, and the exit code. */
export interface Outcome {
  exitCode: number;
  json: unknown;
  text: string;
  /** The command already wrote its output as it went (cli/stream.ts): print nothing more. */
  streamed?: boolean;
}

/** What a command's run receives. */
export interface RunInput<A extends ArgsDef> {
  ctx: Context;
  args: ParsedArgs<A>;
  /** Values of repeatable options, in order. */
  repeated: Record<string, string[]>;
}

/** A command of the efsbak CLI. */
export interface EfsbakCommand {
  name: string;
  description: string;
  def: CommandDef<any>;
  repeatable: string[];
  /** Options given without a value get this value (e.g. --read-data means 100%). */
  implied: Record<string, string>;
  exitStatus: string[];
  run(input: RunInput<any>): Promise<Outcome>;
}

/** The exit statuses most commands share. */
export const COMMON_EXIT = ["0  success", "1  failure (the message says what failed and what was kept)", "2  usage or plan error"];

/** Defines a command. */
export function command<A extends ArgsDef>(spec: {
  name: string;
  description: string;
  args: A;
  repeatable?: string[];
  implied?: Record<string, string>;
  exitStatus?: string[];
  run(input: RunInput<A>): Promise<Outcome>;
}): EfsbakCommand {
  return {
    name: spec.name,
    description: spec.description,
    def: defineCommand({ meta: { name: spec.name, description: spec.description }, args: spec.args }),
    repeatable: spec.repeatable ?? [],
    implied: spec.implied ?? {},
    exitStatus: spec.exitStatus ?? COMMON_EXIT,
    run: spec.run as EfsbakCommand["run"],
  };
}

/** Options most commands take. */
export const VAULT_ARG = {
  vault: { type: "string", description: "vault name from the plans, or a path or s3:// URL", valueHint: "NAME|URL" },
} as const;
