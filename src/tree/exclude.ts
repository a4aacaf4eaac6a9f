/**
 * Exclude globs, matched against paths relative to the resource root ('/'-separated).
 * "**\/node_modules" excludes that name at any depth, "*.tmp" any .tmp file in the root,
 * "**\/*.tmp" at any depth; a pattern that matches a directory excludes everything below it.
 */

/** Compiles globs into a predicate over relative paths. */
export function compileExcludes(patterns: string[]): (rel: string, isDir: boolean) => boolean {
  if (patterns.length === 0) return () => false;
  const globs = patterns.map((p) => new Bun.Glob(p.replace(/^\.\//, "").replace(/\/$/, "")));
  return (rel) => globs.some((g) => g.match(rel));
}
