/**
 * Seeded pseudo-randomness for tests: one generator (mulberry32, a fixed 32-bit PRNG), so that
 * every input is reproducible from its seed and no test carries a PRNG of its own. Data that
 * tests pin (chunk counts, golden plans) depends on this exact sequence: do not change it.
 */

/** mulberry32: 32-bit unsigned integers, reproducible from the seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The same sequence as numbers uniform in [0, 1). */
export function rng(seed: number): () => number {
  const next = prng(seed);
  return () => next() / 0x1_0000_0000;
}

/** An integer in [lo, hi] from a [0, 1) generator. */
export function between(random: () => number, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}

/**
 * n pseudo-random bytes: whole 32-bit words of prng(seed) (little-endian), and for the last
 * n % 4 bytes a fixed pattern. Random enough that zstd cannot shrink it.
 */
export function randomBytes(n: number, seed = 1): Uint8Array {
  const next = prng(seed);
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = next();
  for (let i = words.length * 4; i < n; i++) out[i] = (i * 131 + seed) & 255;
  return out;
}
