/**
 * `efsbak find` through the compiled binary: .gitignore matching (a name at any depth, an
 * anchored path, directories only, "**"), one `RP<TAB>PATH` line per match, newest recovery
 * point first, `--resource` and `--newest`, `--json`; a name with byte 0xff shown as `\xff`
 * and found by it; a bad pattern is a usage error.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { localStorage } from "../../src/storage/local.ts";
import { saveRecoveryPoint } from "../../src/vault/recovery-point.ts";
import { runBinary } from "../support/cli.ts";
import { makeTree } from "../support/tree.ts";
import { fakeRecoveryPoint, nodes, storeTree, testVault } from "../support/vault.ts";
import { localPlan, planWorkdir, removeWorkdir } from "../support/plans.ts";

let work: string;
let rp1 = "";
let rp2 = "";
let rpOther = "";

function run(args: string[]) {
  return runBinary(args, { cwd: work });
}

beforeAll(async () => {
  work = planWorkdir("efsbak-cli-find-", { "p.toml": localPlan({ app: "app", other: "other" }) });
  makeTree(join(work, "app"), {
    "app.conf": "a",
    etc: { "main.conf": "m", "notes.txt": "n" },
    web: { node_modules: { left: { "index.js": "x" } }, src: { "app.conf": "b" } },
  });
  makeTree(join(work, "other"), { "other.conf": "o" });
  const json = async (args: string[]) => {
    const r = await run([...args, "--json"]);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout).recovery_point as string;
  };
  rp1 = await json(["backup", "app", "--now", "2026-03-01T00:00:00Z"]);
  rmSync(join(work, "app/etc/main.conf"));
  rp2 = await json(["backup", "app", "--now", "2026-03-02T00:00:00Z"]);
  rpOther = await json(["backup", "other", "--now", "2026-03-03T00:00:00Z"]);
});

afterAll(() => {
  removeWorkdir(work);
});

describe("efsbak find", () => {
  test("a pattern without / matches names at any depth, in every recovery point, newest first", async () => {
    const r = await run(["find", "*.conf"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      `${rpOther}\tother.conf`,
      `${rp2}\tapp.conf`, `${rp2}\tweb/src/app.conf`,
      `${rp1}\tapp.conf`, `${rp1}\tetc/main.conf`, `${rp1}\tweb/src/app.conf`,
    ].join("\n") + "\n");
  });

  test("anchored paths, directories only, ** and the filters", async () => {
    const lines = async (args: string[]) => (await run(["find", ...args])).stdout.split("\n").filter(Boolean);
    expect(await lines(["/app.conf", "--resource", "app"])).toEqual([`${rp2}\tapp.conf`, `${rp1}\tapp.conf`]);
    expect(await lines(["etc/*.conf"])).toEqual([`${rp1}\tetc/main.conf`]);
    expect(await lines(["node_modules/", "--newest", "2"])).toEqual([`${rp2}\tweb/node_modules`]);
    expect(await lines(["node_modules", "--resource", "app", "--newest", "1"])).toEqual([`${rp2}\tweb/node_modules`]);
    expect(await lines(["web/**/*.js", "--resource", "app"])).toEqual([`${rp2}\tweb/node_modules/left/index.js`, `${rp1}\tweb/node_modules/left/index.js`]);
    expect(await lines(["nothing-*"])).toEqual([]);
  });

  test("--json is one document with every match", async () => {
    const r = await run(["find", "app.conf", "--resource", "app", "--newest", "1", "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.count).toBe(2);
    expect(doc.recovery_points).toBe(1);
    expect(doc.matches).toEqual([
      expect.objectContaining({ recovery_point: rp2, path: "app.conf", type: "file", size: 1 }),
      expect.objectContaining({ recovery_point: rp2, path: "web/src/app.conf", type: "file", size: 1 }),
    ]);
    const none = JSON.parse((await run(["find", "zzz", "--json"])).stdout);
    expect(none).toEqual({ matches: [], recovery_points: 3, count: 0 });
  });

  test("names with byte 0xff are shown as \\xff and found by it; bad patterns are usage errors", async () => {
    const vault = await testVault({ storage: localStorage(join(work, "vault-bytes")) });
    const inner = await storeTree(vault, [nodes.file("r\udcffport.pdf", [], 0), nodes.file("tab\there", [], 0)]);
    const root = await storeTree(vault, [nodes.dir("d\udcff", inner)]);
    await saveRecoveryPoint(vault, fakeRecoveryPoint(root, { id: "f00df00df00df00df00df00df00df00d" }));
    const all = await run(["find", "*", "--vault", "./vault-bytes"]);
    expect(all.stdout).toBe("f00df00df00df00df00df00df00df00d\td\\xff\nf00df00df00df00df00df00df00df00d\td\\xff/r\\xffport.pdf\nf00df00df00df00df00df00df00df00d\td\\xff/tab\\x09here\n");
    const byByte = await run(["find", "r\\xff*", "--vault", "./vault-bytes", "--json"]);
    expect(JSON.parse(byByte.stdout).matches.map((m: { path: string }) => m.path)).toEqual(["d\\xff/r\\xffport.pdf"]);
    const bad = await run(["find", "[abc", "--vault", "./vault-bytes"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Cannot read the pattern "[abc"');
    const newest = await run(["find", "*", "--newest", "0"]);
    expect(newest.code).toBe(2);
  });
});
