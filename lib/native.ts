/**
 * Finds and loads the native addon with node-gyp-build: a local build (build/Release) first, then
 * the prebuilt binary for this platform (prebuilds/<platform>-<arch>). Loading is lazy, so that
 * importing hrseg never throws; the first call that needs native code reports what went wrong.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { HrsegError } from './errors.js';

const require = createRequire(import.meta.url);

/** The package root: lib/ (sources) and dist/ (compiled) both sit one level below it. */
export const packageRoot = fileURLToPath(new URL('..', import.meta.url));

export interface NativeCancelHandle {
  cancel(): void;
  readonly cancelled: boolean;
}

export interface NativeTesting {
  scaleInPlace(t: unknown, factor: number): void;
  sumLater(t: unknown, delayMs: number, cancel?: NativeCancelHandle): Promise<number>;
  spin(ms: number, cancel?: NativeCancelHandle): Promise<number>;
  fill(dtype: string, dims: number[], value: number): Promise<unknown>;
  liveAllocations(): { count: number; bytes: number };
  fmaPeak(threads: number, seconds: number): Promise<number>;
  setExternalBuffers(enabled: boolean): void;
}

export interface NativeTrtProfileInput {
  name: string;
  min: number[];
  opt: number[];
  max: number[];
}

/** A tensor in device memory owned by the TensorRT layer; `device` is its buffer (freed when unreachable). */
export interface NativeDeviceValue {
  dtype: string;
  dims: number[];
  device: unknown;
}

export interface NativeTrtIo {
  name: string;
  dtype: string;
  dims: number[];
}

export interface NativeAddon {
  runtimeInfo(): Record<string, unknown>;
  trtBuild(
    options: {
      onnx: string;
      plan: string;
      timingCache?: string;
      device: number;
      workspaceBytes?: number;
      optimizationLevel?: number;
      profiles: NativeTrtProfileInput[][];
    },
    onProgress?: (phase: string, step: number, steps: number, depth: number) => void,
    cancel?: NativeCancelHandle,
  ): Promise<void>;
  trtOpen(planPath: string, device: number): Promise<{ handle: unknown; inputs: NativeTrtIo[]; outputs: NativeTrtIo[] }>;
  trtClose(handle: unknown): void;
  trtRunDevice(
    handle: unknown,
    inputs: ({ name: string; dtype: string; dims: number[]; data: ArrayBufferView } | ({ name: string } & NativeDeviceValue))[],
    into?: Record<string, unknown>,
  ): Promise<Record<string, NativeDeviceValue>>;
  trtDeviceAlloc(bytes: number, device: number): unknown;
  trtToHost(value: NativeDeviceValue): Promise<unknown>;
  trtDeviceUuid(device: number): string;
  trtRelease(value: { device: unknown }): void;
  setNumThreads(n: number): number;
  quantizeBlockwise(
    w: Float32Array,
    out: number,
    inDim: number,
    bits: number,
    block: number,
    asymmetric: boolean,
    clipSearch: boolean,
  ): { codes: Uint8Array; scales: Float32Array; zeroPoints?: Uint8Array };
  CancelHandle: new () => NativeCancelHandle;
  _testing: NativeTesting;
}

let cached: { addon: NativeAddon; path: string } | undefined;

export function loadNative(): { addon: NativeAddon; path: string } {
  if (cached) return cached;
  const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  let path: string;
  try {
    // HRSEG_NATIVE_ADDON: another build of the binding (the tests' simulated-GPU one, README "The
    // simulated GPU"); never needed otherwise.
    path = process.env.HRSEG_NATIVE_ADDON || gypBuild.resolve(packageRoot);
  } catch (cause) {
    throw new HrsegError(
      'NATIVE_BINARY_NOT_FOUND',
      `no hrseg native binary for ${process.platform}-${process.arch} (Node-API, node ${process.versions.node}). ` +
        `Searched ${packageRoot}build/Release, ${packageRoot}build/Debug and ${packageRoot}prebuilds/${process.platform}-${process.arch}. ` +
        `Prebuilt binaries ship for linux-x64; elsewhere build from a clone with \`npm ci && npm run build\` ` +
        `(needs CMake and a C++17 compiler).`,
      { cause },
    );
  }
  try {
    cached = { addon: require(path) as NativeAddon, path };
  } catch (cause) {
    throw new HrsegError('NATIVE_BINARY_LOAD_FAILED', `the hrseg native binary at ${path} could not be loaded: ${(cause as Error).message}`, { cause });
  }
  return cached;
}

export function native(): NativeAddon {
  return loadNative().addon;
}
