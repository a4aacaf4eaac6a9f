/**
 * `efsbak completion bash|zsh|fish`: a completion script built from the command table, so
 * commands, subcommands and options never drift from what the CLI accepts.
 *
 *   table: every command (groups as "group sub") -> options (name, takes a value, hint),
 *          positional kind (directory, choices, nothing), description
 *   values: a hint with "|" lists its choices; DIR completes directories, PATH files;
 *           STATE and TYPE the job states and types
 */
import { UsageError } from "../errors.ts";
import { FINAL_STATES } from "../vault/job-record.ts";
import { GLOBAL_OPTIONS } from "./args.ts";
import { command, type EfsbakCommand } from "./command.ts";

/** One option of a command. */
interface OptionSpec {
  name: string;
  short?: string;
  value: boolean;
  hint: string;
  description: string;
}

/** One command as completion sees it. */
interface CommandSpec {
  /** "run", or "vault init" for a subcommand. */
  name: string;
  description: string;
  options: OptionSpec[];
  /** What the first positional argument is. */
  positional: "dir" | "none" | string[];
}

const SHELLS = ["bash", "zsh", "fish"] as const;
const JOB_STATES = ["CREATED", "PENDING", "RUNNING", "ABORTING", "ABORTED", ...FINAL_STATES].filter((s, i, a) => a.indexOf(s) === i);
const JOB_TYPES = ["backup", "restore", "prune", "check", "drill", "copy"];
const GLOBAL_HINTS: Record<string, { hint: string; description: string }> = {
  plans: { hint: "DIR", description: "plans directory" },
  now: { hint: "ISO-8601", description: "plan clock" },
  "metrics-file": { hint: "FILE", description: "write a Prometheus textfile afterwards" },
  "limit-upload": { hint: "MIB", description: "cap S3 uploads, MiB/s" },
  "limit-download": { hint: "MIB", description: "cap S3 downloads, MiB/s" },
  json: { hint: "", description: "one JSON document on stdout" },
  quiet: { hint: "", description: "only errors" },
  verbose: { hint: "", description: "more detail" },
  help: { hint: "", description: "show help" },
  version: { hint: "", description: "show the version" },
};
/** Positional arguments that are directories (or, for completion, choices). */
const POSITIONAL: Record<string, CommandSpec["positional"]> = {
  run: "dir",
  validate: "dir",
  backup: "dir",
  "vault init": "dir",
};

/** The completion table of a command set. */
export function completionTable(commands: Record<string, EfsbakCommand>, groups: Record<string, Record<string, EfsbakCommand>>): { commands: CommandSpec[]; groups: Record<string, string[]>; globals: OptionSpec[] } {
  const spec = (c: EfsbakCommand): CommandSpec => ({
    name: c.name,
    description: c.description,
    options: Object.entries(c.def.args ?? {})
      .filter(([, d]) => (d as { type?: string }).type !== "positional")
      .map(([name, d]) => {
        const a = d as { type?: string; valueHint?: string; description?: string };
        return { name, value: a.type !== "boolean", hint: a.valueHint ?? "", description: a.description ?? "" };
      }),
    positional: POSITIONAL[c.name] ?? positionalChoices(c) ?? "none",
  });
  const list = Object.values(commands).map(spec);
  const groupNames: Record<string, string[]> = {};
  for (const [g, subs] of Object.entries(groups)) {
    groupNames[g] = Object.keys(subs);
    list.push(...Object.values(subs).map(spec));
  }
  const globals = GLOBAL_OPTIONS.map((o) => ({ ...o, hint: GLOBAL_HINTS[o.name]?.hint ?? "", description: GLOBAL_HINTS[o.name]?.description ?? "" }));
  return { commands: list, groups: groupNames, globals };
}

/** A first positional described as "a | b | c" completes to those words. */
function positionalChoices(c: EfsbakCommand): string[] | null {
  const first = Object.values(c.def.args ?? {}).find((d) => (d as { type?: string }).type === "positional") as { description?: string } | undefined;
  const m = /^\s*[a-z][\w-]*(\s*\|\s*[a-z][\w-]*)+\s*$/.exec(first?.description ?? "");
  return m ? m[0].split("|").map((w) => w.trim()) : null;
}

/** Words an option's value completes to; "dir"/"file" for paths; null for free text. */
function valueWords(hint: string): string[] | "dir" | "file" | null {
  if (hint.includes("|") && !/[A-Z]/.test(hint)) return hint.split("|");
  if (hint === "DIR") return "dir";
  if (hint === "FILE") return "file";
  if (hint === "STATE") return JOB_STATES;
  if (hint === "TYPE") return JOB_TYPES;
  return null;
}

const sq = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

/** The bash script. */
export function bashScript(t: ReturnType<typeof completionTable>): string {
  // A name may be a command and a group at once ("recovery-points", "recovery-points delete").
  const tops = [...new Set([...t.commands.filter((c) => !c.name.includes(" ")).map((c) => c.name), ...Object.keys(t.groups)])];
  const allOptions = [...t.globals, ...t.commands.flatMap((c) => c.options)];
  const valueOpts = [...new Set(allOptions.filter((o) => o.value).map((o) => `--${o.name}`))];
  const globalWords = t.globals.flatMap((o) => [`--${o.name}`, ...(o.short ? [o.short] : [])]).join(" ");
  const byHint = new Map<string, Set<string>>();
  for (const o of allOptions.filter((o) => o.value)) {
    const w = valueWords(o.hint);
    const key = w === null ? "" : Array.isArray(w) ? w.join(" ") : w;
    if (!byHint.has(key)) byHint.set(key, new Set());
    byHint.get(key)!.add(`--${o.name}`);
  }
  const valueCases: string[] = [];
  for (const [key, opts] of byHint) {
    const names = [...opts].join("|");
    const reply = key === "" ? "return 0" : key === "dir" ? 'COMPREPLY=($(compgen -d -- "$cur")); return 0' : key === "file" ? 'COMPREPLY=($(compgen -f -- "$cur")); return 0' : `COMPREPLY=($(compgen -W ${sq(key)} -- "$cur")); return 0`;
    valueCases.push(`    ${names}) ${reply} ;;`);
  }
  const cmdCases: string[] = [];
  for (const c of t.commands) {
    const [top, sub] = c.name.split(" ");
    const flags = c.options.map((o) => `--${o.name}`).join(" ");
    const pos = c.positional === "dir" ? 'COMPREPLY=($(compgen -d -- "$cur"))' : Array.isArray(c.positional) ? `COMPREPLY=($(compgen -W ${sq(c.positional.join(" "))} -- "$cur"))` : "COMPREPLY=()";
    cmdCases.push(`    ${sq(`${top}${sub ? ` ${sub}` : ""}`)}) flags=${sq(flags)}; _efsbak_positional() { ${pos}; } ;;`);
  }
  const groupCases = Object.entries(t.groups).map(([g, subs]) => `    ${sq(g)}) if [[ $cur != -* ]]; then COMPREPLY=($(compgen -W ${sq(subs.join(" "))} -- "$cur")); return 0; fi ;;`);
  return `# bash completion for efsbak, generated by "efsbak completion bash".
# Load it now:   source <(efsbak completion bash)
# or for good:   efsbak completion bash > /etc/bash_completion.d/efsbak
_efsbak() {
  local cur prev cmd="" sub="" i w flags=""
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local value_opts=${sq(` ${valueOpts.join(" ")} `)}
  local groups=${sq(` ${Object.keys(t.groups).join(" ")} `)}
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [[ $w == -* ]]; then
      if [[ $w != *=* && $value_opts == *" $w "* ]]; then ((i++)); fi
      continue
    fi
    if [[ -z $cmd ]]; then
      cmd=$w
    elif [[ -z $sub && $groups == *" $cmd "* ]]; then
      sub=$w
    fi
  done
  case "$prev" in
${valueCases.join("\n")}
  esac
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W ${sq(globalWords)} -- "$cur"))
    else
      COMPREPLY=($(compgen -W ${sq(tops.join(" "))} -- "$cur"))
    fi
    return 0
  fi
  if [[ -z $sub ]]; then
    case "$cmd" in
${groupCases.join("\n")}
    esac
  fi
  local key="$cmd"
  [[ -n $sub ]] && key="$cmd $sub"
  _efsbak_positional() { COMPREPLY=(); }
  case "$key" in
${cmdCases.join("\n")}
    *) return 0 ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags "${sq(globalWords)} -- "$cur"))
  else
    _efsbak_positional
  fi
  return 0
}
complete -o filenames -F _efsbak efsbak
`;
}

/** Text safe inside a zsh _arguments description and a single-quoted word. */
function zdesc(s: string): string {
  return s.replace(/[[\]]/g, (c) => (c === "[" ? "(" : ")")).replace(/:/g, " -").replace(/'/g, "'\\''").replace(/\$/g, "\\$");
}

/** Text safe as the description of a _describe item (after the first colon) in single quotes. */
function zitem(s: string): string {
  return s.replace(/'/g, "'\\''");
}

function zshOption(o: OptionSpec): string {
  const w = valueWords(o.hint);
  const action = w === "dir" ? "_files -/" : w === "file" ? "_files" : Array.isArray(w) ? `(${w.join(" ")})` : " ";
  const names = o.short ? `'(${o.short} --${o.name})'{${o.short},--${o.name}}` : `'--${o.name}`;
  const desc = `[${zdesc(o.description)}]`;
  const tail = o.value ? `:${zdesc(o.hint || "value")}:${action}` : "";
  return o.short ? `${names}'${desc}${tail}'` : `${names}${o.value ? "=" : ""}${desc}${tail}'`;
}

/** The zsh script. */
export function zshScript(t: ReturnType<typeof completionTable>): string {
  const plain = t.commands.filter((c) => !c.name.includes(" "));
  const both = new Set(plain.map((c) => c.name).filter((n) => t.groups[n]));
  const tops = plain.map((c) => `'${c.name}:${zitem(c.description)}'`);
  for (const g of Object.keys(t.groups).filter((g) => !both.has(g))) tops.push(`'${g}:${zitem(t.commands.filter((c) => c.name.startsWith(`${g} `)).map((c) => c.name.split(" ")[1]).join(", "))} subcommands'`);
  const globals = t.globals.map(zshOption).join(" \\\n    ");
  const argsFor = (c: CommandSpec) => {
    const pos = c.positional === "dir" ? ` '1: :_files -/'` : Array.isArray(c.positional) ? ` '1: :(${c.positional.join(" ")})'` : "";
    return `_arguments -s $globals ${c.options.map(zshOption).join(" ")}${pos}`;
  };
  const cases: string[] = [];
  for (const c of plain.filter((c) => !both.has(c.name))) cases.push(`      ${c.name}) ${argsFor(c)} ;;`);
  for (const [g, subs] of Object.entries(t.groups)) {
    const self = plain.find((c) => c.name === g);
    const subCases = t.commands.filter((c) => c.name.startsWith(`${g} `)).map((c) => `            ${c.name.split(" ")[1]}) ${argsFor(c)} ;;`);
    if (self) subCases.push(`            *) ${argsFor(self)} ;;`);
    const items = t.commands.filter((c) => c.name.startsWith(`${g} `)).map((c) => `'${c.name.split(" ")[1]}:${zitem(c.description)}'`).join(" ");
    cases.push(`      ${g})
        if (( CURRENT == 2 ))${self ? ` && [[ $PREFIX != -* ]]` : ""}; then
          local -a subs; subs=(${items})
          _describe -t commands '${g} subcommand' subs
        ${self ? `elif (( CURRENT == 2 )); then
          ${argsFor(self)}
        ` : ""}else
          shift words; (( CURRENT-- ))
          case $words[1] in
${subCases.join("\n")}
          esac
        fi ;;`);
    void subs;
  }
  return `#compdef efsbak
# zsh completion for efsbak, generated by "efsbak completion zsh".
# Load it now:   source <(efsbak completion zsh)
# or for good:   efsbak completion zsh > "\${fpath[1]}/_efsbak"
_efsbak() {
  local curcontext="$curcontext" state line
  typeset -A opt_args
  local -a globals commands
  globals=(
    ${globals}
  )
  commands=(
    ${tops.join("\n    ")}
  )
  _arguments -C -s $globals '1: :->command' '*:: :->args'
  case $state in
    command) _describe -t commands 'efsbak command' commands ;;
    args)
      case $words[1] in
${cases.join("\n")}
      esac ;;
  esac
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _efsbak "$@"
else
  compdef _efsbak efsbak
fi
`;
}

/** The fish script. */
export function fishScript(t: ReturnType<typeof completionTable>): string {
  const tops = [...t.commands.filter((c) => !c.name.includes(" ")).map((c) => c.name), ...Object.keys(t.groups)];
  const lines = [
    '# fish completion for efsbak, generated by "efsbak completion fish".',
    "# Load it now:   efsbak completion fish | source",
    "# or for good:   efsbak completion fish > ~/.config/fish/completions/efsbak.fish",
    "complete -c efsbak -f",
  ];
  const opt = (cond: string, o: OptionSpec) => {
    const w = valueWords(o.hint);
    const val = !o.value ? "" : w === "dir" ? " -r -a '(__fish_complete_directories)'" : w === "file" ? " -r -F" : Array.isArray(w) ? ` -x -a ${sq(w.join(" "))}` : " -x";
    const short = o.short ? ` -s ${o.short.replace(/^-/, "")}` : "";
    return `complete -c efsbak${cond ? ` -n ${sq(cond)}` : ""} -l ${o.name}${short}${val} -d ${sq(o.description)}`;
  };
  for (const o of t.globals) lines.push(opt("", o));
  for (const c of t.commands.filter((c) => !c.name.includes(" "))) lines.push(`complete -c efsbak -n '__fish_use_subcommand' -a ${c.name} -d ${sq(c.description)}`);
  for (const g of Object.keys(t.groups).filter((g) => !t.commands.some((c) => c.name === g))) lines.push(`complete -c efsbak -n '__fish_use_subcommand' -a ${g} -d ${sq(`${g} subcommands`)}`);
  for (const c of t.commands) {
    const [top, sub] = c.name.split(" ");
    const cond = sub ? `__fish_seen_subcommand_from ${top}; and __fish_seen_subcommand_from ${sub}` : `__fish_seen_subcommand_from ${top}`;
    if (sub) lines.push(`complete -c efsbak -n ${sq(`__fish_seen_subcommand_from ${top}; and not __fish_seen_subcommand_from ${t.groups[top].join(" ")}`)} -a ${sub} -d ${sq(c.description)}`);
    for (const o of c.options) lines.push(opt(cond, o));
    if (c.positional === "dir") lines.push(`complete -c efsbak -n ${sq(cond)} -a '(__fish_complete_directories)'`);
    else if (Array.isArray(c.positional)) lines.push(`complete -c efsbak -n ${sq(cond)} -a ${sq(c.positional.join(" "))}`);
  }
  void tops;
  return `${lines.join("\n")}\n`;
}

/** The completion command; `table` gives the commands to complete (passed in to keep imports one-way). */
export function completionCommand(table: () => { commands: Record<string, EfsbakCommand>; groups: Record<string, Record<string, EfsbakCommand>> }): EfsbakCommand {
  return command({
    name: "completion",
    description: "print a shell completion script: bash, zsh or fish",
    args: {
      shell: { type: "positional", description: SHELLS.join(" | "), required: true },
    },
    exitStatus: ["0  the script was printed", "2  usage error (an unknown shell)"],
    async run({ args }) {
      const shell = String(args.shell);
      if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`Cannot complete for shell "${shell}": expected bash, zsh or fish`);
      const { commands, groups } = table();
      const t = completionTable(commands, groups);
      const script = shell === "bash" ? bashScript(t) : shell === "zsh" ? zshScript(t) : fishScript(t);
      return { exitCode: 0, json: { shell, script }, text: script };
    },
  });
}
