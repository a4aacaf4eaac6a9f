/** Which copies can go by id (copy/copy.ts sameIdSpace), and where the destination's password comes from (cli/copy.ts). */
import { describe, expect, test } from "bun:test";
import { sameIdSpace } from "../../src/copy/copy.ts";
import { destinationEnv } from "../../src/cli/copy.ts";
import { DEFAULT_CHUNKER_CONFIG } from "../../src/vault/vault.ts";
import { deriveVaultKeys } from "../../src/vault/keys.ts";
import type { VaultConfig } from "../../src/vault/config.ts";
import type { VaultSpec } from "../../src/plan/plans.ts";

function side(keys: ReturnType<typeof deriveVaultKeys> | null, chunker = DEFAULT_CHUNKER_CONFIG) {
  return { config: { chunker } as VaultConfig, keys };
}

describe("sameIdSpace", () => {
  const a = deriveVaultKeys(new Uint8Array(32).fill(1));
  const b = deriveVaultKeys(new Uint8Array(32).fill(2));
  test("both unencrypted with one chunker: by id", () => expect(sameIdSpace(side(null), side(null))).toBe(true));
  test("another chunker seed or size: chunked again", () => {
    expect(sameIdSpace(side(null), side(null, { ...DEFAULT_CHUNKER_CONFIG, seed: 7 }))).toBe(false);
    expect(sameIdSpace(side(null), side(null, { ...DEFAULT_CHUNKER_CONFIG, avg_size: 512 * 1024 }))).toBe(false);
  });
  test("plain and encrypted: chunked again", () => {
    expect(sameIdSpace(side(null), side(a))).toBe(false);
    expect(sameIdSpace(side(a), side(null))).toBe(false);
  });
  test("encrypted under different keys: chunked again; one master key: by id", () => {
    expect(sameIdSpace(side(a), side(b))).toBe(false);
    expect(sameIdSpace(side(a), side(deriveVaultKeys(new Uint8Array(32).fill(1))))).toBe(true);
  });
});

describe("destinationEnv", () => {
  const target = (spec: Partial<VaultSpec> | null) => ({ name: "offsite", url: "./offsite", spec: spec ? ({ name: "offsite", url: "./offsite", allowShortCold: false, file: "p.toml", line: 1, ...spec } as VaultSpec) : null });
  test("the source's password never reaches the destination", () => {
    const env = destinationEnv({ EFSBAK_PASSWORD: "src", EFSBAK_PASSWORD_FILE: "f", HOME: "/h" }, target(null));
    expect(env.EFSBAK_PASSWORD).toBeUndefined();
    expect(env.EFSBAK_PASSWORD_FILE).toBeUndefined();
    expect(env.HOME).toBe("/h");
  });
  test("EFSBAK_TO_PASSWORD* become the destination's EFSBAK_PASSWORD*, before the plans' keys", () => {
    const env = destinationEnv({ EFSBAK_PASSWORD: "src", EFSBAK_TO_PASSWORD_COMMAND: "pass show x" }, target({ passwordFile: "pw" }));
    expect(env.EFSBAK_PASSWORD_COMMAND).toBe("pass show x");
    expect(env.EFSBAK_PASSWORD).toBeUndefined();
    expect(env.EFSBAK_PASSWORD_FILE).toBeUndefined();
  });
  test("else the vault table's password_file or password_command", () => {
    expect(destinationEnv({}, target({ passwordFile: "pw" })).EFSBAK_PASSWORD_FILE).toBe("pw");
    expect(destinationEnv({}, target({ passwordCommand: "echo x" })).EFSBAK_PASSWORD_COMMAND).toBe("echo x");
  });
});
