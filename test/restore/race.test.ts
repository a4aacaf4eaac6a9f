/**
 * Another local user who can write the restore target tries to redirect a root restore: a
 * racer running as uid 65534 swaps every fresh efsbak-restore_* directory for a symlink to a
 * root-owned directory (renameat2 RENAME_EXCHANGE), as fast as it can, while root restores
 * through the binary again and again. Nothing may land in the victim directory: each restore
 * either completes (into the directory it made and opened, wherever that was renamed to) or
 * refuses, saying the directory was replaced.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chownSync, chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary } from "../support/cli.ts";

const RACER = `
import ctypes, os, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
target, victim, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
end = time.time() + seconds
n = 0
swaps = 0
def stop(*_):
    print(swaps, flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
while time.time() < end:
    try:
        names = os.listdir(target)
    except OSError:
        continue
    for name in names:
        if not name.startswith("efsbak-restore_"):
            continue
        p = os.path.join(target, name)
        if os.path.islink(p):
            continue
        n += 1
        link = os.path.join(target, ".swap%d" % n)
        try:
            os.symlink(victim, link)
        except OSError:
            continue
        if libc.renameat2(-100, p.encode(), -100, link.encode(), 2) == 0:
            swaps += 1
stop()
`;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "efsbak-race-"));
  chmodSync(tmp, 0o755);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test("a swap of the restore directory by another user never redirects a root restore", async () => {
  expect(process.geteuid?.()).toBe(0); // CI runs as root; the attack needs a root restore
  const src = join(tmp, "src");
  mkdirSync(src);
  for (let d = 0; d < 5; d++) {
    mkdirSync(join(src, `d${d}`));
    for (let f = 0; f < 40; f++) writeFileSync(join(src, `d${d}`, `f${f}`), `content ${d}/${f}\n`);
  }
  const vault = join(tmp, "vault");
  const backed = await runBinary(["backup", src, "--vault", vault, "--quiet"], { cwd: tmp });
  expect(backed.code).toBe(0);
  const victim = join(tmp, "victim"); // root-owned: the racer cannot write here itself
  mkdirSync(victim, { mode: 0o755 });
  const target = join(tmp, "target");
  mkdirSync(target, { mode: 0o755 });
  chownSync(target, 65534, 65534);
  writeFileSync(join(tmp, "racer.py"), RACER);
  chmodSync(join(tmp, "racer.py"), 0o644);

  const racer = spawn("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", join(tmp, "racer.py"), target, victim, "25"], { stdio: ["ignore", "pipe", "pipe"] });
  let swaps = "";
  racer.stdout.on("data", (d) => (swaps += d));
  const ended = new Promise<number>((r) => racer.on("exit", (code) => r(code ?? -1)));
  await Bun.sleep(300);
  const outcomes: number[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await runBinary(["restore", "latest", "--vault", vault, "--target", target, "--quiet"], { cwd: tmp });
    outcomes.push(r.code);
    if (r.code !== 0) expect(r.stderr).toMatch(/replaced right after it was made|is a symbolic link/);
    expect(readdirSync(victim)).toEqual([]);
  }
  racer.kill("SIGTERM");
  await ended;
  expect(readdirSync(victim)).toEqual([]);
  // Restores that completed are whole, in real directories under target.
  let whole = 0;
  for (const name of readdirSync(target)) {
    const p = join(target, name);
    if (lstatSync(p).isSymbolicLink() || !existsSync(join(p, "d4", "f39"))) continue;
    expect(readFileSync(join(p, "d4", "f39"), "utf8")).toBe("content 4/39\n");
    whole++;
  }
  expect(whole).toBe(outcomes.filter((c) => c === 0).length);
  expect(outcomes.every((c) => c === 0 || c === 1)).toBe(true);
  expect(Number(swaps.trim())).toBeGreaterThan(0); // the racer did swap directories
  console.log(`race: ${outcomes.filter((c) => c === 0).length} restores completed, ${outcomes.filter((c) => c === 1).length} refused, swaps by the racer: ${swaps.trim() || "(killed before it printed)"}`);
}, 120_000);
