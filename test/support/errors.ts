/** Errors in tests: what a promise rejected with. */

/** The rejection of p, or undefined when it resolved (for tests that count failures). */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return undefined;
}

/** The rejection of p; throws when p resolves, so a test expecting an error cannot pass without one. */
export async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}
