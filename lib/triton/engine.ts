/**
 * One component served by Triton, as an Engine: its model's metadata checked against the contract
 * and its config's identity against the package when it opens; each run is one ModelInfer call
 * with host tensors (the outputs come back to this process: the head and the mask post-processing
 * run here).
 */
import { checkContract, type Component } from '../engines/contracts.js';
import type { Engine, EngineInput, EngineValue, RunOptions, TensorSpec } from '../engines/types.js';
import { isEngineValue } from '../engines/types.js';
import { HrsegError } from '../errors.js';
import type { ModelPackage } from '../package/manifest.js';
import type { Tensor } from '../tensor.js';
import { dtypeOfDatatype, type TensorMetadata, type TritonClient } from './client.js';
import { identityDifferences, modelIdentity, modelName } from './names.js';
import { HostValue } from '../engines/host-value.js';

const specOf = (t: TensorMetadata): TensorSpec => ({
  name: t.name,
  // An unknown datatype is reported by the contract check as a dtype difference.
  dtype: dtypeOfDatatype(t.datatype) ?? (t.datatype as TensorSpec['dtype']),
  dims: t.shape.map((d, i) => (d >= 0 ? d : `?${i}`)),
});

export class TritonEngine implements Engine {
  readonly provider = 'triton';
  #disposed = false;

  private constructor(
    readonly component: Component,
    readonly file: string,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
    private readonly client: TritonClient,
    private readonly model: string,
    private readonly onDispose: () => void,
  ) {}

  /**
   * ENGINE_MISMATCH when the server holds no model for this component, or one exported from
   * another package, preset or file (named), or one whose tensors differ from the contract.
   */
  static async open(
    client: TritonClient,
    pkg: ModelPackage,
    component: Component,
    bindings: Readonly<Record<string, number>>,
    onDispose: () => void,
    signal?: AbortSignal,
  ): Promise<TritonEngine> {
    const model = modelName(component);
    const where = `grpc://${client.target}/${model}`;
    const missing = (e: unknown) => {
      if (e instanceof HrsegError && e.code === 'ENGINE_MISMATCH')
        throw new HrsegError(
          'ENGINE_MISMATCH',
          `the Triton server at ${client.target} serves no model '${model}' for ${component} (serve a repository written by hrseg export-triton --model ${pkg.dir}): ${e.message}`,
          { cause: e },
        );
      throw e;
    };
    const [metadata, config, wanted] = await Promise.all([
      client.modelMetadata(model, { signal }).catch(missing),
      client.modelConfig(model, { signal }).catch(missing),
      modelIdentity(pkg, component),
    ]);
    const differences = identityDifferences(wanted, config.parameters);
    if (differences.length > 0)
      throw new HrsegError('ENGINE_MISMATCH', `${where} was not exported from this package (${pkg.dir}):\n  - ${differences.join('\n  - ')}`);
    const inputs = metadata.inputs.map(specOf);
    const outputs = metadata.outputs.map(specOf);
    try {
      checkContract(where, component, { inputs, outputs }, bindings);
    } catch (e) {
      throw e instanceof HrsegError && e.code === 'MODEL_FILE' ? new HrsegError('ENGINE_MISMATCH', e.message, { cause: e }) : e;
    }
    return new TritonEngine(component, where, inputs, outputs, client, model, onDispose);
  }

  async run(feeds: Readonly<Record<string, EngineInput>>, options: RunOptions = {}): Promise<Record<string, EngineValue>> {
    if (this.#disposed) throw new HrsegError('INVALID_ARGUMENT', `${this.component}: this engine has been disposed`);
    const inputs: Record<string, Tensor> = {};
    for (const spec of this.inputs) {
      const value = feeds[spec.name];
      if (!value) throw new HrsegError('INVALID_TENSOR', `${this.component}: input '${spec.name}' was not given`);
      const t = isEngineValue(value) ? await value.host() : value;
      if (t.dtype !== spec.dtype) throw new HrsegError('INVALID_TENSOR', `${this.component}: input '${spec.name}' must be ${spec.dtype}, got ${t.dtype}`);
      const bad = t.dims.length !== spec.dims.length || spec.dims.some((d, i) => typeof d === 'number' && d !== t.dims[i]);
      if (bad)
        throw new HrsegError(
          'INVALID_TENSOR',
          `${this.component}: input '${spec.name}' has shape [${t.dims.join(', ')}], the model takes [${spec.dims.join(', ')}]`,
        );
      inputs[spec.name] = t;
    }
    const result = await this.client.infer(
      this.model,
      inputs,
      this.outputs.map((o) => o.name),
      { signal: options.signal },
    );
    const out: Record<string, EngineValue> = {};
    for (const [name, t] of Object.entries(result)) out[name] = new HostValue(name, t);
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
