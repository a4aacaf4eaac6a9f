/**
 * Native (N-API) addons: @napi-rs/blake-hash for blob ids (chunk/hash.ts) and @node-rs/argon2
 * for key files (vault/argon2.ts), each with hash-wasm as the portable fallback that gives
 * the same bytes, slower.
 *
 * An addon is loaded on first use, never at import: the compiled binary extracts the embedded
 * .node file to $TMPDIR and dlopens it, which fails where $TMPDIR is mounted noexec ("Cannot
 * find native binding", thrown by the addon's loader); so does a platform with no prebuilt
 * package. Either way the load is caught once, remembered, and the caller falls back.
 *
 * EFSBAK_NATIVE=0 turns the addons off (the fallback, for tests and for hosts where an addon
 * misbehaves). This is the one place that reads it; workers see the same environment.
 */

/** The addons there are (by package name). */
export const NATIVE_ADDONS = ["@napi-rs/blake-hash", "@node-rs/argon2"] as const;

/** What loading each addon gave: the module, or the error that made the caller fall back. */
const loaded = new Map<string, { addon: unknown } | { error: unknown }>();

/** False when EFSBAK_NATIVE=0: the callers then use their portable fallbacks. */
export function nativeAllowed(): boolean {
  return process.env.EFSBAK_NATIVE !== "0";
}

/**
 * The addon `name`, loaded by `load` (a literal `require`, so that the bundler embeds it), or
 * null when it cannot load here or native addons are turned off. Loads at most once.
 */
export function nativeAddon<T>(name: string, load: () => T): T | null {
  if (!nativeAllowed()) return null;
  let entry = loaded.get(name);
  if (!entry) {
    try {
      entry = { addon: load() };
    } catch (error) {
      entry = { error };
    }
    loaded.set(name, entry);
  }
  return "addon" in entry ? (entry.addon as T) : null;
}

/** Why the addon `name` did not load (for diagnostics), or null when it loaded or was not tried. */
export function nativeLoadError(name: string): string | null {
  const entry = loaded.get(name);
  return entry && "error" in entry ? String((entry.error as Error)?.message ?? entry.error) : null;
}
