/**
 * The VLM decoder on Triton with its key/value cache kept in the server (kv.ts), as the Engine the
 * VlmRunner drives: it declares the usual past.{l}.key/value and present.{l}.key/value tensors, but a step's present
 * values are handles to a server-side cache, not data. Passing them back as the next step's past
 * sends only their id; releasing them (the runner does, once read) tells the server with the next
 * call that the cache may go.
 */
import type { Engine, EngineInput, EngineValue, RunOptions, TensorSpec } from '../engines/types.js';
import { isEngineValue } from '../engines/types.js';
import { HrsegError } from '../errors.js';
import type { ModelPackage } from '../package/manifest.js';
import { tensor, type Tensor } from '../tensor.js';
import type { TritonClient } from './client.js';
import { CACHE_MISSING } from './kv.js';
import { identityDifferences, modelIdentity, modelName } from './names.js';
import { HostValue } from '../engines/host-value.js';

/** One server-side cache, seen through each of its past.{l}.{kind} names. */
class RemoteCache {
  released = false;
  constructor(
    readonly id: bigint,
    readonly length: number,
    private readonly drops: Set<bigint>,
  ) {}
  release(): void {
    if (this.released) return;
    this.released = true;
    this.drops.add(this.id);
  }
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

export class RemoteDecoder implements Engine {
  readonly component = 'vlm/decoder';
  readonly provider = 'triton';
  readonly fallbackReason = undefined;
  readonly #drops = new Set<bigint>();
  #disposed = false;

  private constructor(
    readonly file: string,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
    private readonly client: TritonClient,
    private readonly shape: { layers: number; heads: number; headDim: number },
    private readonly onDispose: () => void,
  ) {}

  /** The server's `hrseg_vlm_decoder`, or undefined when its repository has none (then the decoder runs here). */
  static async open(client: TritonClient, pkg: ModelPackage, onDispose: () => void, signal?: AbortSignal): Promise<RemoteDecoder | undefined> {
    const model = modelName('vlm/decoder');
    const config = await client.modelConfig(model, { signal }).catch((e: unknown) => {
      if (e instanceof HrsegError && e.code === 'ENGINE_MISMATCH') return undefined; // not served
      throw e;
    });
    if (!config) return undefined;
    const where = `grpc://${client.target}/${model}`;
    const differences = identityDifferences(await modelIdentity(pkg, 'vlm/decoder'), config.parameters);
    if (differences.length > 0)
      throw new HrsegError('ENGINE_MISMATCH', `${where} was not exported from this package (${pkg.dir}):\n  - ${differences.join('\n  - ')}`);
    const shape = { layers: Number(config.parameters.kv_layers), heads: Number(config.parameters.kv_heads), headDim: Number(config.parameters.kv_head_dim) };
    if (![shape.layers, shape.heads, shape.headDim].every((n) => Number.isInteger(n) && n > 0))
      throw new HrsegError('ENGINE_MISMATCH', `${where}: its config gives no key/value cache shape (kv_layers, kv_heads, kv_head_dim)`);
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
    return new RemoteDecoder(where, inputs, outputs, client, shape, onDispose);
  }

  async run(feeds: Readonly<Record<string, EngineInput>>, options: RunOptions = {}): Promise<Record<string, EngineValue>> {
    if (this.#disposed) throw new HrsegError('INVALID_ARGUMENT', 'vlm/decoder: this engine has been disposed');
    const embeds = feeds.inputs_embeds,
      positions = feeds.position_ids,
      past = feeds['past.0.key'];
    if (!embeds || !positions || !past) throw new HrsegError('INVALID_TENSOR', 'vlm/decoder: inputs_embeds, position_ids and past.0.key are required');
    let pastId = 0n;
    let length = 0;
    if (past instanceof RemoteKvValue) {
      if (past.cache.released) throw new HrsegError('INVALID_ARGUMENT', 'vlm/decoder: this key/value cache was released');
      pastId = past.cache.id;
      length = past.cache.length;
    } else if (past.dims[2] !== 0) {
      // Only an empty cache (a new sequence) may come from this side: the data lives in the server.
      throw new HrsegError('INVALID_TENSOR', `vlm/decoder on Triton extends caches it holds; past.0.key has ${past.dims[2]} tokens of host data`);
    }
    const host = async (v: EngineInput) => (isEngineValue(v) ? await v.host() : v);
    const drops = [...this.#drops];
    let result: Record<string, Tensor>;
    try {
      result = await this.client.infer(
        modelName('vlm/decoder'),
        {
          inputs_embeds: await host(embeds),
          position_ids: await host(positions),
          past_id: tensor('int64', [1], BigInt64Array.of(pastId)),
          drop_ids: tensor('int64', [Math.max(1, drops.length)], drops.length > 0 ? BigInt64Array.from(drops) : BigInt64Array.of(0n)),
        },
        ['logits', 'hidden', 'present_id'],
        { signal: options.signal },
      );
    } catch (e) {
      if (e instanceof HrsegError && e.message.includes(CACHE_MISSING))
        throw new HrsegError(
          'INVALID_ARGUMENT',
          `the image's key/value cache is no longer on the Triton server at ${this.client.target} (evicted after its idle time or over its budget, or the server restarted): prepare the image again`,
          { cause: e },
        );
      throw e;
    }
    for (const d of drops) this.#drops.delete(d);
    const steps = embeds.dims[1] ?? 0;
    const cache = new RemoteCache((result.present_id!.data as BigInt64Array)[0]!, length + steps, this.#drops);
    const out: Record<string, EngineValue> = { logits: new HostValue('logits', result.logits!), hidden: new HostValue('hidden', result.hidden!) };
    for (let l = 0; l < this.shape.layers; l++)
      for (const kind of ['key', 'value'])
        out[`present.${l}.${kind}`] = new RemoteKvValue(`present.${l}.${kind}`, [1, this.shape.heads, cache.length, this.shape.headDim], cache);
    return out;
  }

  dispose(): Promise<void> {
    if (!this.#disposed) {
      this.#disposed = true;
      this.onDispose();
    }
    return Promise.resolve();
  }
}
