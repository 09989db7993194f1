/**
 * A tensor in a checkpoint: its name, dtype and shape, and a way to its bytes that reads nothing
 * until asked. Every reader (safetensors, PyTorch zip) hands out these.
 */
import { HrsegError } from '../errors.js';
import { DTYPE_SIZE, toFloat32, type CheckpointDType } from './dtype.js';
import type { ByteSource } from './source.js';

export class CheckpointTensor {
  readonly numel: number;

  /**
   * `offset` is the byte position of element 0 in `source`; `strides` (in elements) default to
   * row-major contiguous. Storage bounds are checked by the reader before construction.
   */
  constructor(
    readonly name: string,
    readonly dtype: CheckpointDType,
    readonly shape: readonly number[],
    private readonly source: ByteSource,
    private readonly offset: number,
    private readonly strides?: readonly number[],
  ) {
    this.numel = shape.reduce((a, b) => a * b, 1);
  }

  get byteLength(): number {
    return this.numel * DTYPE_SIZE[this.dtype];
  }

  /** Where it is read from, for messages: `file: tensor`. */
  get label(): string {
    return `${this.source.name}: tensor '${this.name}'`;
  }

  get contiguous(): boolean {
    if (!this.strides) return true;
    let expect = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expect) return false;
      expect *= this.shape[i];
    }
    return true;
  }

  /** The elements' bytes in row-major order: a view into the file when stored contiguously, else a copy. */
  bytes(): Uint8Array {
    const size = DTYPE_SIZE[this.dtype];
    if (this.numel === 0) return new Uint8Array(0);
    if (this.contiguous) return this.source.bytes(this.offset, this.numel * size);
    // A strided view (PyTorch tensors that share a storage): gather element by element.
    const shape = this.shape,
      strides = this.strides!;
    let span = 1;
    for (let i = 0; i < shape.length; i++) span += (shape[i] - 1) * strides[i];
    const src = this.source.bytes(this.offset, span * size);
    const out = new Uint8Array(this.numel * size);
    const idx = new Array<number>(shape.length).fill(0);
    for (let n = 0; n < this.numel; n++) {
      let at = 0;
      for (let i = 0; i < shape.length; i++) at += idx[i] * strides[i];
      out.set(src.subarray(at * size, (at + 1) * size), n * size);
      for (let i = shape.length - 1; i >= 0; i--) {
        if (++idx[i] < shape[i]) break;
        idx[i] = 0;
      }
    }
    return out;
  }

  /** The values as float32 (widened from F16/BF16/F64; a view for aligned contiguous F32). */
  float32(): Float32Array {
    return toFloat32(this.bytes(), this.dtype, this.label);
  }

  /** Checks the shape; MODEL_FILE naming the tensor and both shapes when it differs. */
  expectShape(shape: readonly number[]): this {
    if (shape.length !== this.shape.length || shape.some((d, i) => d !== this.shape[i]))
      throw new HrsegError('MODEL_FILE', `${this.label} has shape [${this.shape.join(', ')}], expected [${shape.join(', ')}]`);
    return this;
  }

  /** The pages behind this tensor may be dropped (after it has been converted). */
  release(): void {
    if (this.contiguous) this.source.release(this.offset, this.byteLength);
  }
}

/** A set of named tensors read from one or more files. */
export interface Checkpoint {
  readonly path: string;
  readonly format: 'safetensors' | 'safetensors-sharded' | 'pytorch-zip' | 'random';
  /** safetensors __metadata__, or nothing. */
  readonly metadata: Readonly<Record<string, string>>;
  keys(): string[];
  has(name: string): boolean;
  /** MODEL_FILE naming the checkpoint and the tensor when it is absent. */
  get(name: string): CheckpointTensor;
  close(): void;
}

/** A checkpoint over a map of tensors (the readers build one). */
export class TensorMap implements Checkpoint {
  constructor(
    readonly path: string,
    readonly format: Checkpoint['format'],
    private readonly tensors: Map<string, CheckpointTensor>,
    private readonly sources: ByteSource[],
    readonly metadata: Readonly<Record<string, string>> = {},
  ) {}
  keys(): string[] {
    return [...this.tensors.keys()];
  }
  has(name: string): boolean {
    return this.tensors.has(name);
  }
  get(name: string): CheckpointTensor {
    const t = this.tensors.get(name);
    if (!t) throw new HrsegError('MODEL_FILE', `${this.path}: tensor '${name}' is missing`);
    return t;
  }
  close(): void {
    for (const s of this.sources) s.close();
  }
}
