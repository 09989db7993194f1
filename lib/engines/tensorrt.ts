/**
 * A TensorRT engine behind the Engine interface: a plan from build-engines, opened through
 * hrseg's TensorRT layer (libhrseg_trt.so). Outputs stay on the device ('cuda' values): the next
 * engine reads them in place (SAM's image embeddings into the decoder, the VLM's key/value cache
 * into the next step), the CUDA mask generator reads the decoder's logits in place, and `host()`
 * copies them back only for a consumer that needs the numbers. Host inputs are borrowed (not
 * copied on the JS side) and uploaded by the run; the profile is chosen per run from the shapes.
 */
import { stat } from 'node:fs/promises';

import { abortError } from '../abort.js';
import { HrsegError, awaitNative, callNative } from '../errors.js';
import { native, type NativeDeviceValue } from '../native.js';
import type { DType, Tensor } from '../tensor.js';
import { isEngineValue, type DeviceBuffer, type Engine, type EngineInput, type EngineValue, type RunOptions, type TensorSpec } from './types.js';

const spec = (t: { name: string; dtype: string; dims: number[] }): TensorSpec => ({
  name: t.name,
  dtype: t.dtype as DType,
  dims: t.dims.map((d, i) => (d >= 0 ? d : `${t.name}.${i}`)),
});

/** An output left on the device; `host()` copies it back once. */
export class DeviceValue implements EngineValue {
  readonly location = 'cuda' as const;
  #host?: Promise<Tensor>;

  constructor(
    readonly name: string,
    readonly deviceTensor: NativeDeviceValue,
  ) {}

  get dtype(): DType {
    return this.deviceTensor.dtype as DType;
  }

  get dims(): readonly number[] {
    return this.deviceTensor.dims;
  }

  host(): Promise<Tensor> {
    this.#host ??= awaitNative(native().trtToHost(this.deviceTensor)) as Promise<Tensor>;
    return this.#host;
  }

  release(): void {
    callNative(() => native().trtRelease(this.deviceTensor));
  }
}

export class TrtEngine implements Engine {
  readonly provider = 'tensorrt';
  #handle: unknown;

  private constructor(
    readonly component: string,
    readonly file: string,
    handle: unknown,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
    readonly device: number,
  ) {
    this.#handle = handle;
  }

  /**
   * Opens a plan by its path: the TensorRT layer maps the file and hands it to TensorRT where it
   * lies. A 7B decoder's plan is about 13 GB; read into a Buffer it would stop at 2 GiB and be held
   * twice (ours and TensorRT's).
   */
  static async load(file: string, component: string, device = 0): Promise<TrtEngine> {
    const info = await stat(file).catch((cause) => {
      throw new HrsegError('MODEL_FILE', `${component}: engine not found: ${file}`, { cause });
    });
    if (!info.isFile()) throw new HrsegError('MODEL_FILE', `${component}: engine ${file} is not a file`);
    const opened = await awaitNative(native().trtOpen(file, device));
    return new TrtEngine(component, file, opened.handle, opened.inputs.map(spec), opened.outputs.map(spec), device);
  }

  allocate(bytes: number): DeviceBuffer {
    const handle = callNative(() => native().trtDeviceAlloc(bytes, this.device));
    return { bytes, handle, release: () => callNative(() => native().trtRelease({ device: handle })) };
  }

  async run(feeds: Readonly<Record<string, EngineInput>>, options: RunOptions = {}): Promise<Record<string, EngineValue>> {
    if (this.#handle === undefined) throw new HrsegError('INVALID_ARGUMENT', `${this.component}: this engine has been disposed`);
    if (options.signal?.aborted) throw abortError(options.signal);
    const inputs: Parameters<ReturnType<typeof native>['trtRunDevice']>[1] = [];
    for (const s of this.inputs) {
      const value = feeds[s.name];
      if (!value) throw new HrsegError('INVALID_TENSOR', `${this.component}: input '${s.name}' was not given`);
      if (value.dtype !== s.dtype) throw new HrsegError('INVALID_TENSOR', `${this.component}: input '${s.name}' must be ${s.dtype}, got ${value.dtype}`);
      if (isEngineValue(value) && value.deviceTensor) {
        const d = value.deviceTensor as NativeDeviceValue;
        inputs.push({ name: s.name, dtype: d.dtype, dims: [...value.dims], device: d.device });
      } else {
        const t = isEngineValue(value) ? await value.host() : value;
        inputs.push({ name: s.name, dtype: t.dtype, dims: [...t.dims], data: t.data });
      }
    }
    const into: Record<string, unknown> = {};
    for (const [name, buffer] of Object.entries(options.into ?? {})) into[name] = buffer.handle;
    const out = await awaitNative(native().trtRunDevice(this.#handle, inputs, into));
    const values: Record<string, EngineValue> = {};
    for (const [name, d] of Object.entries(out)) values[name] = new DeviceValue(name, d);
    if (options.signal?.aborted) {
      // Nobody will read these: free them now rather than at garbage collection.
      for (const v of Object.values(values)) v.release?.();
      throw abortError(options.signal);
    }
    return values;
  }

  async dispose(): Promise<void> {
    if (this.#handle === undefined) return;
    callNative(() => native().trtClose(this.#handle));
    this.#handle = undefined;
  }
}
