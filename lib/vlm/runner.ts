/**
 * The reasoning runner (SPEC.md section 6): CLIP view → vlm/vision.onnx → image tokens spliced
 * into the conversation at the placeholder → vlm/decoder.onnx with a key/value cache, greedy,
 * streamed → h_seg, the final-norm hidden state at each step that predicts [SEG].
 *
 * Everything before the instruction (BOS, the system line, the user role, <im_start>, the image
 * tokens) depends only on the image: `prepare()` runs it once and keeps its key/value cache, and
 * every instruction about that image continues from there.
 */
import { abortError } from '../abort.js';
import { HrsegError } from '../errors.js';
import type { RgbImage } from '../image.js';
import { tensor, type Tensor } from '../tensor.js';
import { CLIP_VIEW, centerCropView, type SquareViewSpec } from '../views.js';
import { OnnxEngine } from '../engines/onnx-runtime.js';
import type { DeviceBuffer, Engine, EngineInput, EngineValue } from '../engines/types.js';
import { EmbeddingTable } from './embeddings.js';
import { segStatePositions } from './seg.js';
import { LLAVA_V1_TEMPLATE, renderPrompt, type ConversationTemplate, type QueryForm } from './template.js';
import { VlmTokenizer } from './tokenizer.js';
import { DeviceKvCache, release } from './device-kv-cache.js';

export interface VlmFiles {
  vision: string;
  decoder: string;
  embeddings: string;
  tokenizer: string;
  tokenizerConfig?: string;
}

export interface VlmConfig {
  template: ConversationTemplate;
  /** The CLIP view (size 224 for LISA/LLM-Seg checkpoints, with CLIP's mean/std). */
  view: SquareViewSpec;
  bosToken: string;
  eosToken: string;
  segToken: string;
  /** Generation stops after this many new tokens (default 64). */
  maxNewTokens: number;
  /** Key/value heads and head size, when the decoder file leaves them symbolic. */
  kvHeads?: number;
  headDim?: number;
  /** Tensor name of the embedding table (default: the file's only 2-D tensor). */
  embeddingsTensor?: string;
}

export const DEFAULT_VLM_CONFIG: Readonly<VlmConfig> = Object.freeze({
  template: LLAVA_V1_TEMPLATE,
  view: CLIP_VIEW,
  bosToken: '<s>',
  eosToken: '</s>',
  segToken: '[SEG]',
  maxNewTokens: 64,
});

/** The conversation up to and including the image tokens, computed once per image. */
export interface VlmContext {
  readonly length: number;
  /** past.{i}.key / past.{i}.value after the prefix. */
  readonly past: Readonly<Record<string, EngineInput>>;
  /** Final-norm hidden state of the prefix's last position (predicts the first suffix token). */
  readonly lastHidden: Float32Array;
  /** For tests and full recomputation: the prefix embeddings [1, length, H]. */
  readonly embeddings: Tensor<'float32'>;
  /**
   * Frees the prefix's key/value cache now (device memory on TensorRT; garbage collection knows
   * nothing of it). The context cannot be answered from afterwards. Idempotent.
   */
  release(): void;
}

export interface GenerateOptions {
  form?: QueryForm;
  /** 'generate' (greedy, default) or 'teacher-forced' (the template's evalAnswer, LISA's evaluation). */
  mode?: 'generate' | 'teacher-forced';
  maxNewTokens?: number;
  signal?: AbortSignal;
  /** Each new token as it is produced (generate mode). */
  onToken?: (token: { id: number; text: string }) => void;
  /** Keep each step's last-position logits and hidden state (for tests). */
  trace?: boolean;
}

export interface VlmAnswer {
  /** The answer text (special tokens such as [SEG] kept, the end-of-sequence token dropped). */
  text: string;
  tokenIds: number[];
  /** h_seg, one row per [SEG] in order: [n, H]. n = 0 when the model never emitted [SEG]. */
  seg: Tensor<'float32'>;
  stop: 'eos' | 'limit' | 'teacher-forced';
  timings: { promptMs: number; decodeMs: number; modelMs: number; steps: number };
  trace?: { logits: Float32Array; hidden: Float32Array }[];
}

function argmax(a: Float32Array, offset: number, n: number): number {
  let best = 0,
    value = -Infinity;
  for (let i = 0; i < n; i++)
    if (a[offset + i] > value) {
      value = a[offset + i];
      best = i;
    }
  return best;
}

function concat(parts: Tensor<'float32'>[], dim: number): Tensor<'float32'> {
  const n = parts.reduce((s, p) => s + p.dims[1], 0);
  const out = new Float32Array(n * dim);
  let at = 0;
  for (const p of parts) {
    out.set(p.data, at);
    at += p.data.length;
  }
  return tensor('float32', [1, n, dim], out);
}

function positions(start: number, n: number): Tensor<'int64'> {
  const p = new BigInt64Array(n);
  for (let i = 0; i < n; i++) p[i] = BigInt(start + i);
  return tensor('int64', [1, n], p);
}

export interface VlmLoadOptions {
  /** Engines to use instead of ONNX Runtime on the package files (TensorRT engines). */
  engines?: { vision: Engine; decoder: Engine };
  /**
   * Opens a component where `engines` does not give it (a segmenter's engine provider), with the
   * contract symbols the runner fixes; default: ONNX Runtime on the CPU from `files`.
   */
  open?: (component: 'vlm/vision' | 'vlm/decoder', bindings: Readonly<Record<string, number>>) => Promise<Engine>;
  /** Tokens the key/value cache holds on a device-resident decoder (default 2048). */
  context?: number;
}

export class VlmRunner {
  #kv?: DeviceKvCache;

  private constructor(
    private readonly vision: Engine,
    private readonly decoder: Engine,
    readonly embeddings: EmbeddingTable,
    readonly tokenizer: VlmTokenizer,
    readonly config: VlmConfig,
    private readonly ids: { bos: number; eos: number; seg: number },
    private readonly layers: number,
    private readonly kvShape: [number, number],
  ) {}

  /** Its vision tower and decoder, for `Segmenter.backbones`. */
  get engines(): readonly Engine[] {
    return [this.vision, this.decoder];
  }

  /** Engines given in `options.engines` belong to the runner from here: closed if loading fails. */
  static async load(files: VlmFiles, config: Partial<VlmConfig> = {}, options: VlmLoadOptions = {}): Promise<VlmRunner> {
    try {
      return await VlmRunner.open(files, config, options);
    } catch (e) {
      await Promise.all([options.engines?.vision?.dispose(), options.engines?.decoder?.dispose()]);
      throw e;
    }
  }

  private static async open(files: VlmFiles, config: Partial<VlmConfig>, options: VlmLoadOptions): Promise<VlmRunner> {
    const c: VlmConfig = { ...DEFAULT_VLM_CONFIG, ...config };
    // Checked before any engine is opened, so that a bad value leaves nothing open behind it.
    const context = options.context;
    if (context !== undefined && (!Number.isInteger(context) || context < 2))
      throw new HrsegError('INVALID_ARGUMENT', `context must be an integer ≥ 2, got ${context}`);
    const tokenizer = await VlmTokenizer.load(files.tokenizer, files.tokenizerConfig);
    const t = c.template;
    for (const special of [c.segToken, ...(t.useImStartEnd ? [t.imStart, t.imEnd] : []), t.imageToken]) tokenizer.singleToken(special);
    const ids = { bos: tokenizer.singleToken(c.bosToken), eos: tokenizer.singleToken(c.eosToken), seg: tokenizer.singleToken(c.segToken) };
    const embeddings = EmbeddingTable.open(files.embeddings, c.embeddingsTensor);
    const open = options.open ?? ((component, bindings) => OnnxEngine.load(component === 'vlm/vision' ? files.vision : files.decoder, component, { bindings }));
    const vision = options.engines?.vision ?? (await open('vlm/vision', { s: c.view.size, H: embeddings.dim }));
    let decoder: Engine;
    try {
      decoder = options.engines?.decoder ?? (await open('vlm/decoder', { H: embeddings.dim }));
    } catch (e) {
      await vision.dispose();
      throw e;
    }
    const past = decoder.inputs.filter((i) => /^past\.\d+\.key$/.test(i.name));
    const layers = past.length;
    const problems: string[] = [];
    for (let l = 0; l < layers; l++)
      for (const kind of ['key', 'value'])
        for (const io of [`past.${l}.${kind}`, `present.${l}.${kind}`])
          if (![...decoder.inputs, ...decoder.outputs].some((x) => x.name === io)) problems.push(`'${io}' is missing`);
    if (layers === 0) problems.push('no past.{i}.key inputs (a key/value cache is required)');
    const d = past[0]?.dims ?? [];
    const heads = typeof d[1] === 'number' ? d[1] : c.kvHeads;
    const hd = typeof d[3] === 'number' ? d[3] : c.headDim;
    if (layers > 0 && (d.length !== 4 || heads === undefined || hd === undefined))
      problems.push(`past.0.key is ${JSON.stringify(d)}: expected [1, heads, past, headDim] (set kvHeads/headDim in the manifest when they are symbolic)`);
    if (problems.length > 0) {
      await Promise.all([vision.dispose(), decoder.dispose()]);
      throw new HrsegError('MODEL_FILE', `${files.decoder}: key/value cache:\n  - ${problems.join('\n  - ')}`);
    }
    const runner = new VlmRunner(vision, decoder, embeddings, tokenizer, c, ids, layers, [heads!, hd!]);
    if (decoder.allocate) {
      const context = options.context ?? 2048;
      const names = [...Array(layers).keys()].flatMap((l) => [`present.${l}.key`, `present.${l}.value`]);
      runner.#kv = new DeviceKvCache(decoder as Engine & { allocate(bytes: number): DeviceBuffer }, names, heads! * context * hd! * 4, context);
    }
    return runner;
  }

  get hiddenSize(): number {
    return this.embeddings.dim;
  }

  /** The rendered prompt split at the image placeholder. */
  private chunks(query: string, form: QueryForm, answer?: string): [string, string] {
    const prompt = renderPrompt(this.config.template, query, form, answer);
    const parts = prompt.split(this.config.template.imageToken);
    if (parts.length !== 2) throw new HrsegError('INVALID_ARGUMENT', `the prompt must hold the image placeholder exactly once (found ${parts.length - 1})`);
    return [parts[0], parts[1]];
  }

  #prefixIds?: number[];

  /** BOS and the prompt's tokens before the image (query-independent, from a probe rendering), once. */
  private prefixIds(): number[] {
    if (!this.#prefixIds) {
      const [before] = this.chunks('\u0000probe\u0000', 'sentence');
      if (before.includes('\u0000probe\u0000')) throw new HrsegError('INVALID_ARGUMENT', 'template: the instruction must come after the image placeholder');
      this.#prefixIds = [this.ids.bos, ...this.tokenizer.encode(before)];
    }
    return this.#prefixIds;
  }

  emptyPast(): Record<string, Tensor<'float32'>> {
    const [heads, hd] = this.kvShape;
    const out: Record<string, Tensor<'float32'>> = {};
    for (let l = 0; l < this.layers; l++)
      for (const kind of ['key', 'value']) out[`past.${l}.${kind}`] = tensor('float32', [1, heads, 0, hd], new Float32Array(0));
    return out;
  }

  private async step(
    embeds: Tensor<'float32'>,
    start: number,
    past: Readonly<Record<string, EngineInput>>,
    signal?: AbortSignal,
    prefix = false,
  ): Promise<{ logits: Tensor<'float32'>; hidden: Tensor<'float32'>; present: Record<string, EngineValue>; set?: Record<string, DeviceBuffer> }> {
    const kv = this.#kv;
    if (kv && start + embeds.dims[1] > kv.context)
      throw new HrsegError('INVALID_ARGUMENT', `the conversation needs ${start + embeds.dims[1]} tokens, more than the key/value cache holds (${kv.context})`);
    const into = kv ? (prefix ? kv.fresh() : kv.next()) : undefined;
    let out: Record<string, EngineValue>;
    try {
      out = await this.decoder.run({ inputs_embeds: embeds, position_ids: positions(start, embeds.dims[1]), ...past }, { signal, into });
    } catch (e) {
      if (prefix && into) kv!.releasePrefix(into);
      throw e;
    }
    const present: Record<string, EngineValue> = {};
    for (let l = 0; l < this.layers; l++) for (const kind of ['key', 'value']) present[`past.${l}.${kind}`] = out[`present.${l}.${kind}`];
    try {
      return {
        logits: (await out.logits.host()) as Tensor<'float32'>,
        hidden: (await out.hidden.host()) as Tensor<'float32'>,
        present,
        ...(prefix && into ? { set: into } : {}),
      };
    } catch (e) {
      release(present);
      if (prefix && into) kv!.releasePrefix(into);
      throw e;
    } finally {
      // Copied to the host: their device buffers (new every step) are freed now, not at GC.
      out.logits.release?.();
      out.hidden.release?.();
    }
  }

  /** Image tokens from the CLIP view. */
  async imageTokens(image: RgbImage, signal?: AbortSignal): Promise<Tensor<'float32'>> {
    const view = await centerCropView(image, this.config.view, { signal });
    const out = await this.vision.run({ pixel_values: view.tensor }, { signal });
    try {
      return (await out.image_embeds.host()) as Tensor<'float32'>;
    } finally {
      release(out);
    }
  }

  /** Runs the image-only prefix and keeps its key/value cache. */
  async prepare(image: RgbImage, options: { signal?: AbortSignal } = {}): Promise<VlmContext> {
    const img = await this.imageTokens(image, options.signal);
    const before = this.embeddings.gather(this.prefixIds());
    const embeds = concat([before, img], this.hiddenSize);
    const r = await this.step(embeds, 0, this.emptyPast(), options.signal, true);
    const H = this.hiddenSize,
      n = embeds.dims[1];
    const kv = this.#kv,
      set = r.set;
    const ctx: VlmContext = {
      length: n,
      past: r.present,
      lastHidden: r.hidden.data.slice((n - 1) * H, n * H),
      embeddings: embeds,
      // On a device cache the set owns the views too (keep below); else the views are all there is.
      release: () => (kv && set ? kv.releasePrefix(set) : release(r.present)),
    };
    if (kv && set) kv.keep(set, r.present, ctx);
    return ctx;
  }

  /** Token ids after the image placeholder for this instruction (and answer, when forced). */
  suffixIds(query: string, form: QueryForm, answer?: string): number[] {
    return this.tokenizer.encode(this.chunks(query, form, answer)[1]);
  }

  /** Streams answer tokens; the generator's return value is the complete answer. */
  async *stream(ctx: VlmContext, query: string, options: GenerateOptions = {}): AsyncGenerator<{ id: number; text: string }, VlmAnswer> {
    const H = this.hiddenSize;
    const form = options.form ?? 'sentence';
    const { signal } = options;
    const t0 = performance.now();
    let modelMs = 0;
    const timed = async <T>(p: Promise<T>) => {
      const s = performance.now();
      const r = await p;
      modelMs += performance.now() - s;
      return r;
    };
    if (signal?.aborted) throw abortError(signal);

    if (options.mode === 'teacher-forced') {
      const ids = this.suffixIds(query, form, this.config.template.evalAnswer);
      const r = await timed(this.step(this.embeddings.gather(ids), ctx.length, ctx.past, signal));
      release(r.present);
      const rows: Float32Array[] = [];
      // Positions in the suffix; a [SEG] at suffix index 0 is predicted by the prefix's last state.
      for (const p of segStatePositions([-1, ...ids], this.ids.seg)) rows.push(p === 0 ? ctx.lastHidden : r.hidden.data.slice((p - 1) * H, p * H));
      const answerIds = this.tokenizer.encode(this.config.template.evalAnswer);
      const ms = performance.now() - t0;
      return {
        text: this.config.template.evalAnswer,
        tokenIds: answerIds,
        seg: this.stack(rows),
        stop: 'teacher-forced',
        timings: { promptMs: ms, decodeMs: 0, modelMs, steps: 0 },
      };
    }

    const limit = options.maxNewTokens ?? this.config.maxNewTokens;
    if (!Number.isInteger(limit) || limit < 1) throw new HrsegError('INVALID_ARGUMENT', `maxNewTokens must be a positive integer, got ${limit}`);
    const suffix = this.suffixIds(query, form);
    const embeds = this.embeddings.gather(suffix);
    // Where the decoder can run the loop itself (Triton's hrseg_vlm_generate), its tokens stream
    // from there; a trace needs every step's logits, which only the loop here has.
    const remote = options.trace
      ? undefined
      : this.decoder.generate?.({ past: ctx.past, embeds, start: ctx.length, maxNewTokens: limit, stopIds: [this.ids.eos], segId: this.ids.seg, signal });
    const trace: { logits: Float32Array; hidden: Float32Array }[] = [];
    const source = remote ?? this.#localTokens(ctx, embeds, limit, signal, options.trace ? trace : undefined, timed);
    let tPrompt: number | undefined;
    let modelPrompt = 0;
    const generated: number[] = [];
    const segRows: Float32Array[] = [];
    // Incremental detokenisation (as text-generation-inference does it): decode only a short window
    // [prefixOffset, end) and emit what it adds over [prefixOffset, readOffset). Decoding the whole
    // answer each step would make the loop quadratic in the answer length.
    let prefixOffset = 0,
      readOffset = 0;
    let text = '';
    let stop: VlmAnswer['stop'] = 'limit';
    try {
      for (;;) {
        const wait = performance.now();
        const next = await source.next();
        if (remote) modelMs += performance.now() - wait;
        // The prompt's time ends with the first token (the suffix's step is what produced it).
        if (tPrompt === undefined) {
          tPrompt = performance.now();
          modelPrompt = modelMs;
        }
        if (next.done) {
          stop = next.value.stop;
          break;
        }
        const { id, hidden } = next.value;
        if (id === this.ids.seg) {
          if (!hidden || hidden.length !== H)
            throw new HrsegError('INTERNAL', `${this.decoder.file}: [SEG] came without its ${H}-wide hidden state (${hidden?.length ?? 0} values)`);
          segRows.push(hidden.slice());
        }
        generated.push(id);
        const before = this.tokenizer.decode(generated.slice(prefixOffset, readOffset));
        const after = this.tokenizer.decode(generated.slice(prefixOffset));
        let delta = '';
        if (after.length > before.length && !after.endsWith('\uFFFD')) {
          delta = after.slice(before.length);
          prefixOffset = readOffset;
          readOffset = generated.length;
        }
        text += delta;
        options.onToken?.({ id, text: delta });
        yield { id, text: delta };
      }
    } finally {
      // Left early (an abort, a consumer that stopped): the loop's caches are freed, a stream cancelled.
      await source.return({ stop });
    }
    const tEnd = performance.now();
    tPrompt ??= tEnd;
    // Whatever the window held back (an incomplete byte sequence at the very end) is flushed here.
    text = this.tokenizer.decode(generated);
    return {
      text,
      tokenIds: generated,
      seg: this.stack(segRows),
      stop,
      timings: { promptMs: tPrompt - t0, decodeMs: tEnd - tPrompt, modelMs: modelMs - modelPrompt, steps: generated.length },
      ...(options.trace ? { trace } : {}),
    };
  }

  /**
   * The greedy loop here: the suffix's step, then one step per token, each token with the hidden
   * state that produced it; ends at the end-of-sequence token (not given) or after `limit` tokens.
   * Each step's key/value views are freed once the next step has read them, the last on any exit.
   */
  async *#localTokens(
    ctx: VlmContext,
    embeds: Tensor<'float32'>,
    limit: number,
    signal: AbortSignal | undefined,
    trace: { logits: Float32Array; hidden: Float32Array }[] | undefined,
    timed: <T>(p: Promise<T>) => Promise<T>,
  ): AsyncGenerator<{ id: number; hidden: Float32Array }, { stop: 'eos' | 'limit' }> {
    const H = this.hiddenSize;
    let r = await timed(this.step(embeds, ctx.length, ctx.past, signal));
    try {
      let position = ctx.length + embeds.dims[1];
      const V = r.logits.dims[2];
      for (let count = 0; ;) {
        const last = r.logits.dims[1] - 1;
        const id = argmax(r.logits.data, last * V, V);
        const hidden = r.hidden.data.subarray(last * H, (last + 1) * H);
        trace?.push({ logits: r.logits.data.slice(last * V, (last + 1) * V), hidden: hidden.slice() });
        if (id === this.ids.eos) return { stop: 'eos' };
        yield { id, hidden };
        if (++count >= limit) return { stop: 'limit' };
        if (signal?.aborted) throw abortError(signal);
        const previous = r.present;
        r = await timed(this.step(this.embeddings.gather([id]), position, previous, signal));
        release(previous); // read by this step; its scratch set is the next step's output
        position += 1;
      }
    } finally {
      release(r.present);
    }
  }

  /** Runs `stream` to the end. */
  async answer(ctx: VlmContext, query: string, options: GenerateOptions = {}): Promise<VlmAnswer> {
    const it = this.stream(ctx, query, options);
    for (;;) {
      const n = await it.next();
      if (n.done) return n.value;
    }
  }

  /** One forward pass over a whole sequence with no cache (for checks against the cached path). */
  async forward(embeds: Tensor<'float32'>): Promise<{ logits: Tensor<'float32'>; hidden: Tensor<'float32'> }> {
    const r = await this.step(embeds, 0, this.emptyPast());
    release(r.present);
    return { logits: r.logits, hidden: r.hidden };
  }

  private stack(rows: Float32Array[]): Tensor<'float32'> {
    const H = this.hiddenSize;
    const out = new Float32Array(rows.length * H);
    rows.forEach((r, i) => out.set(r, i * H));
    return tensor('float32', [rows.length, H], out);
  }

  /** Frees the key/value caches (every context's included) and the engines. */
  async dispose(): Promise<void> {
    this.#kv?.dispose();
    await Promise.all([this.vision.dispose(), this.decoder.dispose()]);
  }
}
