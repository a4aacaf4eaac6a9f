import { describe, expect, test } from "bun:test";
import type { PlanProblem } from "../../src/errors.ts";
import { closest, createReader, parseToml, type KeyPath, type ParsedFile } from "../../src/plan/parse.ts";

function parse(text: string): ParsedFile {
  const result = parseToml("plans/x.toml", text);
  if ("problem" in result) throw new Error(result.problem.message);
  return result.parsed;
}

const DOC = [
  /* 1 */ "# comment with = and [brackets]",
  /* 2 */ "title = \"a # not a comment\"",
  /* 3 */ "[vaults.main]",
  /* 4 */ "url = './v'",
  /* 5 */ "[vaults.\"s3 offsite\".lock]",
  /* 6 */ "  min_retention   = \"7d\"",
  /* 7 */ "[[resources]]",
  /* 8 */ "id = \"a\"",
  /* 9 */ "[[resources]]",
  /* 10 */ "id = \"b\"",
  /* 11 */ "tags = { env = \"prod\", nested = { deep = 1 } }",
  /* 12 */ "exclude = [",
  /* 13 */ "  \"x\", # first",
  /* 14 */ "  \"y\",",
  /* 15 */ "]",
  /* 16 */ "[plan]",
  /* 17 */ "name = \"\"\"multi",
  /* 18 */ "line = not a key\"\"\"",
  /* 19 */ "[[plan.rules]]",
  /* 20 */ "name = \"r0\"",
  /* 21 */ "lifecycle.cold_after = \"30d\"",
  /* 22 */ "[[plan.rules]]",
  /* 23 */ "name = \"r1\"",
  /* 24 */ "[[plan.rules.steps]]",
  /* 25 */ "'literal key' = 2",
  /* 26 */ "list = [{ a = 1 }, { b = 2 }]",
  /* 27 */ "when = 1979-05-27 07:32:00Z",
  /* 28 */ "after = true",
].join("\n");

describe("positions", () => {
  const parsed = parse(DOC);
  const cases: [string, KeyPath, "key" | "value", number, number][] = [
    ["top-level key", ["title"], "key", 2, 1],
    ["top-level value (with a # inside the string)", ["title"], "value", 2, 9],
    ["table from a header", ["vaults", "main"], "key", 3, 9],
    ["key in a table", ["vaults", "main", "url"], "key", 4, 1],
    ["literal string value", ["vaults", "main", "url"], "value", 4, 7],
    ["quoted header segment", ["vaults", "s3 offsite"], "key", 5, 9],
    ["indented key, padded equals", ["vaults", "s3 offsite", "lock", "min_retention"], "key", 6, 3],
    ["its value", ["vaults", "s3 offsite", "lock", "min_retention"], "value", 6, 21],
    ["first array table", ["resources", 0], "key", 7, 3],
    ["second array table", ["resources", 1], "key", 9, 3],
    ["key in the second array table", ["resources", 1, "id"], "key", 10, 1],
    ["inline table key", ["resources", 1, "tags", "env"], "key", 11, 10],
    ["inline table value", ["resources", 1, "tags", "env"], "value", 11, 16],
    ["nested inline table", ["resources", 1, "tags", "nested", "deep"], "value", 11, 42],
    ["array element on its own line", ["resources", 1, "exclude", 1], "value", 14, 3],
    ["key after a multi-line string", ["plan", "rules", 0, "name"], "key", 20, 1],
    ["not a key inside a multi-line string", ["plan", "line"], "key", 16, 2],
    ["dotted key, first part", ["plan", "rules", 0, "lifecycle"], "key", 21, 1],
    ["dotted key, second part", ["plan", "rules", 0, "lifecycle", "cold_after"], "key", 21, 11],
    ["second rule", ["plan", "rules", 1, "name"], "value", 23, 8],
    ["array table nested in an array table", ["plan", "rules", 1, "steps", 0], "key", 24, 14],
    ["literal quoted key", ["plan", "rules", 1, "steps", 0, "literal key"], "key", 25, 1],
    ["inline table inside an array", ["plan", "rules", 1, "steps", 0, "list", 1, "b"], "value", 26, 26],
    ["key after a datetime with a space", ["plan", "rules", 1, "steps", 0, "after"], "key", 28, 1],
    ["missing key falls back to its table", ["plan", "rules", 1, "nope"], "key", 22, 8],
    ["missing everything falls back to 1:1", ["nothing"], "key", 1, 1],
  ];
  for (const [name, path, part, line, col] of cases) {
    test(name, () => expect(parsed.at(path, part)).toEqual({ line, col }));
  }

  test("the data is what the parser read", () => {
    expect(parsed.data.title).toBe("a # not a comment");
    expect((parsed.data.plan as { name: string }).name).toBe("multi\nline = not a key");
  });
});

describe("syntax errors: at the start of the offending token, columns in code points", () => {
  const cases: [string, string, number, number, string][] = [
    ["missing value: just after the =", "a = 1\nb = \n", 2, 4, "Cannot parse TOML: Unexpected character, expecting string, number, datetime, boolean, inline array or inline table"],
    ["unterminated string: at its opening quote", 'a = "x', 1, 5, "Cannot parse TOML: Unterminated string"],
    ["unterminated multi-line string", 'x = 1\ns = """abc\n\n', 2, 5, "Cannot parse TOML: Unterminated string"],
    ["redefined key: at the key", "a = 1\na = 2\n", 2, 1, "Cannot parse TOML: Can't redefine existing key"],
    ["redefined table", "[a]\nb = 1\n[a]\n", 3, 2, "Cannot parse TOML: Can't redefine existing key"],
    ["bad number: at its first digit, not where reading stopped", "a = 12abc\n", 1, 5, "Cannot parse TOML: Must be a newline"],
    ["bad word", "a = tru\n", 1, 5, "Cannot parse TOML: Unexpected character"],
    ["after an emoji, columns count code points", 's = "\u{1F600}" x\n', 1, 9, "Cannot parse TOML: Must be a newline"],
    ["after a byte order mark, not counted", "\uFEFFa = \n", 1, 4, "Cannot parse TOML: Unexpected character, expecting string, number, datetime, boolean, inline array or inline table"],
    ["table header left open: at its [", "[vaults.x\nurl = 1\n", 1, 1, "Cannot parse TOML: Unterminated table-key"],
    ["array table header closed by one ]", '[[a]]\nx = 1\n[[a]\n', 3, 1, "Cannot parse TOML: Unterminated table-key"],
    ["array left open at the end: at its [", "[a]\nx = [\n  [1, 2],\n", 2, 5, "Cannot parse TOML: Unterminated array"],
    ["inline table left open at the end: at its {", "x = { a = [1] ", 1, 5, "Cannot parse TOML: Unterminated inline table"],
    ["inline table across lines: at its {", "t = { a = 1\nb = 2\n", 1, 5, "Cannot parse TOML: No newlines are allowed between the curly braces unless they are valid within a value"],
    ["TOML 1.0: no trailing comma in an inline table", "t = { a = 1, }\n", 1, 14, "Cannot parse TOML: Trailing comma is not permitted in an inline table"],
  ];
  for (const [name, text, line, col, message] of cases) {
    test(name, () => {
      expect(parseToml("p.toml", text)).toEqual({ problem: { file: "p.toml", line, col, message } });
    });
  }
});

describe("TOML 1.0 and Unicode", () => {
  const text = [
    /* 1 */ "\uFEFF# a byte order mark starts this file",
    /* 2 */ 'mixed = [1, "a", [2.5]]',
    /* 3 */ "lit = '''x''''",
    /* 4 */ "after = 1",
    /* 5 */ '"\\U0001F600" = "smile"',
    /* 6 */ '"\u{1F600}b" = "\u{1F600}\u{1F600}"',
    /* 7 */ 't = { a = "\u{1F600}\u{1F600}", b = 1 }',
    /* 8 */ '["\\U0001F600t".x]',
    /* 9 */ "y = 2",
  ].join("\r\n");
  const parsed = parse(text);
  test("values", () => {
    expect(parsed.data.mixed).toEqual([1, "a", [2.5]]);
    expect(parsed.data.lit).toBe("x'");
    expect(parsed.data["\u{1F600}"]).toBe("smile");
    expect(parsed.data["\u{1F600}t"]).toEqual({ x: { y: 2 } });
    expect(parsed.data["\u{1F600}b"]).toBe("\u{1F600}\u{1F600}");
  });
  const cases: [string, KeyPath, "key" | "value", number, number][] = [
    ["key on the first line after the BOM", ["mixed"], "key", 2, 1],
    ["mixed array element", ["mixed", 1], "value", 2, 13],
    ["nested array in a mixed array", ["mixed", 2, 0], "value", 2, 19],
    ["key after a multi-line literal string ending in quotes", ["after"], "key", 4, 1],
    ["a \\U-escaped key", ["\u{1F600}"], "key", 5, 1],
    ["its value", ["\u{1F600}"], "value", 5, 16],
    ["value after an emoji key: code points", ["\u{1F600}b"], "value", 6, 8],
    ["inline key after emoji values", ["t", "b"], "key", 7, 17],
    ["header part after a \\U-escaped part", ["\u{1F600}t", "x"], "key", 8, 16],
    ["key under that header", ["\u{1F600}t", "x", "y"], "value", 9, 5],
  ];
  for (const [name, path, part, line, col] of cases) {
    test(name, () => expect(parsed.at(path, part)).toEqual({ line, col }));
  }
});

describe("reader", () => {
  const text = ["[t]", "s = 1", "b = \"no\"", "list = [\"a\", 2]", "map = { k = \"v\", n = 3 }", "shedule = \"x\"", "zzz = 1"].join("\n");
  test("type mistakes and unknown keys become positioned problems", () => {
    const problems: PlanProblem[] = [];
    const r = createReader(parse(text.replace('["a", 2]', '["a", "b"]')), problems);
    r.table(["t"], "[t]", ["s", "b", "list", "map", "schedule"]);
    expect(r.string(["t", "s"])).toBeUndefined();
    expect(r.boolean(["t", "b"])).toBeUndefined();
    expect(r.strings(["t", "list"])).toEqual(["a", "b"]);
    expect(r.stringMap(["t", "map"])).toEqual({ k: "v" });
    expect(r.string(["t", "absent"])).toBeUndefined();
    expect(problems.map((p) => `${p.line}:${p.col}: ${p.message}`)).toEqual([
      '6:1: Unknown key "shedule" in [t]: did you mean "schedule"?',
      '7:1: Unknown key "zzz" in [t]: expected one of s, b, list, map, schedule',
      '2:5: Invalid "s": expected a string, got integer',
      '3:5: Invalid "b": expected true or false, got string',
      '5:22: Invalid "n": expected a string, got integer',
    ]);
  });

  test("closest suggests only within edit distance 2", () => {
    expect(closest("shedule", ["schedule", "name"])).toBe("schedule");
    expect(closest("timzone", ["timezone"])).toBe("timezone");
    expect(closest("vaultss", ["vault", "vaults"])).toBe("vaults");
    expect(closest("completely", ["schedule"])).toBeUndefined();
  });
});
