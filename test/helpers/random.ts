/** Seeded randomness for tests: a fresh seed each run, printed with any failure (HRSEG_TEST_SEED replays). */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function freshSeed(): number {
  const env = process.env.HRSEG_TEST_SEED;
  return env ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}

export function uniform(rng: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng() * 2 - 1) * scale;
  return a;
}

/** Student-t-like heavy tails (as trained weights have): a normal over the root of a scaled chi-square of 3 degrees. */
export function heavy(rng: () => number, n: number, scale: number): Float32Array {
  const normal = () => Math.sqrt(-2 * Math.log(rng() + 1e-12)) * Math.cos(2 * Math.PI * rng());
  return Float32Array.from({ length: n }, () => {
    const chi = (normal() ** 2 + normal() ** 2 + normal() ** 2) / 3;
    return (scale * normal()) / Math.sqrt(chi + 1e-6);
  });
}

/** max |a − b| / max(max |b|, tiny): the error relative to the reference's scale. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let err = 0,
    scale = 1e-30;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    const e = Math.abs(a[i] - b[i]);
    err = Math.max(err, Number.isNaN(e) ? Infinity : e);
  }
  return err / scale;
}

/** Cosine similarity of two equally long vectors (float64 sums). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}
