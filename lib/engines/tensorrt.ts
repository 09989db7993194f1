/**
 * A TensorRT engine behind the Engine interface: a plan from build-engines, opened through
 * hrseg's TensorRT layer (libhrseg_trt.so). Inputs are read from host tensors (borrowed, not
 * copied, on the JS side) and outputs come back as host tensors; the profile is chosen per run from
 * the input shapes. Values do not stay on the device between engines yet (location 'cpu').
 */
import { readFile } from 'node:fs/promises';

import { abortError } from '../abort.js';
import { HrsegError, awaitNative, callNative } from '../errors.js';
import { native } from '../native.js';
import type { DType, Tensor } from '../tensor.js';
import { isEngineValue, type Engine, type EngineInput, type EngineValue, type RunOptions, type TensorSpec } from './types.js';

const spec = (t: { name: string; dtype: string; dims: number[] }): TensorSpec => ({
  name: t.name,
  dtype: t.dtype as DType,
  dims: t.dims.map((d, i) => (d >= 0 ? d : `${t.name}.${i}`)),
});

export class TrtEngine implements Engine {
  #handle: unknown;

  private constructor(
    readonly component: string,
    readonly file: string,
    handle: unknown,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
  ) {
    this.#handle = handle;
  }

  static async load(file: string, component: string, device = 0): Promise<TrtEngine> {
    const plan = await readFile(file).catch((cause) => {
      throw new HrsegError('MODEL_FILE', `${component}: engine not found: ${file}`, { cause });
    });
    const opened = await awaitNative(native().trtOpen(new Uint8Array(plan.buffer, plan.byteOffset, plan.byteLength), device));
    return new TrtEngine(component, file, opened.handle, opened.inputs.map(spec), opened.outputs.map(spec));
  }

  async run(feeds: Readonly<Record<string, EngineInput>>, options: RunOptions = {}): Promise<Record<string, EngineValue>> {
    if (this.#handle === undefined) throw new HrsegError('INVALID_ARGUMENT', `${this.component}: this engine has been disposed`);
    if (options.signal?.aborted) throw abortError(options.signal);
    const inputs = [];
    for (const s of this.inputs) {
      const value = feeds[s.name];
      if (!value) throw new HrsegError('INVALID_TENSOR', `${this.component}: input '${s.name}' was not given`);
      const t = isEngineValue(value) ? await value.host() : value;
      if (t.dtype !== s.dtype) throw new HrsegError('INVALID_TENSOR', `${this.component}: input '${s.name}' must be ${s.dtype}, got ${t.dtype}`);
      inputs.push({ name: s.name, dtype: t.dtype, dims: [...t.dims], data: t.data });
    }
    const out = (await awaitNative(native().trtRun(this.#handle, inputs))) as Record<string, Tensor>;
    if (options.signal?.aborted) throw abortError(options.signal);
    const values: Record<string, EngineValue> = {};
    for (const [name, t] of Object.entries(out))
      values[name] = { name, dtype: t.dtype, dims: t.dims, location: 'cpu', host: () => Promise.resolve(t) };
    return values;
  }

  async dispose(): Promise<void> {
    if (this.#handle === undefined) return;
    callNative(() => native().trtClose(this.#handle));
    this.#handle = undefined;
  }
}
