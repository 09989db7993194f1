import { describe, expect, it } from 'vitest';
import { HrsegError, tensor, type Tensor } from '../lib/index.js';
import { fill, liveAllocations, scaleInPlace, setExternalBuffers, sumLater } from '../lib/testing.js';
import { native } from '../lib/native.js';
import { forceGc, gcUntil } from './helpers/gc.js';

function randomFloats(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.fround(Math.random() * 2 - 1);
  return a;
}

function expectTensorError(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(HrsegError);
  expect((caught as HrsegError).code).toBe('INVALID_TENSOR');
  expect((caught as HrsegError).message).toMatch(pattern);
}

describe('borrowed inputs', () => {
  it("native writes land in the caller's array (no copy)", () => {
    const data = randomFloats(1000);
    const before = Float32Array.from(data);
    scaleInPlace(tensor('float32', [10, 100], data), 3);
    for (let i = 0; i < data.length; i++) expect(data[i]).toBe(Math.fround(before[i] * 3));
  });

  it('a subarray view is borrowed at its offset, leaving the rest untouched', () => {
    const whole = new Float32Array(16).fill(1);
    scaleInPlace(tensor('float32', [4], whole.subarray(8, 12)), 5);
    expect(Array.from(whole)).toEqual([...Array(8).fill(1), 5, 5, 5, 5, 1, 1, 1, 1]);
  });

  it('raw bytes (a Uint8Array over aligned memory) are accepted for any dtype', () => {
    const f = new Float32Array([1, 2, 3, 4]);
    scaleInPlace({ dtype: 'float32', dims: [4], data: new Uint8Array(f.buffer) } as unknown as Tensor, 2);
    expect(Array.from(f)).toEqual([2, 4, 6, 8]);
  });

  it('the async wrapper reads the input after a delay', async () => {
    const data = new Float32Array([1, 2, 3.5]);
    expect(await sumLater(tensor('float32', [3], data), 20)).toBe(6.5);
  });

  it('stays alive while async work uses it, after every JS reference is dropped and GC runs', async () => {
    let collected = false;
    const registry = new FinalizationRegistry<string>(() => {
      collected = true;
    });
    let pending: Promise<number> | undefined;
    let expected = 0;
    (() => {
      const data = randomFloats(1 << 20);
      for (const v of data) expected += v;
      registry.register(data, 'input');
      // The raw binding, not the lib/testing.ts wrapper: a JS closure there would keep the input
      // alive by itself, and this test is about the native reference alone.
      pending = native()._testing.sumLater(tensor('float32', [data.length], data), 400);
    })();
    for (let i = 0; i < 10; i++) {
      forceGc();
      await new Promise((r) => setTimeout(r, 10));
      // Allocation pressure: a freed input would likely be overwritten by these.
      new Float32Array(1 << 20).fill(1e6);
    }
    expect(collected).toBe(false);
    const sum = await pending!;
    expect(Math.abs(sum - expected)).toBeLessThan(1e-6 * (1 << 20));
    pending = undefined;
    // Once the work is done the input is released: the same GC now collects it.
    expect(await gcUntil(() => collected)).toBe(true);
  });
});

describe('outputs', () => {
  it('hands native memory to JS and frees it when the tensor is collected', async () => {
    const base = liveAllocations().count;
    let out: Tensor | undefined = await fill('float32', [256, 256], 1.5);
    expect(out.dtype).toBe('float32');
    expect(out.dims).toEqual([256, 256]);
    expect(out.data).toBeInstanceOf(Float32Array);
    expect((out.data as Float32Array).every((v) => v === 1.5)).toBe(true);
    expect(liveAllocations().count).toBe(base + 1);
    out = undefined;
    expect(await gcUntil(() => liveAllocations().count === base)).toBe(true);
  });

  it('does not leak across thousands of calls', async () => {
    const base = liveAllocations();
    for (let i = 0; i < 3000; i++) {
      const t = await fill('int32', [64], i);
      if ((t.data as Int32Array)[63] !== i) throw new Error(`wrong value at call ${i}`);
    }
    expect(await gcUntil(() => liveAllocations().count === base.count)).toBe(true);
    expect(liveAllocations().bytes).toBe(base.bytes);
  });

  it('every dtype comes back in its TypedArray', async () => {
    const kinds = {
      float32: Float32Array,
      float16: Uint16Array,
      bfloat16: Uint16Array,
      int32: Int32Array,
      int64: BigInt64Array,
      uint8: Uint8Array,
      bool: Uint8Array,
    } as const;
    for (const [dtype, ctor] of Object.entries(kinds)) {
      const t = await fill(dtype as keyof typeof kinds, [3, 2], 1);
      expect(t.data).toBeInstanceOf(ctor);
      expect(t.data.length).toBe(6);
    }
    const empty = await fill('float32', [0, 4], 1);
    expect(empty.data.length).toBe(0);
  });

  it('the copy fallback (for runtimes that refuse external buffers) gives equal results', async () => {
    const base = liveAllocations().count;
    const external = await fill('float32', [333], 0.25);
    setExternalBuffers(false);
    try {
      const copied = await fill('float32', [333], 0.25);
      expect(Array.from(copied.data as Float32Array)).toEqual(Array.from(external.data as Float32Array));
      expect(copied.dims).toEqual(external.dims);
      // The copy owns JS memory: only the external tensor still holds a native allocation.
      expect(liveAllocations().count).toBe(base + 1);
    } finally {
      setExternalBuffers(true);
    }
  });
});

describe('bad tensors are refused with a clear HrsegError', () => {
  it('wrong dtype for the data', () => {
    expectTensorError(
      () => scaleInPlace({ dtype: 'float32', dims: [4], data: new Int32Array(4) } as unknown as Tensor, 1),
      /needs Float32Array data.*got Int32Array/,
    );
    expectTensorError(() => scaleInPlace({ dtype: 'float64', dims: [4], data: new Float32Array(4) } as unknown as Tensor, 1), /unknown dtype 'float64'/);
  });

  it('dims that do not match the data length, or are not non-negative integers', () => {
    expectTensorError(() => scaleInPlace(tensor('float32', [3, 3], new Float32Array(8)), 1), /needs 36 bytes, data has 32/);
    expectTensorError(() => scaleInPlace(tensor('float32', [-1, 8], new Float32Array(8)), 1), /dims\[0\]/);
    expectTensorError(() => scaleInPlace(tensor('float32', [2.5], new Float32Array(2)), 1), /dims\[0\]/);
    expectTensorError(() => scaleInPlace({ dtype: 'float32', data: new Float32Array(2) } as unknown as Tensor, 1), /dims/);
  });

  it('a detached buffer', () => {
    const data = new Float32Array(8);
    structuredClone(data.buffer, { transfer: [data.buffer] });
    expectTensorError(() => scaleInPlace(tensor('float32', [8], data), 1), /detached/);
  });

  it('an unaligned view', () => {
    const bytes = new Uint8Array(new ArrayBuffer(17), 1, 16);
    expectTensorError(
      () => scaleInPlace({ dtype: 'float32', dims: [4], data: bytes } as unknown as Tensor, 1),
      /not aligned to its 4-byte elements \(byte offset 1\)/,
    );
  });

  it('not a tensor at all', () => {
    expectTensorError(() => scaleInPlace(42 as unknown as Tensor, 1), /expected a tensor object/);
    expectTensorError(() => scaleInPlace({ dtype: 'float32', dims: [2], data: [1, 2] } as unknown as Tensor, 1), /TypedArray/);
  });
});
