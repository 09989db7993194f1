/**
 * Tensors that cross into native code. `data` is borrowed, not copied: native code reads (and for
 * in-place operations writes) the caller's memory directly, and keeps it alive while it works.
 * Tensors that native code returns own native memory, released when the tensor is collected.
 */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'uint8' | 'bool';

/** The TypedArray that holds each dtype; float16 and bfloat16 are raw 16-bit patterns. */
export interface DataTypeMap {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly dims: readonly number[];
  /** Row-major, dense. A Uint8Array of raw bytes is also accepted for any dtype on input. */
  readonly data: DataTypeMap[D];
}

const CONSTRUCTORS = {
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
} as const;

export const DTYPES = Object.keys(CONSTRUCTORS) as DType[];

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

/** Builds a tensor over existing data (no copy), or over fresh zeroed memory when data is omitted. */
export function tensor<D extends DType>(dtype: D, dims: readonly number[], data?: DataTypeMap[D]): Tensor<D> {
  const ctor = CONSTRUCTORS[dtype] as unknown as new (n: number) => DataTypeMap[D];
  return { dtype, dims: [...dims], data: data ?? new ctor(elementCount(dims)) };
}
