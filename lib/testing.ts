/**
 * Test hooks into the tensor bridge and the worker machinery (not part of the public API).
 * They exist so that tests can observe zero-copy borrowing, lifetimes and cancellation directly.
 */
import { runCancellable } from './abort.js';
import { awaitNative, callNative } from './errors.js';
import { native } from './native.js';
import type { DType, Tensor } from './tensor.js';

const t = () => native()._testing;

export const scaleInPlace = (x: Tensor, factor: number): void => callNative(() => t().scaleInPlace(x, factor));

export const sumLater = (x: Tensor, delayMs: number, signal?: AbortSignal): Promise<number> => runCancellable(signal, (h) => t().sumLater(x, delayMs, h));

export const spin = (ms: number, signal?: AbortSignal): Promise<number> => runCancellable(signal, (h) => t().spin(ms, h));

export const fill = (dtype: DType, dims: number[], value: number): Promise<Tensor> => awaitNative(t().fill(dtype, dims, value) as Promise<Tensor>);

export const liveAllocations = (): { count: number; bytes: number } => t().liveAllocations();

export const setExternalBuffers = (enabled: boolean): void => t().setExternalBuffers(enabled);
