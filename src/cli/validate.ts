/** `efsbak validate [DIR]`: check plan files and report every problem at once. */
import { PlanError } from "../errors.ts";
import { command } from "./command.ts";

/** The validate command. */
export const validateCommand = command({
  name: "validate",
  description: "check plan files; print every problem as file:line:col: message",
  args: {
    dir: { type: "positional", description: "plans directory (default: --plans or \"plans\")", required: false },
  },
  exitStatus: ["0  the plans are valid", "2  the plans have problems (each printed as file:line:col: message)"],
  async run({ ctx, args }) {
    if (args.dir !== undefined) ctx.usePlansDir(args.dir as string);
    const dir = (args.dir as string | undefined) ?? ctx.flags.plans ?? "plans";
    try {
      const plans = ctx.plans({ required: true })!;
      const rules = plans.plans.reduce((n, p) => n + p.rules.length, 0);
      const summary = { valid: true, vaults: plans.vaults.size, resources: plans.resources.size, plans: plans.plans.length, rules, restore_tests: plans.restoreTests.length, problems: [] };
      return { exitCode: 0, json: summary, text: `${dir}: valid (${plans.vaults.size} vaults, ${plans.resources.size} resources, ${plans.plans.length} plans, ${rules} rules)` };
    } catch (err) {
      if (!(err instanceof PlanError)) throw err;
      const text = `${err.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).join("\n")}\n${err.problems.length} problem${err.problems.length === 1 ? "" : "s"} in ${dir}`;
      return { exitCode: 2, json: { valid: false, problems: err.problems }, text };
    }
  },
});
