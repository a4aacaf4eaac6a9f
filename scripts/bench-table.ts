/**
 * The bench table: medians over repeats of each tool's samples, the ratio efsbak/restic, and
 * the target for each row. Markdown, so docs/performance.md can quote it as is.
 * MB/s are 10^6 bytes per second; sizes are MiB (2^20 bytes).
 */
import type { Corpus } from "./bench-corpus.ts";
import type { Measure } from "./bench-run.ts";

/** What one tool did in one repeat. `repo` is the repository size (large) or its growth. */
export interface Sample {
  large: Measure & { repo: number };
  small: Measure & { repo: number };
  noChange: Measure;
  repoInitial: number;
  incremental: Measure & { repo: number };
  restoreLarge: Measure;
  restoreSmall: Measure;
}

/** Everything the table is made of. */
export interface TableInput {
  samples: Record<string, Sample[]>;
  startup: { efsbak: number; restic: number };
  index: { bytesPerBlob: number; blobs: number; rssGrowthPerBlob: number };
  corpus: Corpus;
  repeats: number;
  cold: boolean;
  efsbakEncryption: string;
  resticEncryption: string;
  efsbakVersion: string;
  resticVersion: string;
  cpus: number;
  /** What the restores put back (the mutated corpus), as measured on the source. */
  restored: { largeBytes: number; smallFiles: number; smallBytes: number };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const MIB = 2 ** 20;
const fmt = {
  s: (x: number) => `${x.toFixed(2)} s`,
  mbs: (x: number) => `${x.toFixed(0)} MB/s`,
  fps: (x: number) => `${x.toFixed(0)} files/s`,
  mib: (x: number) => `${(x / MIB).toFixed(1)} MiB`,
  ms: (x: number) => `${x.toFixed(1)} ms`,
};

/** Renders the markdown table (with a short header saying what ran where). */
export function renderTable(t: TableInput): string {
  const c = t.corpus;
  const largeMB = c.largeBytes / 1e6;
  const restoreMB = (t.restored.largeBytes + t.restored.smallBytes) / 1e6;
  const smallFiles = c.smallFiles;
  function med(tool: string, f: (s: Sample) => number): number {
    return median(t.samples[tool].map(f));
  }
  function peak(s: Sample): number {
    return Math.max(...[s.large, s.small, s.noChange, s.incremental, s.restoreLarge, s.restoreSmall].map((m) => m.rss ?? 0));
  }
  const rows: string[][] = [];
  function row(step: string, metric: string, f: (s: Sample) => number, show: (x: number) => string, target?: { op: ">=" | "<="; x: number }): void {
    const e = med("efsbak", f);
    const r = med("restic", f);
    const ratio = r > 0 ? e / r : NaN;
    const tgt = target ? `${target.op === ">=" ? "≥" : "≤"} ${target.x}×` : "";
    const met = target ? ((target.op === ">=" ? ratio >= target.x : ratio <= target.x) ? "yes" : "**no**") : "";
    rows.push([step, metric, show(e), show(r), Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : "–", tgt, met]);
  }
  const largeStep = `backup large (${(c.largeBytes / MIB).toFixed(0)} MiB in ${c.spec.largeFiles} files)`;
  row(largeStep, "time", (s) => s.large.seconds, fmt.s);
  row("", "throughput", (s) => largeMB / s.large.seconds, fmt.mbs, { op: ">=", x: 2 });
  row("", "CPU time (user + sys)", (s) => s.large.cpu ?? 0, fmt.s);
  row("", "peak RSS", (s) => s.large.rss ?? 0, fmt.mib);
  row("", "repository size", (s) => s.large.repo, fmt.mib);
  const smallStep = `backup small (${smallFiles.toLocaleString("en")} files, ${(c.smallBytes / MIB).toFixed(0)} MiB)`;
  row(smallStep, "time", (s) => s.small.seconds, fmt.s);
  row("", "files/s", (s) => smallFiles / s.small.seconds, fmt.fps, { op: ">=", x: 3 });
  row("", "CPU time (user + sys)", (s) => s.small.cpu ?? 0, fmt.s);
  row("", "peak RSS", (s) => s.small.rss ?? 0, fmt.mib);
  row("", "repository growth", (s) => s.small.repo, fmt.mib);
  row("no-change re-run (large + small)", "time", (s) => s.noChange.seconds, fmt.s, { op: "<=", x: 0.5 });
  row("", "CPU time (user + sys)", (s) => s.noChange.cpu ?? 0, fmt.s);
  row("", "peak RSS", (s) => s.noChange.rss ?? 0, fmt.mib);
  row("incremental after mutation (large + small)", "time", (s) => s.incremental.seconds, fmt.s);
  row("", "repository growth", (s) => s.incremental.repo, fmt.mib, { op: "<=", x: 1 });
  row("restore large", "throughput", (s) => t.restored.largeBytes / 1e6 / s.restoreLarge.seconds, fmt.mbs);
  row("restore small", "files/s", (s) => t.restored.smallFiles / s.restoreSmall.seconds, fmt.fps);
  row("full restore (large + small)", "time", (s) => s.restoreLarge.seconds + s.restoreSmall.seconds, fmt.s);
  row("", "throughput", (s) => restoreMB / (s.restoreLarge.seconds + s.restoreSmall.seconds), fmt.mbs, { op: ">=", x: 2 });
  row("", "CPU time (user + sys)", (s) => (s.restoreLarge.cpu ?? 0) + (s.restoreSmall.cpu ?? 0), fmt.s);
  row("", "peak RSS", (s) => Math.max(s.restoreLarge.rss ?? 0, s.restoreSmall.rss ?? 0), fmt.mib);
  row("all steps", "peak RSS", peak, fmt.mib, { op: "<=", x: 1 });
  row("", "repository after initial backups", (s) => s.repoInitial, fmt.mib);
  const startupOk = t.startup.efsbak <= 70;
  rows.push(["startup (`--help`, median of 20, warm)", "time", fmt.ms(t.startup.efsbak), fmt.ms(t.startup.restic), `${(t.startup.efsbak / t.startup.restic).toFixed(2)}×`, "≤ 70 ms", startupOk ? "yes" : "**no**"]);
  const idxOk = t.index.bytesPerBlob <= 100;
  rows.push([`index memory (${(t.index.blobs / 1e6).toFixed(0)}M synthetic blobs)`, "bytes/blob", t.index.bytesPerBlob.toFixed(1), "–", "–", "≤ 100", idxOk ? "yes" : "**no**"]);

  const bg = Object.values(t.samples).flat().flatMap((s) => [s.large, s.small, s.noChange, s.incremental, s.restoreLarge, s.restoreSmall]).map((m) => m.background).filter((x): x is number => typeof x === "number");
  const head = [
    `efsbak bench, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${t.cpus} CPUs, ` +
      `median of ${t.repeats} run${t.repeats > 1 ? "s" : ""}, page cache ${t.cold ? "dropped before every run (cold data; the tools' executables read back in)" : "NOT dropped (warm for both)"}`,
    `efsbak: ${t.efsbakVersion}, encryption ${t.efsbakEncryption}; restic: ${t.resticVersion.split(" compiled")[0]}, encryption ${t.resticEncryption}`,
    `ratio = efsbak / restic of the row's figure; times are wall clock of the whole command`,
    ...(bg.length ? [`background load (CPU of other processes and kernel threads during the measured runs): median ${median(bg).toFixed(2)} cores, max ${Math.max(...bg).toFixed(2)} of ${t.cpus}`] : []),
  ];
  const header = ["step", "metric", "efsbak", "restic", "efsbak/restic", "target", "met"];
  const lines = [header, header.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`);
  return `${head.join("\n")}\n\n${lines.join("\n")}\n`;
}
