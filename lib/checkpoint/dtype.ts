/**
 * Element types of checkpoint tensors (safetensors names; PyTorch storages map onto them) and
 * their conversion to the float types the converter writes.
 */
import { HrsegError } from '../errors.js';

export type CheckpointDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_SIZE: Readonly<Record<CheckpointDType, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
});

export const isCheckpointDType = (s: unknown): s is CheckpointDType => typeof s === 'string' && Object.hasOwn(DTYPE_SIZE, s);

/** IEEE half → float (exact: every half is a float). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f,
    m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** `bytes` (little-endian, any alignment) of `dtype` → float32 values. */
export function toFloat32(bytes: Uint8Array, dtype: CheckpointDType, what: string): Float32Array {
  const n = bytes.length / DTYPE_SIZE[dtype];
  const aligned = (size: number) => bytes.byteOffset % size === 0;
  switch (dtype) {
    case 'F32':
      return aligned(4) ? new Float32Array(bytes.buffer, bytes.byteOffset, n) : new Float32Array(bytes.slice().buffer);
    case 'F64': {
      const src = aligned(8) ? new Float64Array(bytes.buffer, bytes.byteOffset, n) : new Float64Array(bytes.slice().buffer);
      return Float32Array.from(src);
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(bytes[2 * i] | (bytes[2 * i + 1] << 8));
      return out;
    }
    case 'BF16': {
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = ((bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16) >>> 0;
      return new Float32Array(bits.buffer);
    }
    default:
      throw new HrsegError('MODEL_FILE', `${what}: is ${dtype}, expected a floating-point tensor`);
  }
}

/** Integer tensors (I64/I32/...) → JS numbers (for index tables and the like). */
export function toNumbers(bytes: Uint8Array, dtype: CheckpointDType, what: string): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = DTYPE_SIZE[dtype],
    n = bytes.length / size,
    out: number[] = [];
  for (let i = 0; i < n; i++) {
    const o = i * size;
    switch (dtype) {
      case 'I64':
        out.push(Number(dv.getBigInt64(o, true)));
        break;
      case 'I32':
        out.push(dv.getInt32(o, true));
        break;
      case 'I16':
        out.push(dv.getInt16(o, true));
        break;
      case 'I8':
        out.push(dv.getInt8(o));
        break;
      case 'U8':
      case 'BOOL':
        out.push(dv.getUint8(o));
        break;
      default:
        throw new HrsegError('MODEL_FILE', `${what}: is ${dtype}, expected an integer tensor`);
    }
  }
  return out;
}
