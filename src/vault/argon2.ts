/**
 * Argon2id (RFC 9106, version 0x13) for key files: the native Rust implementation of
 * @node-rs/argon2 (it runs on libuv's thread pool, so the event loop stays free), and where
 * that addon cannot load (src/native.ts) hash-wasm's argon2id, bit-identical and several times
 * slower. Figures: docs/performance.md, "Hashing and key derivation".
 *
 * Neither library takes RFC 9106's associated data X, and efsbak uses none; the secret key K
 * both take. Parameters are checked here, the same for both engines, before any work.
 */
import type * as NativeArgon2 from "@node-rs/argon2";
import { nativeAddon } from "../native.ts";

/** Inputs of one Argon2id derivation. */
export interface Argon2Options {
  password: Uint8Array | string;
  /** At least 8 bytes (both libraries' minimum; key files use 32). */
  salt: Uint8Array;
  /** Memory in KiB, at least 8 × parallelism. */
  memoryKib: number;
  iterations: number;
  parallelism: number;
  /** Bytes of output, at least 4. */
  hashLength: number;
  /** The optional secret key K of RFC 9106. */
  secret?: Uint8Array;
  /** false: hash-wasm even where the native addon loads (tests of the fallback). */
  native?: boolean;
}

/** The Argon2id type in @node-rs/argon2's Algorithm enum (a const enum: not importable at run time). */
const ARGON2ID = 2;
/** Version 0x13 in @node-rs/argon2's Version enum. */
const V0X13 = 1;
const MIN_SALT_BYTES = 8;

/** The addon, or null where it cannot load. */
function nativeArgon2(): typeof NativeArgon2 | null {
  return nativeAddon("@node-rs/argon2", () => require("@node-rs/argon2") as typeof NativeArgon2);
}

function check(o: Argon2Options): void {
  const limits: [string, number, number, number][] = [
    ["parallelism", o.parallelism, 1, 255],
    ["memory (KiB)", o.memoryKib, 8 * o.parallelism, 4 * 1024 * 1024 - 64],
    ["iterations", o.iterations, 1, 0xffffffff],
    ["hash length", o.hashLength, 4, 0xffffffff],
    ["salt length", o.salt.length, MIN_SALT_BYTES, 0xffffffff],
  ];
  for (const [name, v, min, max] of limits) {
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`Cannot run Argon2id: ${name} must be an integer from ${min} to ${max}, got ${v}`);
  }
}

/** Which engine argon2id uses for these options: "native", or "hash-wasm" as the fallback. */
export function argon2Engine(o: Pick<Argon2Options, "native"> = {}): "native" | "hash-wasm" {
  return o.native !== false && nativeArgon2() ? "native" : "hash-wasm";
}

/** Argon2id of password and salt (RFC 9106): hashLength bytes. */
export async function argon2id(o: Argon2Options): Promise<Uint8Array> {
  check(o);
  const native = o.native === false ? null : nativeArgon2();
  if (native) {
    const tag = await native.hashRaw(o.password, {
      algorithm: ARGON2ID,
      version: V0X13,
      memoryCost: o.memoryKib,
      timeCost: o.iterations,
      parallelism: o.parallelism,
      outputLen: o.hashLength,
      salt: o.salt,
      secret: o.secret,
    });
    return new Uint8Array(tag.buffer, tag.byteOffset, tag.length);
  }
  const { password, salt, secret, iterations, parallelism, hashLength } = o;
  const { argon2id: portableArgon2id } = await import("hash-wasm"); // only when needed (chunk/hash.ts says why)
  return portableArgon2id({ password, salt, secret, iterations, parallelism, hashLength, memorySize: o.memoryKib, outputType: "binary" });
}
