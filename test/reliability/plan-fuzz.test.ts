/**
 * Fuzzing plan files through loadPlans (issue #10). Seeded; CI runs a few thousand cases
 * (SOAK_PLAN_FUZZ under scripts/soak: many more). Each case takes one plan set (the example
 * plan, the fixture sets good/broken/syntax), replaces one of its files by a mutant and loads
 * the whole directory. Every case must end, quickly, with Plans or a PlanError whose problems
 * are well formed (file, line >= 1, col >= 1, a message) — never another exception.
 *
 * Mutants: byte-level (test/vault/fuzz.ts: flips, cuts, repeats, u32s), TOML-aware (drop,
 * repeat or swap lines; replace a value or a key with an odd one; insert table headers; CRLF,
 * BOM, NUL, invalid UTF-8), splices of two plan files, and plain random bytes.
 *
 * The vault decoders are fuzzed in test/vault/*.test.ts (config, index files, objects, packs,
 * trees, keys) with the same mutation engine; not repeated here.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { PlanError } from "../../src/errors.ts";
import { loadPlans } from "../../src/plan/load.ts";
import { mutations } from "../vault/fuzz.ts";
import { SEED, record, setting } from "../support/soak.ts";
import { between, randomBytes, rng } from "../support/random.ts";

const CASES = setting("PLAN_FUZZ", 4000, 100_000);
const ROOT = join(import.meta.dir, "../..");

const ODD_VALUES = [
  '""', '"x"', "0", "-1", "1e999", "-0.0", "nan", "inf", "99999999999999999999999", "0x7fffffff", "true", "[]", "{}", "[[]]",
  "[1, \"a\", true]", '"cron(* * * * * *)"', '"cron(0 5 ? * * * *)"', '"cron(61 25 32 13 8 *)"', '"rate(0 minutes)"',
  '"rate(1 minute)"', '"rate(-5 hours)"', '"@yearly"', '"@hourly"', '"* * * * *"', '"1y1y"', '"0d"', '"99999999999999d"', '"1h1d"',
  '"../../etc"', '"/"', '"/dev/null"', '"s3://"', '"s3://b/../x"', '"s3://b?x=1"', '"s3://user:pw@b/p"', '"file:///"',
  '"ftp://x"', '"\\u0000"', '"Europe/Nowhere"', '"UTC"', '"GLACIER"', '"aes-256-gcm"', '"aes-128"', '"latest"', '"random"',
  "1979-05-27T07:32:00Z", "07:32:00", "{ a = { b = { c = 1 } } }", '{ cold_after = "30d", delete_after = "1d" }',
  `"${"x".repeat(100_000)}"`, `${"[".repeat(2000)}${"]".repeat(2000)}`, `${"{ a = ".repeat(500)}1${" }".repeat(500)}`,
];
const ODD_KEYS = ["url", "path", "id", "name", "schedule", "vault", "resources", "tags", "exclude", "lifecycle", "lock", "min_retention", "\"\"", "\"a.b\"", "a.b.c", "ü", "plan", "rules", "0", "-"];
const HEADERS = ["[vaults.x]", "[[resources]]", "[plan]", "[[plan.rules]]", "[[plan.selections]]", "[[restore_tests]]", "[vaults.local.lock]", "[[vaults]]", "[resources]", "[plan.rules]"];

/** One TOML-aware mutation of text. */
function tomlMutation(text: string, random: () => number): { text: string; how: string } {
  const lines = text.split("\n");
  const at = between(random, 0, Math.max(0, lines.length - 1));
  switch (between(random, 0, 9)) {
    case 0:
      lines.splice(at, 1);
      return { text: lines.join("\n"), how: `drop line ${at + 1}` };
    case 1:
      lines.splice(at, 0, lines[at] ?? "");
      return { text: lines.join("\n"), how: `repeat line ${at + 1}` };
    case 2: {
      const other = between(random, 0, Math.max(0, lines.length - 1));
      [lines[at], lines[other]] = [lines[other], lines[at]];
      return { text: lines.join("\n"), how: `swap lines ${at + 1} and ${other + 1}` };
    }
    case 3:
    case 4: {
      const withValue = lines.map((l, i) => [l, i] as const).filter(([l]) => /=/.test(l));
      if (withValue.length === 0) break;
      const [line, i] = withValue[between(random, 0, withValue.length - 1)];
      const value = ODD_VALUES[between(random, 0, ODD_VALUES.length - 1)];
      lines[i] = `${line.slice(0, line.indexOf("=") + 1)} ${value}`;
      return { text: lines.join("\n"), how: `value of line ${i + 1} -> ${value.slice(0, 40)}` };
    }
    case 5: {
      const withKey = lines.map((l, i) => [l, i] as const).filter(([l]) => /^\s*[\w"-]+\s*=/.test(l));
      if (withKey.length === 0) break;
      const [line, i] = withKey[between(random, 0, withKey.length - 1)];
      const key = ODD_KEYS[between(random, 0, ODD_KEYS.length - 1)];
      lines[i] = `${key} ${line.slice(line.indexOf("="))}`;
      return { text: lines.join("\n"), how: `key of line ${i + 1} -> ${key}` };
    }
    case 6: {
      const h = HEADERS[between(random, 0, HEADERS.length - 1)];
      lines.splice(at, 0, h);
      return { text: lines.join("\n"), how: `insert ${h} at line ${at + 1}` };
    }
    case 7:
      return { text: text.replace(/\n/g, "\r\n"), how: "CRLF line ends" };
    case 8:
      return { text: `\ufeff${text}`, how: "byte order mark" };
    case 9: {
      const pos = between(random, 0, text.length);
      const junk = ["\u0000", "\ud800", "\u202e", "\t", "\\", '"', "'''", '"""', "#", "=", "[", "]", "{", "}", ","][between(random, 0, 14)];
      return { text: text.slice(0, pos) + junk + text.slice(pos), how: `insert ${JSON.stringify(junk)} at ${pos}` };
    }
  }
  return { text, how: "unchanged" };
}

interface PlanSet {
  name: string;
  dir: string;
  files: string[];
  texts: Map<string, string>;
}

let work: string;
const sets: PlanSet[] = [];

function listToml(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, encoding: "utf8" }) as string[]).filter((f) => f.endsWith(".toml")).sort();
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "efsbak-planfuzz-"));
  const sources: [string, string][] = [
    ["example", join(ROOT, "plans")],
    ["good", join(ROOT, "test/plan/fixtures/good")],
    ["broken", join(ROOT, "test/plan/fixtures/broken")],
    ["syntax", join(ROOT, "test/plan/fixtures/syntax")],
  ];
  for (const [name, from] of sources) {
    const dir = join(work, name);
    cpSync(from, dir, { recursive: true });
    mkdirSync(join(dir, "docs"), { recursive: true }); // the example plan's resource path
    const files = listToml(dir);
    sets.push({ name, dir, files, texts: new Map(files.map((f) => [f, readFileSync(join(dir, f), "utf8")])) });
  }
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test(`${CASES} mutated plan files: loadPlans returns plans or a PlanError, never crashes or hangs`, () => {
  const random = rng(SEED ^ 0x91a5);
  const outcome = { cases: 0, loaded: 0, planErrors: 0, problems: 0, byteMutants: 0, tomlMutants: 0, splices: 0, randomFiles: 0, slowestMs: 0 };
  const started = performance.now();
  for (let i = 0; i < CASES; i++) {
    const set = sets[between(random, 0, sets.length - 1)];
    const file = set.files[between(random, 0, set.files.length - 1)];
    const base = set.texts.get(file)!;
    let data: Uint8Array | string;
    let how: string;
    const kind = random();
    if (kind < 0.35) {
      const m = mutations(new TextEncoder().encode(base), Math.floor(random() * 2 ** 31), 1).next().value!;
      data = m.data;
      how = `bytes ${m.how}`;
      outcome.byteMutants++;
    } else if (kind < 0.85) {
      let text = base;
      const hows: string[] = [];
      for (let k = between(random, 1, 3); k > 0; k--) {
        const m = tomlMutation(text, random);
        text = m.text;
        hows.push(m.how);
      }
      data = text;
      how = `toml ${hows.join(", ")}`;
      outcome.tomlMutants++;
    } else if (kind < 0.93) {
      const other = sets[between(random, 0, sets.length - 1)];
      const otherText = other.texts.get(other.files[between(random, 0, other.files.length - 1)])!;
      const cut = between(random, 0, base.length);
      data = base.slice(0, cut) + otherText.slice(between(random, 0, otherText.length));
      how = `splice at ${cut} with ${other.name}`;
      outcome.splices++;
    } else {
      const seed = Math.floor(random() * 2 ** 31);
      data = randomBytes(between(random, 0, 2000), seed);
      how = "random bytes";
      outcome.randomFiles++;
    }
    const path = join(set.dir, file);
    writeFileSync(path, data);
    const t0 = performance.now();
    try {
      loadPlans(set.dir, { baseDir: set.dir });
      outcome.loaded++;
    } catch (err) {
      if (!(err instanceof PlanError)) {
        throw new Error(`case ${i} (${set.name}/${file}, ${how}) threw ${(err as Error)?.name}: ${(err as Error)?.message?.slice(0, 300)}`);
      }
      expect(err.problems.length).toBeGreaterThan(0);
      for (const p of err.problems) {
        const ok = typeof p.file === "string" && Number.isInteger(p.line) && p.line >= 1 && Number.isInteger(p.col) && p.col >= 1 && typeof p.message === "string" && p.message.length > 0;
        if (!ok) throw new Error(`case ${i} (${set.name}/${file}, ${how}): malformed problem ${JSON.stringify(p).slice(0, 300)}`);
        if (p.file !== set.dir && relative(set.dir, p.file).startsWith("..")) throw new Error(`case ${i}: problem names a file outside the plans: ${p.file}`);
      }
      outcome.planErrors++;
      outcome.problems += err.problems.length;
    } finally {
      writeFileSync(path, base);
    }
    const ms = performance.now() - t0;
    outcome.slowestMs = Math.max(outcome.slowestMs, Math.round(ms));
    if (ms > 2000) throw new Error(`case ${i} (${set.name}/${file}, ${how}) took ${Math.round(ms)} ms`);
    outcome.cases++;
  }
  expect(outcome.loaded).toBeGreaterThan(0);
  expect(outcome.planErrors).toBeGreaterThan(0);
  record("plan-fuzz", { ...outcome, seconds: Math.round((performance.now() - started) / 100) / 10 });
}, 600_000);
