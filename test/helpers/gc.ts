/** GC helpers for lifetime tests; vitest.config.ts starts the test processes with --expose-gc. */
export function forceGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('tests must run with --expose-gc (see vitest.config.ts)');
  gc();
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

/** Runs GC and yields to the event loop until `done()` holds or the attempts run out. */
export async function gcUntil(done: () => boolean, attempts = 200): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (done()) return true;
    forceGc();
    await tick();
  }
  return done();
}
