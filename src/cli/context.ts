/**
 * What every command gets: the process edges (streams, env, cwd), the global flags, the
 * plan clock, a logger on stderr, and the ways to find plans and open vaults. The only
 * place besides cli/main.ts that reads the environment.
 */
import { existsSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { createConsola } from "consola/basic";
import type { ConsolaInstance } from "consola";
import { EfsbakError, UsageError, type VaultDamageError } from "../errors.ts";
import { loadPlans } from "../plan/load.ts";
import type { Plans, VaultSpec } from "../plan/plans.ts";
import { parseMibPerSec } from "../storage/bandwidth.ts";
import { openStorage, s3SettingsOf } from "../storage/open.ts";
import type { Storage } from "../storage/storage.ts";
import type { Vault } from "../vault/vault.ts";
import type { VaultKeys } from "../vault/crypto.ts";
import type { VaultConfig } from "../vault/config.ts";
import { openOrCreateVault } from "../vault/open.ts";
import { namedByVault } from "../vault/layout.ts";
import { parseDuration } from "../plan/duration.ts";
import type { GlobalFlags } from "./args.ts";
import { newKeyKdf, passwordSource, readPassword, unlockWithPassword } from "./password.ts";

/** A writable stream as the CLI needs it. */
export interface Out {
  write(s: string): void;
  isTTY?: boolean;
}

/** The process edges, injectable for in-process CLI tests. */
export interface CliIo {
  stdout: Out;
  stderr: Out;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM: jobs stop cleanly and keep what they stored. */
  signal?: AbortSignal;
}

/** A vault as a command refers to it. */
export interface VaultTarget {
  /** Name in the plans, or the URL/path given. */
  name: string;
  url: string;
  spec: VaultSpec | null;
}

/** Shared state of one CLI invocation. */
export interface Context {
  io: CliIo;
  flags: GlobalFlags;
  log: ConsolaInstance;
  /** The plan clock: --now / EFSBAK_NOW plus the real time elapsed since start. */
  now(): Date;
  /** True when the clock is simulated. */
  simulated: boolean;
  /**
   * Plans of this invocation's one plans directory (see usePlansDir, else --plans, else
   * "plans"); null when the default dir does not exist.
   */
  plans(options?: { required?: boolean }): Plans | null;
  /**
   * Makes dir the plans directory of this invocation (the DIR of `run DIR`, `validate DIR`),
   * so that every later lookup, vault names included, reads the same plans.
   */
  usePlansDir(dir: string): void;
  /** Resolves --vault (a name from the plans, or a URL/path). */
  vaultTarget(ref: string | undefined): VaultTarget;
  /** Opens a vault; with create, initializes a missing one. */
  /**
   * Opens a vault; with create, initializes a missing one. An encrypted vault of format 1 is
   * upgraded to format 2 on the way (not with readOnly: check never writes).
   */
  openVault(target: VaultTarget, options?: { create?: boolean; readOnly?: boolean; onIndexDamage?: (err: VaultDamageError) => void }): Promise<Vault>;
  /** Storage of a target, without opening the vault. */
  storageOf(target: VaultTarget): { storage: Storage; cold: Storage };
  /** Milliseconds a lease claim (or a new vault's config) waits before it is sure: longer on object stores, EFSBAK_S3_SETTLE there. */
  settleMs(target: VaultTarget): number;
  /** True when progress may be drawn. */
  interactive: boolean;
  /** Names of the vaults this invocation created (a typo in --vault makes a new vault: say so). */
  readonly createdVaults: string[];
  /** Retries of storage requests so far, by vault location (metrics: efsbak_storage_retries_total). */
  readonly storageRetries: Map<string, number>;
}

/** How long a claim settles on a local vault. */
const LOCAL_SETTLE_MS = 50;
/** The same on S3 (EFSBAK_S3_SETTLE overrides it): a write may reach other readers a moment late. */
const S3_SETTLE_MS = 1500;

/** Builds the context of one invocation. */
export function createContext(io: CliIo, flags: GlobalFlags): Context {
  const nowText = flags.now ?? io.env.EFSBAK_NOW ?? null;
  let base: number | null = null;
  if (nowText) {
    base = Date.parse(nowText);
    if (!/^\d{4}-\d{2}-\d{2}/.test(nowText) || Number.isNaN(base)) {
      throw new UsageError(`Cannot read the time "${nowText}" given by ${flags.now ? "--now" : "EFSBAK_NOW"}`, 'use ISO-8601, e.g. "2026-11-24T05:30:00Z"');
    }
  }
  const started = performance.now();
  // Off a TTY (systemd, CI) only warnings and errors: quiet unless something is wrong.
  const level = flags.quiet ? 0 : flags.verbose ? 4 : io.stderr.isTTY && !flags.json ? 3 : 1;
  const log = createConsola({
    level,
    formatOptions: { date: false, colors: !!io.stderr.isTTY },
    stdout: io.stderr as unknown as NodeJS.WriteStream,
    stderr: io.stderr as unknown as NodeJS.WriteStream,
  });
  const limits = { upload: limitFlag(flags.limitUpload, "--limit-upload"), download: limitFlag(flags.limitDownload, "--limit-download") };
  const planCache = new Map<string, Plans | null>();
  let plansDir: string | null = flags.plans;
  // Keys of vaults unlocked by this invocation (by location and vault id): one password prompt
  // and one Argon2id run per vault, however often a command opens it.
  const unlockedKeys = new Map<string, VaultKeys>();

  const ctx: Context = {
    io,
    flags,
    log,
    simulated: base !== null,
    interactive: !!io.stderr.isTTY && !flags.json && !flags.quiet,
    createdVaults: [],
    storageRetries: new Map(),
    now() {
      return base === null ? new Date() : new Date(base + Math.round(performance.now() - started));
    },
    usePlansDir(dir) {
      plansDir = dir;
    },
    plans(options = {}) {
      const dir = plansDir ?? "plans";
      const abs = resolve(io.cwd, dir);
      if (planCache.has(abs)) return planCache.get(abs)!;
      const explicit = plansDir !== null;
      if (!existsSync(abs)) {
        if (explicit || options.required) {
          throw new UsageError(`Cannot read plans: "${dir}" does not exist`, 'give the plans directory, e.g. "efsbak run plans/"');
        }
        planCache.set(abs, null);
        return null;
      }
      // Relative names read better in problems; an in-process caller with another cwd gets absolute ones.
      const plans = loadPlans(resolve(io.cwd) === process.cwd() ? dir : abs, { baseDir: io.cwd });
      planCache.set(abs, plans);
      return plans;
    },
    vaultTarget(ref) {
      const plans = ref !== undefined && looksLikeLocation(ref) && !ctx.plans()?.vaults.has(ref) ? null : ctx.plans();
      if (ref === undefined) {
        const names = plans ? [...plans.vaults.keys()] : [];
        if (names.length === 1) return { name: names[0], url: plans!.vaults.get(names[0])!.url, spec: plans!.vaults.get(names[0])! };
        throw new UsageError(
          names.length === 0 ? "Cannot tell which vault to use: no --vault given and no plans define one" : `Cannot tell which vault to use: the plans define ${names.length} (${names.join(", ")})`,
          'add --vault NAME_OR_PATH',
        );
      }
      const spec = plans?.vaults.get(ref);
      if (spec) return { name: ref, url: spec.url, spec };
      if (looksLikeLocation(ref)) return { name: ref, url: ref, spec: null };
      throw new UsageError(`Cannot find vault "${ref}" in the plans`, plans ? `known vaults: ${[...plans.vaults.keys()].join(", ") || "none"}; a local path needs a "/" (e.g. "./${ref}")` : `a local path needs a "/" (e.g. "./${ref}")`);
    },
    storageOf(target) {
      const s = target.spec;
      let location = target.url; // until opened: retries count against the vault's location
      const opened = openStorage(target.url, {
        ...s3SettingsOf(s),
        baseDir: io.cwd,
        env: io.env,
        coldPath: s?.coldPath ? (isAbsolute(s.coldPath) ? s.coldPath : resolve(io.cwd, s.coldPath)) : undefined,
        directIo: io.env.EFSBAK_DIRECT_IO !== "0",
        bandwidth: { uploadBytesPerSec: limits.upload ?? s?.limitUploadBytesPerSec, downloadBytesPerSec: limits.download ?? s?.limitDownloadBytesPerSec },
        requestTimeoutMs: envDuration(io.env, "EFSBAK_S3_REQUEST_TIMEOUT") ?? s?.requestTimeoutMs,
        maxAttempts: envCount(io.env, "EFSBAK_S3_MAX_ATTEMPTS") ?? s?.maxAttempts,
        signal: io.signal,
        retry: {
          mustExist: namedByVault,
          onRetry(info) {
            ctx.storageRetries.set(location, (ctx.storageRetries.get(location) ?? 0) + 1);
            const error = info.error instanceof Error ? info.error.message : String(info.error);
            log.debug(`Retrying ${info.op} "${info.key}" in "${location}" in ${(info.delayMs / 1000).toFixed(1)} s: attempt ${info.attempt} failed: ${error}`);
          },
        },
      });
      location = opened.location;
      return opened;
    },
    async openVault(target, options = {}) {
      const { storage, cold } = ctx.storageOf(target);
      const cacheKey = (config: VaultConfig) => `${storage.location}\n${config.id}`;
      const opened = await openOrCreateVault(storage, {
        name: target.name,
        create: options.create,
        readOnly: options.readOnly,
        encryption: target.spec?.encryption,
        passwordSource: passwordSource(io.env),
        cold,
        now: () => ctx.now(),
        settleMs: ctx.settleMs(target),
        onIndexDamage: options.onIndexDamage,
      }, {
        async unlock(config) {
          const keys = unlockedKeys.get(cacheKey(config)) ?? (await unlockWithPassword(ctx, { name: target.name, storage, config })).keys;
          unlockedKeys.set(cacheKey(config), keys);
          return keys;
        },
        async newKey() {
          const password = await readPassword(ctx, { action: `create encrypted vault "${target.name}"`, confirm: true });
          return { password, kdf: newKeyKdf(ctx) };
        },
        remember: (config, keys) => void unlockedKeys.set(cacheKey(config), keys),
        checkCreatable() {
          if (target.url.startsWith("s3://")) return;
          const abs = resolve(io.cwd, target.url);
          if (existsSync(abs) && !statSync(abs).isDirectory()) throw new EfsbakError(`Cannot create vault "${target.name}": "${abs}" is a file`, { exitCode: 1 });
        },
        info: (m) => log.info(m),
        warn: (m) => log.warn(m),
      });
      if (opened.created) ctx.createdVaults.push(target.name);
      return opened.vault;
    },
    settleMs(target) {
      return target.url.startsWith("s3://") ? (envSettle(io.env, "EFSBAK_S3_SETTLE") ?? S3_SETTLE_MS) : LOCAL_SETTLE_MS;
    },
  };
  return ctx;
}

/** A --limit-* value in MiB/s, as bytes per second. */
function limitFlag(text: string | null, flag: string): number | undefined {
  if (text === null) return undefined;
  const bytes = parseMibPerSec(text);
  if (bytes === null) throw new UsageError(`Cannot read ${flag} "${text}": expected MiB/s as a number above 0`, `e.g. ${flag} 4 or ${flag} 0.5`);
  return bytes;
}

function looksLikeLocation(ref: string): boolean {
  return ref.includes("/") || ref.startsWith(".") || ref.startsWith("~") || ref.includes(":");
}

/** A duration from the environment (e.g. EFSBAK_S3_REQUEST_TIMEOUT="30s"), or undefined when unset. */
function envDuration(env: Record<string, string | undefined>, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === "") return undefined;
  const ms = parseDuration(text);
  if (ms === null || ms <= 0) throw new UsageError(`Cannot use ${name}="${text}": not a duration`, 'write it like "30s", "2m" or "1m30s"');
  return ms;
}

/** A count of attempts from the environment, or undefined when unset. */
function envCount(env: Record<string, string | undefined>, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === "") return undefined;
  if (!/^[1-9][0-9]?$|^100$/.test(text)) throw new UsageError(`Cannot use ${name}="${text}": not a whole number from 1 to 100`, "1 means no retries; the default is 6");
  return Number(text);
}

/** A settle time from the environment: "200ms", or a duration such as "2s" ("0s" is no wait); undefined when unset. */
function envSettle(env: Record<string, string | undefined>, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === "") return undefined;
  const ms = /^\d{1,6}ms$/.test(text) ? Number(text.slice(0, -2)) : parseDuration(text);
  if (ms === null || ms > 10 * 60_000) throw new UsageError(`Cannot use ${name}="${text}": not a duration of at most 10m`, 'write it like "200ms", "2s" or "1m"; the default is 1.5 s');
  return ms;
}
