/**
 * Finds and loads the native addon with node-gyp-build: a local build (build/Release) first, then
 * the prebuilt binary for this platform (prebuilds/<platform>-<arch>). Loading is lazy, so that
 * importing hrseg never throws; the first call that needs native code reports what went wrong.
 *
 * Two CUDA flavours of the addon (docs/cuda.md "Two CUDA flavours"): the CUDA 13 one above, and a
 * CUDA 12 one (build-cuda12/Release, prebuilds/<platform>-<arch>/cuda12) for drivers older than
 * CUDA 13's floor. The driver probe (hrseg_probe.node: no CUDA inside, it dlopens libcuda.so.1 and
 * asks cuDriverGetVersion) is loaded first, and its answer picks the flavour before either loads.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HrsegError } from './errors.js';

const require = createRequire(import.meta.url);

/** The package root: lib/ (sources) and dist/ (compiled) both sit one level below it. */
export const packageRoot = fileURLToPath(new URL('..', import.meta.url));

export interface NativeCancelHandle {
  cancel(): void;
  readonly cancelled: boolean;
}

export interface NativeCpuPeak {
  /** e.g. "fp32 FMA (AVX-512)", "int8 tiles (AMX)", "memory read". */
  name: string;
  kind: 'fp32' | 'bf16' | 'int8' | 'bandwidth';
  unit: 'FLOP/s' | 'OP/s' | 'B/s';
  perSecond: number;
}

export interface NativeTesting {
  scaleInPlace(t: unknown, factor: number): void;
  sumLater(t: unknown, delayMs: number, cancel?: NativeCancelHandle): Promise<number>;
  spin(ms: number, cancel?: NativeCancelHandle): Promise<number>;
  fill(dtype: string, dims: number[], value: number): Promise<unknown>;
  liveAllocations(): { count: number; bytes: number };
  fmaPeak(threads: number, seconds: number): Promise<number>;
  /** Every arithmetic peak this CPU has an instruction set for, and its memory bandwidth. */
  cpuPeaks(threads: number, seconds: number, bandwidthBytes: number): Promise<NativeCpuPeak[]>;
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

/** cuDriverGetVersion's value for CUDA 13.0: the CUDA 13 flavour's driver floor (R580). */
export const CUDA13_DRIVER_FLOOR = 13000;
/** cuDriverGetVersion's value for CUDA 12.0: the CUDA 12 flavour's driver floor (R525). */
export const CUDA12_DRIVER_FLOOR = 12000;

/** Which build of the addon was loaded, and why. */
export interface NativeFlavour {
  /** 'cuda13' or 'cuda12'; 'override' when HRSEG_NATIVE_ADDON named the binary. */
  name: 'cuda13' | 'cuda12' | 'override';
  /** The CUDA version the driver supports, as cuDriverGetVersion gives it (12040 for 12.4); null with no driver. */
  driverVersion: number | null;
  /** Why this flavour: the driver's version against the floors, or why it could not be asked. */
  reason: string;
}

/** The driver probe's answer: cuDriverGetVersion's value, or null and why there is none. */
export interface DriverProbe {
  version: number | null;
  reason: string | null;
}

const platformDir = `${process.platform}-${process.arch}`;

function firstExisting(paths: string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

/** The CUDA 12 flavour's binary, where this installation has one. */
export function cuda12Binary(): string | undefined {
  return firstExisting([join(packageRoot, 'build-cuda12', 'Release', 'hrseg.node'), join(packageRoot, 'prebuilds', platformDir, 'cuda12', 'hrseg.glibc.node')]);
}

function versionString(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

/**
 * The driver's CUDA version, from the probe. HRSEG_TEST_DRIVER_VERSION (tests only: a
 * cuDriverGetVersion value such as 12040, or "none") stands in for the driver, so that the choice
 * below can be tested on machines without one, or with another one; never set it otherwise.
 */
export function probeDriver(): DriverProbe {
  const simulated = process.env.HRSEG_TEST_DRIVER_VERSION;
  if (simulated) {
    if (simulated === 'none') return { version: null, reason: 'no NVIDIA driver is installed (HRSEG_TEST_DRIVER_VERSION=none)' };
    const v = Number(simulated);
    if (!Number.isInteger(v) || v <= 0)
      throw new HrsegError('INVALID_ARGUMENT', `HRSEG_TEST_DRIVER_VERSION=${simulated}: a cuDriverGetVersion value (e.g. 12040) or "none"`);
    return { version: v, reason: null };
  }
  const probe = firstExisting([
    join(packageRoot, 'build', 'probe', 'hrseg_probe.node'),
    join(packageRoot, 'prebuilds', platformDir, 'probe', 'hrseg_probe.node'),
  ]);
  if (!probe) return { version: null, reason: 'this installation has no driver probe (hrseg_probe.node)' };
  try {
    return (require(probe) as { driverVersion(): DriverProbe }).driverVersion();
  } catch (cause) {
    return { version: null, reason: `the driver probe ${probe} could not be loaded: ${(cause as Error).message}` };
  }
}

/**
 * The flavour for a driver: CUDA 13 from its floor on (and with no driver at all, where either
 * runs on the CPU and the CUDA 13 one says why); the CUDA 12 flavour, where there is one, for a
 * driver older than 13.0.
 */
export function chooseFlavour(driver: DriverProbe, hasCuda12: boolean): NativeFlavour {
  const v = driver.version;
  if (v === null) return { name: 'cuda13', driverVersion: null, reason: `${driver.reason}: the CUDA 13 flavour, on the CPU` };
  const supports = `the driver supports CUDA ${versionString(v)}`;
  if (v >= CUDA13_DRIVER_FLOOR) return { name: 'cuda13', driverVersion: v, reason: `${supports} (the CUDA 13 flavour needs 13.0, R580+)` };
  if (!hasCuda12)
    return {
      name: 'cuda13',
      driverVersion: v,
      reason: `${supports}, older than the CUDA 13 flavour needs (13.0, R580+), and this installation has no CUDA 12 flavour (scripts/cuda12/build.sh): the CUDA 13 flavour, on the CPU`,
    };
  if (v < CUDA12_DRIVER_FLOOR)
    return {
      name: 'cuda12',
      driverVersion: v,
      reason: `${supports}, older than either flavour needs (CUDA 12 flavour: 12.0, R525+): the CUDA 12 flavour, on the CPU`,
    };
  return { name: 'cuda12', driverVersion: v, reason: `${supports}, older than the CUDA 13 flavour needs (13.0, R580+): the CUDA 12 flavour` };
}

let cached: { addon: NativeAddon; path: string; flavour: NativeFlavour } | undefined;

export function loadNative(): { addon: NativeAddon; path: string; flavour: NativeFlavour } {
  if (cached) return cached;
  const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  let path: string;
  let flavour: NativeFlavour;
  // HRSEG_NATIVE_ADDON: another build of the binding (the tests' simulated-GPU one, README "The
  // simulated GPU"); never needed otherwise.
  const override = process.env.HRSEG_NATIVE_ADDON;
  if (override) {
    path = override;
    flavour = { name: 'override', driverVersion: null, reason: `HRSEG_NATIVE_ADDON=${override}` };
  } else {
    const cuda12 = cuda12Binary();
    const choice = chooseFlavour(probeDriver(), cuda12 !== undefined);
    flavour = choice;
    try {
      path = choice.name === 'cuda12' ? cuda12! : gypBuild.resolve(packageRoot);
    } catch (cause) {
      throw new HrsegError(
        'NATIVE_BINARY_NOT_FOUND',
        `no hrseg native binary for ${process.platform}-${process.arch} (Node-API, node ${process.versions.node}). ` +
          `Searched ${packageRoot}build/Release, ${packageRoot}build/Debug and ${packageRoot}prebuilds/${process.platform}-${process.arch}. ` +
          `Prebuilt binaries ship for linux-x64 and linux-arm64 (glibc); elsewhere build from a clone with \`npm ci && npm run build\` ` +
          `(needs CMake and a C++17 compiler).`,
        { cause },
      );
    }
  }
  if (flavour.name === 'cuda12' && process.arch === 'arm64') {
    cached = arm64Cuda12Fallback(path, () => gypBuild.resolve(packageRoot), flavour);
    if (cached) return cached;
  }
  try {
    cached = { addon: require(path) as NativeAddon, path, flavour };
  } catch (cause) {
    throw new HrsegError('NATIVE_BINARY_LOAD_FAILED', `the hrseg native binary at ${path} could not be loaded: ${(cause as Error).message}`, { cause });
  }
  return cached;
}

/**
 * linux-arm64's CUDA 12 flavour (docs/arm64.md "CUDA runtimes") links the CUDA runtime dynamically:
 * the aarch64 CUDA 12 runtime a Jetson Orin must use is the one JetPack installs
 * (libcudart.so.12), not the server (SBSA) build these binaries could be linked against. Where the
 * driver is CUDA 12 but that library cannot be loaded (a server with a CUDA 12 driver and no CUDA
 * runtime installed, a Jetson whose CUDA folder is not on the library path), the CUDA 13 flavour,
 * which carries its runtime, is loaded instead and runs on the CPU, saying why. Any other failure
 * to load the CUDA 12 flavour is reported as it is (undefined here).
 */
function arm64Cuda12Fallback(
  cuda12: string,
  cuda13: () => string,
  choice: NativeFlavour,
): { addon: NativeAddon; path: string; flavour: NativeFlavour } | undefined {
  try {
    return { addon: require(cuda12) as NativeAddon, path: cuda12, flavour: choice };
  } catch (cause) {
    const message = (cause as Error).message;
    if (!/libcudart\.so\.12/.test(message)) return undefined;
    const path = cuda13();
    const flavour: NativeFlavour = {
      name: 'cuda13',
      driverVersion: choice.driverVersion,
      reason:
        `${choice.reason.replace(/: the CUDA 12 flavour.*$/, '')}, but the CUDA 12 flavour for linux-arm64 needs the CUDA runtime ` +
        `the system installs (libcudart.so.12: JetPack's, on a Jetson), which could not be loaded (${message}): the CUDA 13 flavour, on the CPU`,
    };
    return { addon: require(path) as NativeAddon, path, flavour };
  }
}

export function native(): NativeAddon {
  return loadNative().addon;
}
