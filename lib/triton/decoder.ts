/**
 * The VLM decoder on Triton with its key/value cache kept in the server (kv.ts), as the Engine the
 * VlmRunner drives: it declares the usual past.{l}.key/value and present.{l}.key/value tensors, but a step's present
 * values are handles to a server-side cache, not data. Passing them back as the next step's past
 * sends only their id; releasing them (the runner does, once read) tells the server with the next
 * call that the cache may go.
 */
import { randomBytes } from 'node:crypto';

import type { Engine, EngineInput, EngineValue, GenerateEnd, GenerateRequest, GeneratedToken, RunOptions, TensorSpec } from '../engines/types.js';
import { isEngineValue } from '../engines/types.js';
import { HrsegError } from '../errors.js';
import type { ModelPackage } from '../package/manifest.js';
import { tensor, type Tensor } from '../tensor.js';
import type { TritonClient } from './client.js';
import { CACHE_MISSING } from './kv.js';
import { KV_PROTOCOL } from './config.js';
import { GENERATE_MODEL_NAME, identityDifferences, modelIdentity, modelName } from './names.js';
import { STOP_EOS, STOP_LIMIT } from './generate.js';
import { HostValue } from '../engines/host-value.js';

/**
 * One Triton sequence (a correlation id): an image's prefix and every cache forked from it, all on
 * the instance the sequence batcher routed its first request to. It ends (an END request that
 * frees its caches there) when the client holds none of them any more.
 */
class Sequence {
  /** Caches of this sequence the client has not released. */
  live = 0;
  /** Its first request succeeded: Triton knows it, so it must be ended. */
  started = false;
  /** Released caches, named in the sequence's next request (or its END). */
  readonly drops = new Set<bigint>();
  constructor(readonly id: bigint) {}
}

/** The step that made a cache: enough to compute it again from the prefix when the server lost it. */
interface Step {
  embeds: Tensor;
  positions: Tensor;
  parent?: RemoteCache;
}

/** One server-side cache, seen through each of its past.{l}.{kind} names. */
class RemoteCache {
  released = false;
  constructor(
    public id: bigint,
    public sequence: Sequence,
    readonly length: number,
    readonly step: Step,
    private readonly onRelease: (cache: RemoteCache) => void,
  ) {}
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this);
  }
}

/** A positive random 63-bit correlation id: front ends share the server and cannot coordinate ids. */
function correlationId(): bigint {
  const id = randomBytes(8).readBigUInt64LE() & 0x7fff_ffff_ffff_ffffn;
  return id === 0n ? 1n : id;
}

/** Said by the model (a cache it evicted or never had) or by Triton (a sequence it forgot after its idle time, or lost in a restart). */
const isLost = (e: unknown): e is HrsegError => e instanceof HrsegError && (e.message.includes(CACHE_MISSING) || /START flag/i.test(e.message));

const dropIds = (drops: readonly bigint[]) =>
  tensor('int64', [1, Math.max(1, drops.length)], drops.length > 0 ? BigInt64Array.from(drops) : BigInt64Array.of(0n));

/** A request that computes nothing (past_id -1): it drops caches, ends a sequence or asks for kv_stats. */
const noStep = (drops: readonly bigint[]) => ({
  inputs_embeds: tensor('float32', [1, 0, 0], new Float32Array(0)),
  position_ids: tensor('int64', [1, 0], new BigInt64Array(0)),
  past_id: tensor('int64', [1, 1], BigInt64Array.of(-1n)),
  drop_ids: dropIds(drops),
});

export interface DecoderServerStats {
  /** Caches held by the instance that answered, and their bytes. */
  caches: number;
  bytes: number;
  /** Prefixes (new sequences' first steps) it computed, and caches it evicted (idle or over budget), since it started. */
  prefills: number;
  evictions: number;
}

/** What the decoder instance a fresh sequence reaches holds (with one instance: the decoder's). */
export async function decoderServerStats(client: TritonClient): Promise<DecoderServerStats> {
  const r = await client.infer(modelName('vlm/decoder'), noStep([]), ['kv_stats'], { sequence: { id: correlationId(), start: true, end: true } });
  const [caches, bytes, prefills, evictions] = [...(r.kv_stats!.data as BigInt64Array)].map(Number) as [number, number, number, number];
  return { caches, bytes, prefills, evictions };
}

class RemoteKvValue implements EngineValue {
  readonly dtype = 'float32' as const;
  readonly location = 'cpu' as const;
  constructor(
    readonly name: string,
    readonly dims: readonly number[],
    readonly cache: RemoteCache,
  ) {}
  host(): Promise<Tensor> {
    return Promise.reject(new HrsegError('INVALID_ARGUMENT', `${this.name} is kept on the Triton server: it is passed back by id, never read here`));
  }
  release(): void {
    this.cache.release();
  }
}

/**
 * The config of `model`, one of the decoder's models on the server, checked against this package
 * (its identity) and this client (the key/value protocol); undefined when the server lacks it.
 */
async function servedKvModel(
  client: TritonClient,
  pkg: ModelPackage,
  model: string,
  protocolNote: string,
  signal?: AbortSignal,
): Promise<{ config: Awaited<ReturnType<TritonClient['modelConfig']>>; where: string } | undefined> {
  const config = await client.modelConfig(model, { signal }).catch((e: unknown) => {
    if (e instanceof HrsegError && e.code === 'ENGINE_MISMATCH') return undefined; // not served
    throw e;
  });
  if (!config) return undefined;
  const where = `grpc://${client.target}/${model}`;
  const differences = identityDifferences(await modelIdentity(pkg, 'vlm/decoder'), config.parameters);
  if (differences.length > 0)
    throw new HrsegError('ENGINE_MISMATCH', `${where} was not exported from this package (${pkg.dir}):\n  - ${differences.join('\n  - ')}`);
  if (config.parameters.kv_protocol !== KV_PROTOCOL)
    throw new HrsegError(
      'ENGINE_MISMATCH',
      `${where} speaks key/value protocol ${config.parameters.kv_protocol ?? '1'}, this client ${KV_PROTOCOL}${protocolNote}: export the repository again with this hrseg`,
    );
  return { config, where };
}

export class RemoteDecoder implements Engine {
  readonly component = 'vlm/decoder';
  readonly provider = 'triton';
  readonly fallbackReason = undefined;
  /** END requests in flight: dispose() lets them reach the server before the channel closes. */
  readonly #ending = new Set<Promise<void>>();
  #rebuilds: Promise<void> = Promise.resolve();
  #disposed = false;

  private constructor(
    readonly file: string,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
    private readonly client: TritonClient,
    private readonly shape: { layers: number; heads: number; headDim: number },
    private readonly onDispose: () => void,
    /** The server streams tokens (hrseg_vlm_generate is served and wanted): generate() is used. */
    readonly streaming: boolean,
  ) {}

  /**
   * The server's `hrseg_vlm_decoder`, or undefined when its repository has none (then the decoder
   * runs here); with its `hrseg_vlm_generate` when served and `streamTokens` is not false.
   */
  static async open(
    client: TritonClient,
    pkg: ModelPackage,
    onDispose: () => void,
    signal?: AbortSignal,
    streamTokens = true,
  ): Promise<RemoteDecoder | undefined> {
    const served = await servedKvModel(client, pkg, modelName('vlm/decoder'), ' (sequence-batched)', signal);
    if (!served) return undefined;
    const { config, where } = served;
    const shape = { layers: Number(config.parameters.kv_layers), heads: Number(config.parameters.kv_heads), headDim: Number(config.parameters.kv_head_dim) };
    if (![shape.layers, shape.heads, shape.headDim].every((n) => Number.isInteger(n) && n > 0))
      throw new HrsegError('ENGINE_MISMATCH', `${where}: its config gives no key/value cache shape (kv_layers, kv_heads, kv_head_dim)`);
    const streaming = streamTokens && (await RemoteDecoder.#checkGenerate(client, pkg, signal));
    const kv = (prefix: string): TensorSpec[] =>
      [...Array(shape.layers).keys()].flatMap((l) =>
        ['key', 'value'].map((k) => ({ name: `${prefix}.${l}.${k}`, dtype: 'float32' as const, dims: [1, shape.heads, `${prefix}_len`, shape.headDim] })),
      );
    const inputs: TensorSpec[] = [
      { name: 'inputs_embeds', dtype: 'float32', dims: [1, 'S', 'H'] },
      { name: 'position_ids', dtype: 'int64', dims: [1, 'S'] },
      ...kv('past'),
    ];
    const outputs: TensorSpec[] = [
      { name: 'logits', dtype: 'float32', dims: [1, 'S', 'V'] },
      { name: 'hidden', dtype: 'float32', dims: [1, 'S', 'H'] },
      ...kv('present'),
    ];
    return new RemoteDecoder(where, inputs, outputs, client, shape, onDispose, streaming);
  }

  /** Whether the repository has the streaming loop (an older export has not: each token is then one call); checked as the decoder is. */
  static async #checkGenerate(client: TritonClient, pkg: ModelPackage, signal?: AbortSignal): Promise<boolean> {
    return (await servedKvModel(client, pkg, GENERATE_MODEL_NAME, '', signal)) !== undefined;
  }

  /**
   * The greedy loop on the server (hrseg_vlm_generate, one gRPC stream): the tokens as they come.
   * Undefined where the server does not stream, or `past` is not a cache of this decoder's.
   */
  generate(request: GenerateRequest): AsyncGenerator<GeneratedToken, GenerateEnd> | undefined {
    const past = request.past['past.0.key'];
    if (!this.streaming || this.#disposed || !(past instanceof RemoteKvValue) || past.cache.released) return undefined;
    return this.#generate(past.cache, request);
  }

  async *#generate(parent: RemoteCache, request: GenerateRequest): AsyncGenerator<GeneratedToken, GenerateEnd> {
    const { signal } = request;
    let tokens = 0;
    for (let attempt = 0; ; attempt++) {
      const sequence = parent.sequence;
      const drops = [...sequence.drops];
      let end: GenerateEnd | undefined;
      try {
        const stream = this.client.stream(
          GENERATE_MODEL_NAME,
          {
            inputs_embeds: request.embeds,
            position_start: tensor('int64', [1], BigInt64Array.of(BigInt(request.start))),
            past_id: tensor('int64', [1], BigInt64Array.of(parent.id)),
            sequence_id: tensor('int64', [1], BigInt64Array.of(sequence.id)),
            drop_ids: tensor('int64', [drops.length], BigInt64Array.from(drops)),
            max_new_tokens: tensor('int64', [1], BigInt64Array.of(BigInt(request.maxNewTokens))),
            stop_ids: tensor('int64', [request.stopIds.length], BigInt64Array.from(request.stopIds.map(BigInt))),
            seg_id: tensor('int64', [1], BigInt64Array.of(BigInt(request.segId))),
          },
          ['token_id', 'hidden', 'stop', 'leftover_ids'],
          { signal },
        );
        for await (const r of stream) {
          // Answered: the server applied the drops with the stream's first step.
          for (const d of drops) sequence.drops.delete(d);
          drops.length = 0;
          const id = r.outputs.token_id ? Number((r.outputs.token_id.data as BigInt64Array)[0]) : -1;
          const stop = r.outputs.stop ? Number((r.outputs.stop.data as BigInt64Array)[0]) : 0;
          if (id >= 0) {
            tokens++;
            const hidden = r.outputs.hidden?.data as Float32Array | undefined;
            yield hidden && hidden.length > 0 ? { id, hidden } : { id };
          }
          if (stop === STOP_EOS || stop === STOP_LIMIT) {
            end = { stop: stop === STOP_EOS ? 'eos' : 'limit' };
            // Caches the loop left on the server (its last step's): dropped with this sequence's next request.
            for (const left of (r.outputs.leftover_ids?.data as BigInt64Array | undefined) ?? []) if (left !== 0n) sequence.drops.add(left);
          }
          if (r.final) break;
        }
        if (!end) throw new HrsegError('INTERNAL', `Triton at ${this.client.target}: ${GENERATE_MODEL_NAME} ended its stream without saying why it stopped`);
        return end;
      } catch (e) {
        // A prefix the server lost before the first token: computed again, and the stream asked again.
        if (tokens > 0 || !isLost(e)) throw e;
        for (const d of drops) sequence.drops.delete(d);
        if (attempt > 0)
          throw new HrsegError(
            'INVALID_ARGUMENT',
            `the image's key/value cache is no longer on the Triton server at ${this.client.target} and could not be computed again (${e.message}): prepare the image again`,
            { cause: e },
          );
        await this.#rebuild(parent, sequence, signal);
      }
    }
  }

  async run(feeds: Readonly<Record<string, EngineInput>>, options: RunOptions = {}): Promise<Record<string, EngineValue>> {
    if (this.#disposed) throw new HrsegError('INVALID_ARGUMENT', 'vlm/decoder: this engine has been disposed');
    const embedsIn = feeds.inputs_embeds,
      positionsIn = feeds.position_ids,
      past = feeds['past.0.key'];
    if (!embedsIn || !positionsIn || !past) throw new HrsegError('INVALID_TENSOR', 'vlm/decoder: inputs_embeds, position_ids and past.0.key are required');
    let parent: RemoteCache | undefined;
    if (past instanceof RemoteKvValue) {
      if (past.cache.released) throw new HrsegError('INVALID_ARGUMENT', 'vlm/decoder: this key/value cache was released');
      parent = past.cache;
    } else if (past.dims[2] !== 0) {
      // Only an empty cache (a new sequence) may come from this side: the data lives in the server.
      throw new HrsegError('INVALID_TENSOR', `vlm/decoder on Triton extends caches it holds; past.0.key has ${past.dims[2]} tokens of host data`);
    }
    const host = async (v: EngineInput) => (isEngineValue(v) ? await v.host() : v);
    const step: Step = { embeds: await host(embedsIn), positions: await host(positionsIn), parent };
    let made: { id: bigint; sequence: Sequence; logits: Tensor; hidden: Tensor };
    const asked = parent?.sequence;
    try {
      made = await this.#compute(step, options.signal);
    } catch (e) {
      if (!parent || !asked || !isLost(e)) throw e;
      // The server lost this chain (its idle time passed, its budget evicted it, or it restarted):
      // computed again from the prefix, which the client still has, step by step as it was made.
      try {
        await this.#rebuild(parent, asked, options.signal);
        made = await this.#compute(step, options.signal);
      } catch (again) {
        if (!isLost(again)) throw again;
        throw new HrsegError(
          'INVALID_ARGUMENT',
          `the image's key/value cache is no longer on the Triton server at ${this.client.target} and could not be computed again (${again.message}): prepare the image again`,
          { cause: again },
        );
      }
    }
    const cache = this.#adopt(made.id, made.sequence, (parent?.length ?? 0) + (step.embeds.dims[1] ?? 0), step);
    const out: Record<string, EngineValue> = { logits: new HostValue('logits', made.logits), hidden: new HostValue('hidden', made.hidden) };
    for (let l = 0; l < this.shape.layers; l++)
      for (const kind of ['key', 'value'])
        out[`present.${l}.${kind}`] = new RemoteKvValue(`present.${l}.${kind}`, [1, this.shape.heads, cache.length, this.shape.headDim], cache);
    return out;
  }

  /** One step on the server: a new sequence for a prefix, else the parent's sequence (its instance). */
  async #compute(step: Step, signal?: AbortSignal): Promise<{ id: bigint; sequence: Sequence; logits: Tensor; hidden: Tensor }> {
    const sequence = step.parent?.sequence ?? new Sequence(correlationId());
    const drops = [...sequence.drops];
    const result = await this.client.infer(
      modelName('vlm/decoder'),
      {
        inputs_embeds: step.embeds,
        position_ids: step.positions,
        past_id: tensor('int64', [1, 1], BigInt64Array.of(step.parent?.id ?? 0n)),
        drop_ids: dropIds(drops),
      },
      ['logits', 'hidden', 'present_id'],
      { signal, sequence: { id: sequence.id, start: !step.parent } },
    );
    sequence.started = true;
    for (const d of drops) sequence.drops.delete(d);
    return { id: (result.present_id!.data as BigInt64Array)[0]!, sequence, logits: result.logits!, hidden: result.hidden! };
  }

  #adopt(id: bigint, sequence: Sequence, length: number, step: Step): RemoteCache {
    sequence.live++;
    return new RemoteCache(id, sequence, length, step, (c) => this.#released(c));
  }

  #released(cache: RemoteCache): void {
    const s = cache.sequence;
    s.drops.add(cache.id);
    if (--s.live === 0) this.#end(s);
  }

  /** Ends a sequence no cache of which is held any more: its instance frees them all. */
  #end(sequence: Sequence): void {
    if (!sequence.started || this.#disposed) return;
    const drops = [...sequence.drops];
    sequence.drops.clear();
    const done = this.client
      .infer(modelName('vlm/decoder'), noStep(drops), ['present_id'], { sequence: { id: sequence.id, end: true } })
      // A sequence the server already forgot (idle, restarted) has nothing left to free.
      .then(
        () => undefined,
        () => undefined,
      );
    this.#ending.add(done);
    void done.finally(() => this.#ending.delete(done));
  }

  /**
   * Computes `cache` again: from its nearest ancestor still on the server (one an earlier rebuild
   * moved to a sequence of its own), else from the prefix in a new sequence. Every cache on the
   * way gets its new id and sequence; those the client had already released are dropped again.
   */
  #rebuild(cache: RemoteCache, lost: Sequence, signal?: AbortSignal): Promise<void> {
    // One at a time: two forks of one lost prefix must not each replay it (the second finds it moved).
    const run = this.#rebuilds.then(() => this.#replay(cache, lost, signal));
    this.#rebuilds = run.catch(() => undefined);
    return run;
  }

  async #replay(cache: RemoteCache, lost: Sequence, signal?: AbortSignal): Promise<void> {
    const chain: RemoteCache[] = [];
    let c: RemoteCache | undefined = cache;
    for (; c && c.sequence === lost; c = c.step.parent) chain.unshift(c);
    for (const node of chain) {
      const made = await this.#compute(node.step, signal);
      const wasLive = !node.released;
      node.id = made.id;
      node.sequence = made.sequence;
      if (wasLive) {
        made.sequence.live++;
        if (--lost.live === 0) this.#end(lost);
      }
      // A released step is needed only as the next one's parent: dropped with that one's request.
      const previous = node.step.parent;
      if (previous?.released && previous.sequence === made.sequence) made.sequence.drops.add(previous.id);
    }
  }

  async dispose(): Promise<void> {
    if (!this.#disposed) {
      this.#disposed = true;
      // Bounded by the calls' deadline: an unreachable server does not hold a dispose longer.
      await Promise.allSettled([...this.#ending]);
      this.onDispose();
    }
  }
}
