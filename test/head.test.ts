import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Head, HrsegError, encodeSafetensors, resolveHeadConfig, tensor, type HeadConfigInput } from '../lib/index.js';
import * as ref from './reference/head-reference.js';
import { randomHeadWeights, randomProposals, toStored } from './helpers/head-weights.js';
import { freshSeed, makeRng, relError, uniform } from './helpers/random.js';

const TOL = 1e-5;
const seed = freshSeed();
const rng = makeRng(seed);
const withSeed = (what: string) => `${what} (seed ${seed}; HRSEG_TEST_SEED=${seed} replays)`;

const SMALL: HeadConfigInput = {
  featureDim: 24,
  dim: 16,
  globalGrid: 5,
  magnification: 2,
  poolSize: 12,
  hreLayers: 2,
  hreHeads: 1,
  hiddenSize: 20,
  fusionBlocks: 2,
  fusionHeads: 4,
  fusionMlpDim: 24,
  iopHidden: 8,
  embedHidden: 24,
};

const dir = mkdtempSync(join(tmpdir(), 'hrseg-head-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  config: HeadConfigInput;
  K: number;
  H: number;
  W: number;
  S?: number;
  proposals?: { empty?: boolean; whole?: boolean };
  weights?: Parameters<typeof randomHeadWeights>[2];
}

async function runCase(cs: Case, fromFile = false) {
  const c = resolveHeadConfig(cs.config);
  const w = randomHeadWeights(rng, c, cs.weights);
  const bytes = encodeSafetensors(toStored(w));
  let source: string | Uint8Array = bytes;
  if (fromFile) {
    source = join(dir, `head-${Math.floor(rng() * 1e9)}.safetensors`);
    writeFileSync(source, bytes);
  }
  const head = await Head.load(source, c);
  const ng = c.globalGrid,
    nl = c.magnification * ng;
  const fg = uniform(rng, ng * ng * c.featureDim);
  const fl = uniform(rng, nl * nl * c.featureDim);
  const masks = randomProposals(rng, cs.K, cs.H, cs.W, cs.proposals);
  const S = cs.S ?? 1;
  const hSeg = uniform(rng, S * c.hiddenSize);
  // Without HRP (LLM-Seg) there is no local view: no local features are passed at all.
  const image = await head.imageStep({
    globalFeatures: tensor('float32', [ng * ng, c.featureDim], fg),
    localFeatures: c.hrp ? tensor('float32', [nl * nl, c.featureDim], fl) : undefined,
    proposals: tensor('uint8', [cs.K, cs.H, cs.W], masks),
  });
  const instr = await head.instructionStep(image, tensor('float32', [S, c.hiddenSize], hSeg));
  const want = ref.imageStep(fg, c.hrp ? fl : undefined, masks, cs.K, cs.H, cs.W, c, w);
  return { c, w, head, masks, hSeg, image, instr, want, S };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string) {
  const e = relError(got, want);
  expect(e, withSeed(`${what}: relative error ${e}`)).toBeLessThan(TOL);
}

async function checkAll(cs: Case, fromFile = false) {
  const r = await runCase(cs, fromFile);
  const { c, image, instr, want } = r;
  expect(image.mHre.dims).toEqual([cs.K, c.dim]);
  expectClose(image.region.data, want.region, 'region attention F_r');
  expectClose(image.hybrid.data, want.hybrid, 'hybrid F_h');
  expectClose(image.mHrp.data, want.mHrp, 'mask pooling M_HRP');
  expectClose(image.mHre.data, want.mHre, 'HRE M_HRE');
  for (let s = 0; s < r.S; s++) {
    // The instruction step is checked from the native M_HRE, so each step is judged on its own.
    const got = instr;
    const wi = ref.instructionStep(image.mHre.data, cs.K, r.hSeg.subarray(s * c.hiddenSize, (s + 1) * c.hiddenSize), c, r.w);
    expectClose(got.text.data.subarray(s * c.dim, (s + 1) * c.dim), wi.text, 'text projection t');
    expectClose(got.embeddings.data.subarray(s * cs.K * c.dim, (s + 1) * cs.K * c.dim), wi.embeddings, 'embedding head e');
    // The cosine is judged on the native t and e_k (checked just above): near-orthogonal vectors
    // (a cosine of 0.006 occurs) would turn their float32 rounding into a large relative error of
    // the cosine that says nothing about the cosine itself.
    const ownCosine = ref.cosineSimilarity(
      got.text.data.subarray(s * c.dim, (s + 1) * c.dim),
      got.embeddings.data.subarray(s * cs.K * c.dim, (s + 1) * cs.K * c.dim),
      cs.K,
      c.dim,
    );
    expectClose(got.similarity.data.subarray(s * cs.K, (s + 1) * cs.K), ownCosine, 'cosine S_sim');
    expectClose(got.iop.data.subarray(s * cs.K, (s + 1) * cs.K), wi.iop, 'IoP head S_iop');
    // Selection and union are exact functions of the scores: judge them on the native scores.
    const sim = got.similarity.data.subarray(s * cs.K, (s + 1) * cs.K);
    const iop = got.iop.data.subarray(s * cs.K, (s + 1) * cs.K);
    const sel = ref.select(sim, iop, cs.K, c.selection);
    expect(got.selections[s]).toEqual(sel);
    const mask = got.masks.data.subarray(s * cs.H * cs.W, (s + 1) * cs.H * cs.W);
    expect(Buffer.from(mask).equals(Buffer.from(ref.union(r.masks, cs.H, cs.W, sel.chosen)))).toBe(true);
  }
  r.head.dispose();
  return r;
}

describe('the head against the float64 reference (fresh random inputs and weights)', () => {
  it('default structure at small widths, non-square image', async () => {
    await checkAll({ config: SMALL, K: 7, H: 13, W: 9 });
  });

  it('loaded from a file path (memory-mapped), all biases present', async () => {
    await checkAll({ config: SMALL, K: 5, H: 8, W: 15, weights: { biases: 'all' } }, true);
  });

  it('no biases anywhere optional, several [SEG] embeddings', async () => {
    await checkAll({ config: SMALL, K: 6, H: 10, W: 10, S: 3, weights: { biases: 'none' } });
  });

  it('N = 1 and N = 3, K = 1', async () => {
    await checkAll({ config: { ...SMALL, magnification: 1 }, K: 1, H: 7, W: 7 });
    await checkAll({ config: { ...SMALL, magnification: 3, globalGrid: 4 }, K: 3, H: 9, W: 12 });
  });

  it('γ = 0 and γ = 1, pooling from the region features', async () => {
    await checkAll({ config: { ...SMALL, gamma: 0 }, K: 4, H: 11, W: 6 });
    await checkAll({ config: { ...SMALL, gamma: 1, poolSource: 'region' }, K: 4, H: 6, W: 11 });
  });

  it('multi-head HRE with an output projection, L = 1 and L = 3', async () => {
    await checkAll({ config: { ...SMALL, hreHeads: 2, hreLayers: 1 }, K: 5, H: 9, W: 9 });
    await checkAll({ config: { ...SMALL, hreLayers: 3 }, K: 3, H: 9, W: 9 });
  });

  it('a fusion width unlike d (SAM-style downsampled attention) and one fusion block', async () => {
    await checkAll({ config: { ...SMALL, fusionBlocks: 1 }, K: 5, H: 9, W: 9, weights: { fusionInternal: 8 } });
  });

  it('pool sizes that do not divide the frame, both maskResize forms (antialias default, area)', async () => {
    for (const maskResize of ['bilinear-antialias', 'area'] as const) {
      await checkAll({ config: { ...SMALL, maskResize, poolSize: 7 }, K: 4, H: 10, W: 13 });
      await checkAll({ config: { ...SMALL, maskResize, poolSize: 20 }, K: 4, H: 13, W: 6 }); // an upscale
      await checkAll({ config: { ...SMALL, maskResize, poolSize: 5 }, K: 3, H: 40, W: 23 }); // an 8× downscale
    }
  });

  it('the llm-seg form: no HRP (F_h = X_g, no local features, no region weights) and no HRE', async () => {
    const llmSeg: HeadConfigInput = { ...SMALL, hrp: false, hreLayers: 0, globalGrid: 8 };
    const r = await checkAll({ config: llmSeg, K: 6, H: 21, W: 30 });
    expect(r.image.region.dims).toEqual([0, 16]);
    expect(Object.keys(r.w).some((k) => k.startsWith('hrp.region_attn'))).toBe(false);
    // With HRE on top (a future HRSeg checkpoint without HRP) it is still the definition.
    await checkAll({ config: { ...llmSeg, hreLayers: 1 }, K: 4, H: 9, W: 12, S: 2 });
  });

  it('HRP needs its local features and its region-attention weights', async () => {
    const c = resolveHeadConfig({ ...SMALL, hrp: false, hreLayers: 0 });
    const w = encodeSafetensors(toStored(randomHeadWeights(rng, c)));
    const e = await Head.load(w, { ...c, hrp: true }).catch((x: unknown) => x);
    expect((e as HrsegError).message).toMatch(/'hrp\.region_attn\.[qkv]_proj\.weight' is missing/);
    const head = await Head.load(encodeSafetensors(toStored(randomHeadWeights(rng, resolveHeadConfig(SMALL)))), SMALL);
    const ng = 5;
    const missing = await head
      .imageStep({
        globalFeatures: tensor('float32', [ng * ng, 24], new Float32Array(ng * ng * 24)),
        proposals: tensor('uint8', [1, 4, 4], new Uint8Array(16)),
      })
      .catch((x: unknown) => x);
    expect((missing as HrsegError).code).toBe('INVALID_ARGUMENT');
    expect((missing as HrsegError).message).toMatch(/localFeatures/);
    expect(() => resolveHeadConfig({ hrp: false, poolSource: 'region' })).toThrow(/needs HRP/);
    head.dispose();
  });

  it('all-empty proposals pool to zero; a whole-image proposal pools to the frame average', async () => {
    const r = await checkAll({ config: SMALL, K: 3, H: 8, W: 8, proposals: { empty: true } });
    expect(Array.from(r.image.mHrp.data).every((v) => v === 0)).toBe(true);
    await checkAll({ config: SMALL, K: 2, H: 10, W: 7, proposals: { whole: true } });
  });

  it('K = 0 gives a clear empty result', async () => {
    const r = await runCase({ config: SMALL, K: 0, H: 6, W: 5 });
    expect(r.image.mHre.dims).toEqual([0, 16]);
    expect(r.instr.selections).toEqual([{ chosen: [], fallback: false }]);
    expect(r.instr.similarity.dims).toEqual([1, 0]);
    expect(r.instr.masks.dims).toEqual([1, 6, 5]);
    expect(Array.from(r.instr.masks.data).every((v) => v === 0)).toBe(true);
  });

  it('mask pooling: the pulled-back form equals the definition', async () => {
    const c = resolveHeadConfig({ ...SMALL, poolSize: 24 });
    const w = encodeSafetensors(toStored(randomHeadWeights(rng, c)));
    const fast = await Head.load(w, c);
    const direct = await Head.load(w, { ...c, maskPooling: 'direct' });
    const ng = c.globalGrid,
      nl = 2 * ng;
    const input = {
      globalFeatures: tensor('float32', [ng * ng, c.featureDim], uniform(rng, ng * ng * c.featureDim)),
      localFeatures: tensor('float32', [nl * nl, c.featureDim], uniform(rng, nl * nl * c.featureDim)),
      proposals: tensor('uint8', [6, 17, 11], randomProposals(rng, 6, 17, 11)),
    };
    const a = await fast.imageStep(input);
    const b = await direct.imageStep(input);
    expectClose(a.mHrp.data, b.mHrp.data, 'pulled-back vs direct pooling');
  });
});

describe('selection strategies', () => {
  it('every strategy, with the empty-selection fallback, matches the reference on the same scores', async () => {
    const r = await runCase({ config: SMALL, K: 9, H: 8, W: 8 });
    const iop = r.instr.iop.data;
    const sorted = Array.from(iop).sort((a, b) => a - b);
    const strategies = ['top1-sim', 'top1-iop', 'iop-threshold', 'topk-sim', 'topk-sim-iop'] as const;
    // τ below, inside (exactly a score: strict, so that one is out) and above the IoP range (above
    // forces the fallback); k of 1, 3 and more than K; both fallbacks.
    for (const strategy of strategies)
      for (const tau of [Math.max(0, sorted[0] - 0.01), sorted[4], Math.min(1, sorted[8] + 1e-6)])
        for (const k of [1, 3, 20])
          for (const fallback of ['top1-sim', 'none'] as const) {
            const selection = { strategy, k, tau, fallback };
            const got = await r.head.instructionStep(r.image, tensor('float32', [1, 20], r.hSeg), { selection });
            const want = ref.select(got.similarity.data, got.iop.data, 9, selection);
            expect(got.selections[0], `${strategy} k=${k} tau=${tau} fallback ${fallback}`).toEqual(want);
            // Strictly above τ: the scores above sorted[4] (4 of 9 when the scores are distinct; fewer
            // when random proposals tie, as two equal masks give equal IoPs).
            if (strategy === 'iop-threshold' && tau === sorted[4]) expect(got.selections[0].chosen).toHaveLength(sorted.filter((v) => v > tau).length);
            if (strategy === 'iop-threshold' && tau > sorted[8]) {
              expect(got.selections[0].fallback).toBe(fallback === 'top1-sim');
              // fallback none: nothing chosen, and the mask is empty.
              if (fallback === 'none') expect(got.masks.data.every((v) => v === 0)).toBe(true);
            }
          }
    r.head.dispose();
  });
});

describe('weights files are checked strictly', () => {
  const c = resolveHeadConfig(SMALL);
  const good = () => randomHeadWeights(rng, c, { biases: 'all' });

  async function loadError(bytes: Uint8Array | string, config = c): Promise<HrsegError> {
    const e = await Head.load(bytes, config).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HrsegError);
    return e as HrsegError;
  }

  it('a missing tensor is named', async () => {
    const w = good();
    delete w['fusion.layers.1.norm3.weight'];
    const e = await loadError(encodeSafetensors(toStored(w)));
    expect(e.code).toBe('MODEL_FILE');
    expect(e.message).toMatch(/'fusion\.layers\.1\.norm3\.weight' is missing/);
  });

  it('a wrong shape is named with both shapes', async () => {
    const w = good();
    w['hrp.region_attn.q_proj.weight'] = { shape: [16, 15], data: new Float32Array(240) };
    const e = await loadError(encodeSafetensors(toStored(w)));
    expect(e.message).toMatch(/'hrp\.region_attn\.q_proj\.weight' has shape \[16,15\], expected \[16,16\]/);
  });

  it('a config that does not match the file is caught at load', async () => {
    const e = await loadError(encodeSafetensors(toStored(good())), resolveHeadConfig({ ...SMALL, hiddenSize: 32 }));
    expect(e.message).toMatch(/text_hidden_fcs\.0\.0\.weight/);
  });

  it('a truncated file, a header that lies, an oversized header and a wrong dtype name the byte range', async () => {
    const bytes = encodeSafetensors(toStored(good()));
    let e = await loadError(bytes.subarray(0, bytes.length - 10));
    expect(e.message).toMatch(/data_offsets \[\d+, \d+\) run past the data section/);
    e = await loadError(bytes.subarray(0, 5));
    expect(e.message).toMatch(/truncated: 5 bytes/);
    const big = Buffer.from(bytes);
    big.writeBigUInt64LE(1n << 40n, 0);
    e = await loadError(big);
    expect(e.message).toMatch(/header length \d+ exceeds the \d+-byte limit/);
    const lying = Buffer.from(bytes);
    lying.writeBigUInt64LE(BigInt(bytes.length), 0);
    e = await loadError(lying);
    expect(e.message).toMatch(/truncated: header claims bytes 8\.\.\d+/);
    const json = bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString();
    const renamed = Buffer.from(bytes);
    const badJson = json.replace('"F32"', '"I32"');
    renamed.write(badJson, 8);
    e = await loadError(renamed);
    expect(e.message).toMatch(/is I32; weights must be F32, F16 or BF16/);
    e = await loadError(join(dir, 'does-not-exist.safetensors'));
    expect(e.message).toMatch(/does-not-exist\.safetensors: cannot open/);
    e = await loadError('');
    expect(e.code).toBe('INVALID_ARGUMENT');
  });

  it('f16 and bf16 weights give the results of their f32 values (dense layers keep them 16-bit)', async () => {
    const w = good();
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    // bf16: the top half of the f32 bits. f16: a value with an exact f16 form (|x| in [2^-6, 2),
    // 10 mantissa bits), whose bits are built by hand.
    const toBf16 = (x: number) => {
      f32[0] = x;
      const bits = u32[0] >>> 16;
      u32[0] = bits << 16;
      return { bits, value: f32[0] };
    };
    const toF16 = (x: number) => {
      const sign = x < 0 ? 1 : 0;
      let a = Math.min(Math.max(Math.abs(x), 2 ** -6), 1.999);
      const e = Math.floor(Math.log2(a));
      const m = Math.round((a / 2 ** e - 1) * 1024);
      a = (1 + m / 1024) * 2 ** e;
      // + rather than |: m may round up to 1024, which must carry into the exponent.
      return { bits: (sign << 15) + ((e + 15) << 10) + m, value: sign ? -a : a };
    };
    // input_proj feeds the folded image step (read widened); the others are packed as stored.
    const halves: Record<string, 'BF16' | 'F16'> = {
      'hrp.input_proj.weight': 'BF16',
      'text_hidden_fcs.0.0.weight': 'BF16',
      'fusion.layers.0.mlp.lin1.weight': 'F16',
      'embed_head.layers.0.weight': 'F16',
    };
    const stored = toStored(w) as Record<string, { dtype: 'F32' | 'F16' | 'BF16'; shape: number[]; data: Float32Array | Uint16Array }>;
    for (const [name, dtype] of Object.entries(halves)) {
      const bits = new Uint16Array(w[name].data.length);
      w[name].data.forEach((v, i) => {
        const h = dtype === 'BF16' ? toBf16(v) : toF16(v);
        bits[i] = h.bits;
        w[name].data[i] = h.value; // the reference gets the same (rounded) values
      });
      stored[name] = { dtype, shape: w[name].shape, data: bits };
    }
    const head = await Head.load(encodeSafetensors(stored), c);
    const ng = c.globalGrid,
      nl = 2 * ng;
    const fg = uniform(rng, ng * ng * c.featureDim),
      fl = uniform(rng, nl * nl * c.featureDim);
    const masks = randomProposals(rng, 3, 7, 7);
    const got = await head.imageStep({
      globalFeatures: tensor('float32', [ng * ng, c.featureDim], fg),
      localFeatures: tensor('float32', [nl * nl, c.featureDim], fl),
      proposals: tensor('uint8', [3, 7, 7], masks),
    });
    expectClose(got.mHre.data, ref.imageStep(fg, fl, masks, 3, 7, 7, c, w).mHre, 'half weights: M_HRE');
    const hSeg = uniform(rng, c.hiddenSize);
    const instr = await head.instructionStep(got, tensor('float32', [1, c.hiddenSize], hSeg));
    const want = ref.instructionStep(got.mHre.data, 3, hSeg, c, w);
    expectClose(instr.text.data, want.text, 'half weights: text projection t');
    expectClose(instr.embeddings.data, want.embeddings, 'half weights: embedding head e');
    expectClose(instr.iop.data, want.iop, 'half weights: IoP head');
    head.dispose();
  });
});

describe('the head API', () => {
  it('rejects wrong input shapes, a bad config and use after dispose', async () => {
    const c = resolveHeadConfig(SMALL);
    const head = await Head.load(encodeSafetensors(toStored(randomHeadWeights(rng, c))), c);
    const ok = tensor('float32', [25, 24]);
    const e = await head.imageStep({ globalFeatures: ok, localFeatures: ok, proposals: tensor('uint8', [1, 4, 4]) }).catch((x: unknown) => x);
    expect((e as HrsegError).code).toBe('INVALID_TENSOR');
    expect((e as HrsegError).message).toMatch(/localFeatures: expected float32\[100,24\]/);
    expect(() => resolveHeadConfig({ gamma: 2 })).toThrow(/gamma must be in \[0, 1\]/);
    expect(() => resolveHeadConfig({ selection: { strategy: 'best' as never } })).toThrow(/strategy must be one of/);
    head.dispose();
    await expect(head.imageStep({ globalFeatures: ok, localFeatures: ok, proposals: tensor('uint8', [1, 4, 4]) })).rejects.toThrow(/disposed/);
  });

  it('does not leak across thousands of steps, and frees outputs once collected', async () => {
    const { liveAllocations } = await import('../lib/testing.js');
    const { gcUntil } = await import('./helpers/gc.js');
    const c = resolveHeadConfig(SMALL);
    const head = await Head.load(encodeSafetensors(toStored(randomHeadWeights(rng, c))), c);
    const input = {
      globalFeatures: tensor('float32', [25, 24], uniform(rng, 25 * 24)),
      localFeatures: tensor('float32', [100, 24], uniform(rng, 100 * 24)),
      proposals: tensor('uint8', [4, 9, 7], randomProposals(rng, 4, 9, 7)),
    };
    const hSeg = tensor('float32', [1, 20], uniform(rng, 20));
    const base = liveAllocations();
    for (let i = 0; i < 1500; i++) {
      const image = await head.imageStep(input);
      await head.instructionStep(image, hSeg);
    }
    // Earlier tests' outputs may be collected meanwhile, so both can fall below the base; a leak
    // of these 1500 steps would leave thousands of allocations above it. Both are waited for
    // together: the count can get there while a few larger outputs still await collection.
    const settled = await gcUntil(() => {
      const now = liveAllocations();
      return now.count <= base.count && now.bytes <= base.bytes;
    });
    expect(settled, `live ${JSON.stringify(liveAllocations())}, base ${JSON.stringify(base)}`).toBe(true);
    head.dispose();
  });

  it('results are identical for any thread count', async () => {
    const { setCpuThreads } = await import('../lib/index.js');
    // Large enough that the dense layers exceed linear()'s 2-MFLOP threshold and use the pool.
    const c = resolveHeadConfig({ ...SMALL, featureDim: 256, dim: 64, globalGrid: 16 });
    const head = await Head.load(encodeSafetensors(toStored(randomHeadWeights(rng, c))), c);
    const input = {
      globalFeatures: tensor('float32', [256, 256], uniform(rng, 256 * 256)),
      localFeatures: tensor('float32', [1024, 256], uniform(rng, 1024 * 256)),
      proposals: tensor('uint8', [11, 40, 32], randomProposals(rng, 11, 40, 32)),
    };
    const outs = [];
    for (const t of [1, 2, 5]) {
      setCpuThreads(t);
      outs.push(await head.imageStep(input));
    }
    setCpuThreads(0);
    for (const o of outs.slice(1)) expect(Buffer.from(o.mHre.data.buffer).equals(Buffer.from(outs[0].mHre.data.buffer))).toBe(true);
  });
});
