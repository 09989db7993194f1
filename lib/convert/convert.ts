/**
 * `hrseg convert` / `convert()`: checkpoints users have → a model package, built op by op from the
 * weights: SAM's encoder and decoder, DINOv2, and from LLM-Seg's or a LLaVA checkpoint the VLM and
 * head (convertLlmSegVlm). What no checkpoint gave is copied from `base` (another package) or left
 * out, and the result says which files are missing.
 *
 * Nothing half-written is left: everything is built in `<out>.partial-<pid>` and renamed into
 * place at the end (an existing `out` is replaced only with `force`); on an error or an abort the
 * temporary directory is removed. Every written graph is loaded back by ONNX Runtime and checked
 * against its contract before the rename.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

import { abortError } from '../abort.js';
import { OnnxEngine } from '../engines/onnx-runtime.js';
import { HrsegError } from '../errors.js';
import { DEFAULT_FILES, MANIFEST_FILE, requiredFiles, type Manifest } from '../package/manifest.js';
import { MANIFEST_VERSION } from '../package/schema.js';
import { ONNX_COMPONENT_FILES, checkContract } from '../engines/contracts.js';
import type { DType } from '../tensor.js';
import type { GraphBuilder } from '../onnx/graph.js';
import { checkPrecision, typedGraph } from '../onnx/typed.js';
import type { HeadConfigInput } from '../head.js';
import { buildDinov2 } from './dinov2.js';
import { convertLlmSegVlm } from './llmseg.js';
import { openSource as open } from './random.js';
import { RANDOM_TOKENIZER } from './tokenizer.js';
import { buildSamDecoder } from './sam-decoder.js';
import { VISION_QUANTIZATION, quantizeVisionMatMuls } from './quantize-vision.js';
import { buildSamEncoder } from './sam-encoder.js';
import type { ConvertOptions, ConvertResult, ConvertedComponent, WriteGraph } from './types.js';

/** The components `quantizeVision` applies to. */
const VISION_COMPONENTS = ['samEncoder', 'samDecoder', 'dinoEncoder'];

export type { ConvertOptions, ConvertResult, ConvertedComponent, Quantization, WriteGraph } from './types.js';

export async function convert(options: ConvertOptions): Promise<ConvertResult> {
  if (!options || typeof options.out !== 'string' || options.out === '')
    throw new HrsegError('INVALID_ARGUMENT', 'convert: `out` (the package directory to write) is required');
  if (options.lisa) {
    if (options.llmseg || options.vlm) throw new HrsegError('INVALID_ARGUMENT', 'convert: lisa already holds the VLM; give one of lisa, llmseg and vlm');
    if (!options.clip)
      throw new HrsegError(
        'INVALID_ARGUMENT',
        "convert: LISA's checkpoint holds no CLIP tower (LISA loads openai/clip-vit-large-patch14 beside it): give clip",
      );
    // LISA's file holds its SAM and its VLM: both are read from it.
    options = { ...options, vlm: options.lisa, sam: options.sam ?? options.lisa };
  }
  // A random LLM-Seg brings its own stand-in vocabulary (random weights have no real tokenizer).
  if (options.llmseg?.startsWith('random:') && !options.tokenizer) options = { ...options, tokenizer: RANDOM_TOKENIZER };
  if (!options.sam && !options.dino && !options.llmseg && !options.vlm)
    throw new HrsegError('INVALID_ARGUMENT', 'convert: give at least one checkpoint (sam, dino, llmseg, vlm)');
  if (options.llmseg && options.vlm) throw new HrsegError('INVALID_ARGUMENT', 'convert: llmseg already holds the VLM; give one of llmseg and vlm');
  if ((options.llmseg || options.vlm) && !options.tokenizer)
    throw new HrsegError('INVALID_ARGUMENT', "convert: the VLM needs the base model's tokenizer (tokenizer.json or tokenizer.model)");
  const precision = options.precision ?? 'fp32';
  checkPrecision(precision);
  if (options.quantize !== undefined && options.quantize !== 'int4' && options.quantize !== 'int8')
    throw new HrsegError('INVALID_ARGUMENT', `convert: quantize must be 'int4' or 'int8', got ${String(options.quantize)}`);
  if (options.quantize && !(options.llmseg || options.vlm))
    throw new HrsegError('INVALID_ARGUMENT', 'convert: quantize applies to the VLM decoder: give llmseg or vlm');
  if (options.quantizeBlock !== undefined && (!Number.isInteger(options.quantizeBlock) || options.quantizeBlock < 2))
    throw new HrsegError('INVALID_ARGUMENT', `convert: quantizeBlock must be an integer ≥ 2, got ${options.quantizeBlock}`);
  if (options.quantizeBlock !== undefined && options.quantize === 'int8')
    throw new HrsegError(
      'INVALID_ARGUMENT',
      'convert: int8 weights are quantized per output channel (TensorRT takes INT8 per channel, blocks only for INT4); quantizeBlock applies to int4',
    );
  if (options.quantizeVision !== undefined && options.quantizeVision !== 'int8')
    throw new HrsegError('INVALID_ARGUMENT', `convert: quantizeVision must be 'int8', got ${String(options.quantizeVision)}`);
  if (options.quantizeVision && !(options.sam || options.dino))
    throw new HrsegError('INVALID_ARGUMENT', 'convert: quantizeVision applies to SAM and DINOv2: give sam or dino');
  if (options.quantizeVision && precision !== 'fp32')
    throw new HrsegError('INVALID_ARGUMENT', `convert: quantizeVision writes int8 layers into float32 graphs; it does not combine with precision ${precision}`);
  const out = resolve(options.out);
  const exists = await stat(out).catch(() => undefined);
  if (exists && !options.force) throw new HrsegError('INVALID_ARGUMENT', `${out} already exists; pass force (--force) to replace it`);
  const tmp = `${out}.partial-${process.pid}`;
  const say = options.onProgress ?? (() => {});
  const check = () => {
    if (options.signal?.aborted) throw abortError(options.signal);
  };
  await rm(tmp, { recursive: true, force: true });
  try {
    let manifest: Manifest = { format: 'hrseg-model', version: MANIFEST_VERSION };
    if (options.base) {
      const base = resolve(options.base);
      say({ step: `copying the other components from ${base}` });
      await cp(base, tmp, { recursive: true });
      manifest = JSON.parse(
        await readFile(join(tmp, MANIFEST_FILE), 'utf8').catch(() => {
          throw new HrsegError('MODEL_FILE', `${base} has no readable ${MANIFEST_FILE}`);
        }),
      );
    }
    await mkdir(tmp, { recursive: true });
    const components: Record<string, ConvertedComponent> = {};
    const signatures: Record<string, ReturnType<GraphBuilder['signature']>> = {};
    const write: WriteGraph = async (key, rel, built, source, arch, weightOnly) => {
      check();
      const graph = typedGraph(built, precision);
      let quantization = weightOnly;
      if (options.quantizeVision && VISION_COMPONENTS.includes(key)) {
        const layers = quantizeVisionMatMuls(graph);
        quantization = { type: 'int8', blockSize: 'channel', scheme: 'symmetric', layers, activations: VISION_QUANTIZATION, weightBits: 7 };
      }
      await mkdir(join(tmp, rel, '..'), { recursive: true });
      say({
        step: `writing ${rel} (${precision}${quantization ? `, ${quantization.type} weights` : ''}, ${(graph.weightBytes / 2 ** 20).toFixed(0)} MiB of weights)`,
      });
      // DequantizeLinear's block_size is opset 21; every other graph stays opset 17.
      const r = await graph.save(join(tmp, rel), {
        opset: quantization && !quantization.activations ? 21 : 17,
        producer: 'hrseg convert',
        signal: options.signal,
        onProgress: (done, total) => say({ step: `writing ${rel}`, done, total }),
      });
      components[key] = { file: rel, source, arch, precision, ...(quantization ? { quantization } : {}), bytes: r.bytes, external: r.external };
      signatures[key] = graph.signature();
    };
    let samGrid: number | undefined;
    if (options.sam) {
      const ck = open(options.sam);
      try {
        say({ step: `building SAM's image encoder from ${options.sam}` });
        const enc = buildSamEncoder(ck);
        samGrid = enc.arch.grid;
        const { naming, prefix: _p, ...arch } = enc.arch;
        await write('samEncoder', 'sam/encoder.onnx', enc.graph, options.sam, { ...arch, keys: naming, imageSize: enc.imageSize });
        // LISA's runtime prompts its decoder with [SEG] states only; the others prompt SAM with points.
        if (!options.lisa) {
          say({ step: `building SAM's prompt encoder and mask decoder` });
          const dec = buildSamDecoder(ck, { grid: enc.arch.grid });
          await write('samDecoder', 'sam/decoder.onnx', dec.graph, options.sam, { dim: dec.dim, depth: dec.depth, grid: enc.arch.grid });
        } else {
          say({ step: "building LISA's decoder prompted by the [SEG] embedding" });
          const lisa = buildSamDecoder(ck, { grid: enc.arch.grid, prompt: 'embeddings', multimask: false });
          await write('samPromptDecoder', 'sam/prompt-decoder.onnx', lisa.graph, options.sam, {
            dim: lisa.dim,
            depth: lisa.depth,
            grid: enc.arch.grid,
            prompt: 'embeddings',
            multimask: false,
          });
        }
      } finally {
        ck.close();
      }
    }
    let dino: { size: number; grid: number; dim: number } | undefined;
    const dinoSource = options.dino ?? options.llmseg;
    if (dinoSource) {
      const size = options.dinoSize ?? (options.llmseg ? 896 : (manifest.views?.dino?.size ?? 518));
      const ck = open(dinoSource);
      try {
        say({ step: `building DINOv2 for ${size}² views from ${dinoSource}` });
        const d = buildDinov2(ck, {
          viewSize: size,
          ...(options.dinoTable === 'transformers' ? { tableMode: 'size' as const } : {}),
          // --quantize-vision's graphs are ONNX Runtime's alone already (contrib ops).
          fusedAttention: options.quantizeVision !== undefined,
        });
        const { naming, prefix: _p, ...arch } = d.arch;
        await write('dinoEncoder', 'dino/encoder.onnx', d.graph, dinoSource, { ...arch, keys: naming, viewSize: size });
        dino = { size, grid: size / d.arch.patch, dim: d.arch.dim };
      } finally {
        ck.close();
      }
    }
    let vlm: { clipSize: number; hidden: number; head?: HeadConfigInput } | undefined;
    if (options.llmseg || options.vlm) {
      const r = await convertLlmSegVlm(options, tmp, write, say, check);
      vlm = r;
      Object.assign(components, r.extra);
    }
    // The contracts, checked by the loaders the runtime uses.
    const bindings: Record<string, Record<string, number>> = {
      samEncoder: samGrid ? { S: 16 * samGrid } : {},
      dinoEncoder: dino ? { D: dino.size, T: dino.grid ** 2, C: dino.dim } : {},
      vlmVision: vlm ? { s: vlm.clipSize, H: vlm.hidden } : {},
      vlmDecoder: vlm ? { H: vlm.hidden } : {},
    };
    for (const [key, c] of Object.entries(components)) {
      check();
      const name = ONNX_COMPONENT_FILES[key as keyof typeof ONNX_COMPONENT_FILES];
      if (!name) continue; // not an ONNX graph (tables, tokenizer, head: checked as they were written)
      say({ step: `checking ${c.file} against the ${name} contract` });
      if (precision === 'bf16' || c.external) {
        // bf16: ONNX Runtime's CPU provider has no bf16 kernels. External data: loading a graph of
        // many GB (27 GB for a 7B decoder in fp32) would need that much memory just to check names
        // and shapes. Either way the declared interface is checked.
        const spec = (t: { name: string; type?: string; dims: (number | string)[] }) => ({
          name: t.name,
          dtype: (t.type === 'float' ? 'float32' : t.type) as DType,
          dims: t.dims,
        });
        const sig = signatures[key];
        checkContract(join(tmp, c.file), name, { inputs: sig.inputs.map(spec), outputs: sig.outputs.map(spec) }, bindings[key]);
        continue;
      }
      // No CPU cache: the files are about to move (and would be cached at their first real load).
      const engine = await OnnxEngine.load(join(tmp, c.file), name, { bindings: bindings[key], cpuCache: false });
      await engine.dispose();
    }
    // The manifest: what was converted from what, and the values the new components imply.
    const m = manifest;
    m.components = { ...(m.components ?? {}), ...(components as unknown as Record<string, Record<string, unknown>>) };
    if (dino) {
      m.views = { ...m.views, dino: { ...m.views?.dino, size: dino.size } };
      m.head = { ...m.head, globalGrid: dino.grid, featureDim: dino.dim };
    }
    if (vlm) {
      m.views = { ...m.views, clip: { ...m.views?.clip, size: vlm.clipSize } };
      m.head = { ...m.head, hiddenSize: vlm.hidden };
    }
    if (vlm && options.lisa) {
      // LISA: the preset fills SPEC 11.1; only the widths come from the weights.
      m.preset = 'lisa';
      m.head = { hiddenSize: vlm.hidden };
      m.trained = true;
    }
    if (vlm && options.llmseg) {
      // LLM-Seg: the preset fills SPEC section 11; the widths come from the weights.
      m.preset = 'llm-seg';
      const { hrp: _h, hreLayers: _l, globalGrid: _g, magnification: _n, maskResize: _r, selection: _s, ...widths } = m.head ?? {};
      m.head = { ...widths, ...vlm.head, ...(dino ? { globalGrid: dino.grid, featureDim: dino.dim } : {}) };
      if (m.vlm) {
        const { mode: _m, template: _t, ...keep } = m.vlm;
        m.vlm = keep;
      }
      m.trained = true;
      if (options.base) m.description = `Converted from ${basename(options.llmseg!)} by hrseg convert (preset llm-seg).`;
    }
    const random = [options.sam, options.dino, options.llmseg, options.vlm].some((s) => s?.startsWith('random:'));
    if (random) {
      m.trained = false;
      m.description = `${m.description ? `${m.description} ` : ''}Random weights at real sizes (hrseg convert --random), for benchmarks and tests: not a trained model.`;
    }
    m.name ??= basename(out);
    await writeFile(join(tmp, MANIFEST_FILE), JSON.stringify(m, null, 2) + '\n');
    check();
    if (exists) await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
    say({ step: `wrote ${out}` });
    const missing = requiredFiles(m.preset ?? 'hrseg')
      .map((k) => DEFAULT_FILES[k])
      .filter((f) => !existsSync(join(out, f)));
    return { dir: out, components, complete: missing.length === 0, missing };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
