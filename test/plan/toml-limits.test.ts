import { expect, test } from "bun:test";
import { parseToml } from "../../src/plan/parse.ts";
import { MAX_PLAN_BYTES, MAX_PLAN_NESTING, checkTomlLimits } from "../../src/plan/toml-limits.ts";

const deep = (n: number) => `a = ${"[".repeat(n)}${"]".repeat(n)}\n`;

const cases: [string, string, { line: number; col: number } | null][] = [
  ["a real plan", '[vaults.local]\nurl = "./v"\n\n[[plan.rules]]\nname = "x"\nlifecycle = { delete_after = "7d" }\nx.y.z = [[1, 2], { e.f = 1.5 }]\n', null],
  ["arrays at the limit (the key is a level)", deep(MAX_PLAN_NESTING - 1), null],
  ["arrays one past", deep(MAX_PLAN_NESTING), { line: 1, col: 5 + MAX_PLAN_NESTING - 1 }],
  ["brackets inside strings and comments do not count", `s = "${"[".repeat(100)}"\nt = '''${"{".repeat(100)}\n'''\n# ${"[".repeat(100)}\n`, null],
  ["a long dotted key", `${Array(40).fill("k").join(".")} = 1\n`, { line: 1, col: 64 }],
  ["a long table header", `\n[${Array(40).fill("k").join(".")}]\n`, { line: 2, col: 65 }],
  ["a header's depth adds to its keys", `[${Array(20).fill("k").join(".")}]\n${Array(20).fill("j").join(".")} = 1\n`, { line: 2, col: 24 }],
  ["nested inline tables", `x = ${"{ a = ".repeat(40)}1${" }".repeat(40)}\n`, { line: 1, col: 5 + 6 * 15 + 2 }], // a key and its inline table are a level each
];

for (const [name, text, at] of cases) {
  test(`nesting: ${name}`, () => {
    const p = checkTomlLimits("p.toml", text);
    if (at === null) expect(p).toBeNull();
    else expect(p).toEqual({ file: "p.toml", ...at, message: `Plan is nested too deeply: more than ${MAX_PLAN_NESTING} levels of tables, arrays or dotted keys` });
  });
}

test("size: a file over 1 MiB is one problem at 1:1, and parseToml reports it without parsing", () => {
  const text = `# ${"x".repeat(MAX_PLAN_BYTES)}\n`;
  expect(parseToml("p.toml", text)).toEqual({ problem: { file: "p.toml", line: 1, col: 1, message: `Plan file is too large: ${MAX_PLAN_BYTES + 3} bytes, at most ${MAX_PLAN_BYTES}` } });
});

test("a 100 KB plan nested 50,000 deep costs little: the parser never sees it", () => {
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  const r = parseToml("p.toml", deep(50_000));
  expect("problem" in r && r.problem.message).toContain("nested too deeply");
  expect(performance.now() - t0).toBeLessThan(1000);
  expect(process.memoryUsage().rss - before).toBeLessThan(64 << 20);
});

test("nesting: the column counts code points, not UTF-16 units", () => {
  const p = checkTomlLimits("p.toml", `"\u{1F600}" = ${deep(MAX_PLAN_NESTING).slice(4)}`);
  expect(p).toMatchObject({ line: 1, col: 7 + MAX_PLAN_NESTING - 1 });
});
