/** An engine output already on the host: `host()` costs nothing (ONNX Runtime's, Triton's). */
import type { Tensor } from '../tensor.js';
import type { EngineValue } from './types.js';

export class HostValue implements EngineValue {
  readonly location = 'cpu' as const;
  constructor(
    readonly name: string,
    private readonly tensor: Tensor,
  ) {}
  get dtype() {
    return this.tensor.dtype;
  }
  get dims() {
    return this.tensor.dims;
  }
  host(): Promise<Tensor> {
    return Promise.resolve(this.tensor);
  }
}
