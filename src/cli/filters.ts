/** `--tag k=v`, `--host H` and `--since 7d|ISO` for listings (recovery-points, jobs). */
import type { RpFilter } from "../vault/rp-filter.ts";
import { parseTags } from "./args.ts";
import type { Context } from "./context.ts";
import { parseSince } from "./report.ts";

/** Options of the filters (tag is repeatable: list it in the command's `repeatable`). */
export const FILTER_ARGS = {
  tag: { type: "string", description: "only those whose recovery point carries this tag (repeatable: all must match)", valueHint: "KEY=VALUE" },
  host: { type: "string", description: "only those made on this host", valueHint: "HOST" },
  since: { type: "string", description: "only those created within this duration before now (7d, 24h) or since an ISO-8601 time", valueHint: "DURATION|TIME" },
} as const;

/** The filter the options ask for. */
export function parseFilter(ctx: Context, args: { host?: unknown; since?: unknown }, tags: string[] = []): RpFilter {
  return {
    tags: tags.length ? parseTags(tags) : undefined,
    host: typeof args.host === "string" ? args.host : undefined,
    since: typeof args.since === "string" ? parseSince(args.since, ctx.now()) : undefined,
  };
}
