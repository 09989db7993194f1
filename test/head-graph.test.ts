/**
 * The head's TensorRT graphs, proved on ONNX Runtime: the twin of each graph (plugin nodes written
 * as standard operators) must equal the C++ head on fresh random weights and inputs, and the
 * plugin form must be the same graph with exactly the two custom nodes in place of their twins'
 * subgraphs (attributes, domain, plugin namespace and version that TensorRT's parser reads).
 */
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { Head, encodeSafetensors, resolveHeadConfig, tensor, type HeadConfigInput } from '../lib/index.js';
import { headImageGraph, headInstructionGraph, HEAD_GRAPH_OPSET, type HeadWeights } from '../lib/trt/head-graph.js';
import { typedGraph } from '../lib/onnx/typed.js';
import { randomHeadWeights, randomProposals, toStored } from './helpers/head-weights.js';
import { freshSeed, makeRng, relError, uniform } from './helpers/random.js';

const { onnx } = onnxProto as unknown as { onnx: typeof import('onnx-proto').onnx };
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
  hreHeads: 2,
  hiddenSize: 20,
  fusionBlocks: 2,
  fusionHeads: 4,
  fusionMlpDim: 24,
  iopHidden: 8,
  embedHidden: 24,
};

async function setup(config: HeadConfigInput, K: number, H: number, W: number) {
  const c = resolveHeadConfig(config);
  const w = randomHeadWeights(rng, c, { biases: 'some', hreOut: true });
  const head = await Head.load(encodeSafetensors(toStored(w)), c);
  const weights: HeadWeights = (name) => w[name];
  const ng = c.globalGrid,
    nl = c.magnification * ng;
  const fg = uniform(rng, ng * ng * c.featureDim);
  const fl = uniform(rng, nl * nl * c.featureDim);
  const masks = randomProposals(rng, K, H, W);
  const hSeg = uniform(rng, c.hiddenSize);
  return { c, w, head, weights, fg, fl, masks, hSeg, ng, nl };
}

async function runOrt(bytes: Uint8Array, feeds: Record<string, ort.Tensor>) {
  const session = await ort.InferenceSession.create(bytes);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) {
  const e = relError(got, want);
  expect(e, withSeed(`${what}: relative error ${e}`)).toBeLessThan(tol);
}

describe('the head as ONNX graphs (what build-engines hands TensorRT)', () => {
  for (const [label, config, K, H, W] of [
    ['HRP on, non-square proposals', SMALL, 6, 13, 9],
    ['HRP on, N = 3, pooling from F_r, taller than wide', { ...SMALL, magnification: 3, globalGrid: 4, poolSource: 'region' }, 3, 20, 11],
    ['LLM-Seg form (HRP off), wider than tall', { ...SMALL, hrp: false }, 4, 8, 17],
    ['area resize, proposals smaller than P (an upscale)', { ...SMALL, maskResize: 'area' }, 5, 7, 10],
  ] as const) {
    it(`image step twin equals the C++ head: ${label}`, async () => {
      const s = await setup(config as HeadConfigInput, K, H, W);
      const image = await s.head.imageStep({
        globalFeatures: tensor('float32', [s.ng * s.ng, s.c.featureDim], s.fg),
        localFeatures: s.c.hrp ? tensor('float32', [s.nl * s.nl, s.c.featureDim], s.fl) : undefined,
        proposals: tensor('uint8', [K, H, W], s.masks),
      });
      const bytes = headImageGraph(s.weights, s.c, { plugins: false }).encode(HEAD_GRAPH_OPSET);
      const feeds: Record<string, ort.Tensor> = {
        fg: new ort.Tensor('float32', s.fg, [s.ng * s.ng, s.c.featureDim]),
        masks: new ort.Tensor('uint8', s.masks, [K, H, W]),
      };
      if (s.c.hrp) feeds.fl = new ort.Tensor('float32', s.fl, [s.nl * s.nl, s.c.featureDim]);
      const out = await runOrt(bytes, feeds);
      if (s.c.hrp) expectClose(out.region.data as Float32Array, image.region.data, 1e-5, 'F_r');
      expectClose(out.hybrid.data as Float32Array, image.hybrid.data, 1e-5, 'F_h');
      expectClose(out.mHrp.data as Float32Array, image.mHrp.data, 1e-5, 'M_HRP');
      expectClose(out.mHre.data as Float32Array, image.mHre.data, 1e-5, 'M_HRE');
      // The fp16 variant (what an fp16 engine of the twin would compute) stays close.
      const half = await runOrt(typedGraph(headImageGraph(s.weights, s.c, { plugins: false }), 'fp16').encode(HEAD_GRAPH_OPSET), feeds);
      expectClose(half.mHrp.data as Float32Array, image.mHrp.data, 2e-2, 'fp16 M_HRP');
      expectClose(half.mHre.data as Float32Array, image.mHre.data, 2e-2, 'fp16 M_HRE');
      s.head.dispose();
    });
  }

  it('instruction step equals the C++ head (text, embeddings, IoP, similarity), its fp16 variant stays close and its bf16 variant type-checks', async () => {
    const s = await setup(SMALL, 7, 10, 12);
    const image = await s.head.imageStep({
      globalFeatures: tensor('float32', [s.ng * s.ng, s.c.featureDim], s.fg),
      localFeatures: tensor('float32', [s.nl * s.nl, s.c.featureDim], s.fl),
      proposals: tensor('uint8', [7, 10, 12], s.masks),
    });
    const instr = await s.head.instructionStep(image, tensor('float32', [1, s.c.hiddenSize], s.hSeg));
    const graph = headInstructionGraph(s.weights, s.c);
    const feeds = {
      mHre: new ort.Tensor('float32', image.mHre.data, [7, s.c.dim]),
      hSeg: new ort.Tensor('float32', s.hSeg, [1, s.c.hiddenSize]),
    };
    const out = await runOrt(graph.encode(HEAD_GRAPH_OPSET), feeds);
    expectClose(out.text.data as Float32Array, instr.text.data, 1e-5, 'text t');
    expectClose(out.embeddings.data as Float32Array, instr.embeddings.data, 1e-5, 'embeddings e');
    expectClose(out.iop.data as Float32Array, instr.iop.data, 1e-5, 'S_iop');
    // The cosine is checked to an absolute 1e-5 (a near-zero cosine makes relative error meaningless).
    const sim = out.similarity.data as Float32Array;
    for (let k = 0; k < 7; k++) expect(Math.abs(sim[k] - instr.similarity.data[k]), withSeed(`S_sim[${k}]`)).toBeLessThan(1e-5);
    // The typed variant TensorRT builds fp16 engines from; ONNX Runtime's CPU provider runs fp16.
    const half = await runOrt(typedGraph(headInstructionGraph(s.weights, s.c), 'fp16').encode(HEAD_GRAPH_OPSET), feeds);
    expectClose(half.embeddings.data as Float32Array, instr.embeddings.data, 2e-2, 'fp16 embeddings');
    expectClose(half.iop.data as Float32Array, instr.iop.data, 2e-2, 'fp16 S_iop');
    // bf16: ONNX Runtime's CPU provider has no bf16 kernels, so the variant is checked to type-check
    // (ORT stops at a missing kernel, never at a type error), for both head graphs.
    for (const g of [headInstructionGraph(s.weights, s.c), headImageGraph(s.weights, s.c, { plugins: false })]) {
      const e = await ort.InferenceSession.create(typedGraph(g, 'bf16').encode(HEAD_GRAPH_OPSET)).catch((x: unknown) => x as Error);
      expect((e as Error).message).toMatch(/Could not find an implementation/);
      expect((e as Error).message).not.toMatch(/Type Error/);
    }
    s.head.dispose();
  });

  it("the plugin form carries RegionAttention and MaskPooling nodes as TensorRT's parser reads them", () => {
    const c = resolveHeadConfig({ ...SMALL, gamma: 1, maskResize: 'area' });
    const w = randomHeadWeights(rng, c);
    const model = onnx.ModelProto.decode(headImageGraph((n) => w[n], c, { plugins: true }).encode(HEAD_GRAPH_OPSET));
    const custom = model.graph!.node!.filter((n) => n.domain === 'hrseg');
    expect(custom.map((n) => n.opType)).toEqual(['RegionAttention', 'MaskPooling']);
    const attrs = (n: (typeof custom)[number]) =>
      Object.fromEntries((n.attribute ?? []).map((a) => [a.name, a.s?.length ? new TextDecoder().decode(a.s) : a.type === 1 ? a.f : Number(a.i)]));
    // γ = 1 must stay a FLOAT attribute (the plugin reads 'gamma' as kFLOAT32).
    expect(custom[0].attribute!.find((a) => a.name === 'gamma')!.type).toBe(onnx.AttributeProto.AttributeType.FLOAT);
    expect(attrs(custom[0])).toMatchObject({ magnification: 2, gamma: 1, plugin_namespace: 'hrseg', plugin_version: '1' });
    expect(custom[0].output).toEqual(['region', 'hybrid']);
    expect(attrs(custom[1])).toMatchObject({ pool_size: 12, mask_resize: 'area', plugin_namespace: 'hrseg', plugin_version: '1' });
    // Every plugin input is a float tensor: the uint8 masks input reaches MaskPooling through a
    // Cast to fp16 (TensorRT gives plugins no uint8/bool and lets a uint8 input feed only a Cast).
    expect(custom[1].input).toEqual(['masks_f16', 'hybrid']);
    const producer = (t: string) => model.graph!.node!.find((n) => n.output?.includes(t));
    const cast = producer('masks_f16')!;
    expect(cast.opType).toBe('Cast');
    expect(cast.input).toEqual(['masks']);
    expect(Number(cast.attribute!.find((a) => a.name === 'to')!.i)).toBe(onnx.TensorProto.DataType.FLOAT16);
    const inputs = new Map(model.graph!.input!.map((i) => [i.name, i.type!.tensorType!.elemType]));
    for (const n of custom)
      for (const x of n.input ?? [])
        expect(inputs.has(x) && inputs.get(x) !== onnx.TensorProto.DataType.FLOAT, `${n.opType} reads graph input ${x}`).toBe(false);
    for (const n of model.graph!.node!) if ((n.input ?? []).includes('masks')) expect(n.opType, 'the uint8 masks input feeds only a Cast').toBe('Cast');
    expect(model.opsetImport!.map((o) => o.domain)).toEqual(['', 'hrseg']);
    // No standard Softmax over the windows and no Resize remain: the plugins replace them.
    const ops = model.graph!.node!.map((n) => n.opType);
    expect(ops.filter((o) => o === 'Resize')).toHaveLength(0);
    expect(ops.filter((o) => o === 'Softmax')).toHaveLength(c.hreLayers);
  });
});
