/** What this installation of hrseg can do on this machine. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { callNative } from './errors.js';
import { loadNative, packageRoot, type NativeFlavour } from './native.js';

export interface CudaDevice {
  index: number;
  name: string;
  /** e.g. "9.0" */
  computeCapability: string;
  totalMemoryBytes: number;
  multiprocessors: number;
}

export interface RuntimeInfo {
  /** The hrseg package version. */
  version: string;
  /** Node-API version the binary targets, and the version this Node.js provides. */
  napiVersion: number;
  nodeNapiVersion: number;
  /** The native binary that was loaded. */
  binary: string;
  /**
   * Where this runs: `name` is the prebuild's platform ('linux-x64', 'linux-arm64'), `board` the
   * device-tree model of an ARM board (e.g. "NVIDIA Jetson AGX Orin Developer Kit"; null elsewhere),
   * `note` what this platform's prebuild covers and what it does not (docs/arm64.md); null on linux-x64.
   */
  platform: { name: string; board: string | null; note: string | null };
  /**
   * Its CUDA flavour (docs/cuda.md "Two CUDA flavours"): 'cuda13', or 'cuda12' for a driver older
   * than CUDA 13.0; the driver's version as the probe read it, and why this flavour.
   */
  flavour: NativeFlavour;
  build: {
    cuda: boolean;
    cudaArchitectures: string | null;
    tensorrtHeaders: boolean;
    compiler: string;
  };
  cuda: {
    available: boolean;
    devices: CudaDevice[];
    driverVersion: string | null;
    runtimeVersion: string | null;
    /** Why no device is usable; null when one is. */
    reason: string | null;
  };
  tensorrt: {
    /**
     * TensorRT (libnvinfer.so.11 or libnvinfer.so.10, and its ONNX parser) loaded through one of
     * hrseg's TensorRT layers (docs/tensorrt.md "Supported versions").
     */
    loadable: boolean;
    /** The TensorRT major of the layer in use (11: libhrseg_trt.so, 10: libhrseg_trt10.so); null when none loaded. */
    major: 10 | 11 | null;
    /**
     * Which layer, and why: HRSEG_TENSORRT_MAJOR's choice, or the first whose libnvinfer was found
     * and fits (11 before 10), with what the layers before it said; when none loaded, each layer's reason.
     */
    selection: string;
    /** TensorRT's version, also when a library was found but refused (another major version). */
    version: string | null;
    library: string | null;
    /** hrseg's TensorRT layer in use (libhrseg_trt.so or libhrseg_trt10.so beside the binary), else the last one tried; null when this binary has none. */
    backend: string | null;
    reason: string | null;
    /**
     * Why engines cannot be built here (a runtime without its builder or ONNX parser, or no
     * TensorRT at all); null when `hrseg build-engines` can run.
     */
    buildReason: string | null;
  };
  /** Threads the CPU code uses. */
  cpuThreads: number;
  /** The CPU GEMM micro-kernel chosen at run time: "avx512", "avx2-fma", "neon" (aarch64) or "generic" (HRSEG_CPU_ISA=avx2|generic caps it). */
  cpuKernel: string;
  /**
   * The CPU's vector instruction sets the native code can use, space-separated: "avx2 fma",
   * "avx512", "avx512-bf16", "avx512-vnni", "amx-bf16", "amx-int8", "neon" (`npm run bench:peak`
   * measures what each does).
   */
  cpuFeatures: string;
}

let packageVersion: string | undefined;

/** The device tree's model string (ARM boards: Jetsons say which), or null where there is none. */
function boardModel(): string | null {
  try {
    // The kernel writes it NUL-terminated.
    return readFileSync('/proc/device-tree/model', 'utf8').replace(/\0+$/, '').trim() || null;
  } catch {
    return null;
  }
}

function platformInfo(): RuntimeInfo['platform'] {
  const name = `${process.platform}-${process.arch}`;
  if (process.arch !== 'arm64') return { name, board: null, note: null };
  const board = boardModel();
  const note =
    'linux-arm64 prebuild (docs/arm64.md): CPU with NEON kernels; CUDA 13 flavour for Thor (JetPack 7), Grace and other CUDA 13 servers; ' +
    'CUDA 12 flavour for Jetson Orin (JetPack 6) and CUDA 12 servers, using the system CUDA runtime (libcudart.so.12); built by cross-compiling and tested under emulation only';
  return { name, board, note };
}

export function runtimeInfo(): RuntimeInfo {
  const { addon, path, flavour } = loadNative();
  packageVersion ??= (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const info = callNative(() => addon.runtimeInfo()) as Omit<RuntimeInfo, 'version' | 'binary' | 'flavour' | 'nodeNapiVersion'>;
  // A CUDA 12 flavour built without TensorRT 10's headers has no layer (TensorRT 11 needs CUDA 13):
  // say that, rather than the addon's "no TensorRT headers at build time".
  if (flavour.name === 'cuda12' && info.tensorrt.backend === null) {
    const why = 'the CUDA 12 flavour, loaded for a driver older than CUDA 13.0, has no TensorRT layer (docs/cuda.md "Two CUDA flavours")';
    info.tensorrt = { ...info.tensorrt, reason: why, buildReason: why };
  }
  return {
    version: packageVersion,
    ...info,
    nodeNapiVersion: Number(process.versions.napi),
    binary: path,
    platform: platformInfo(),
    flavour,
  };
}

/** Sets the CPU thread count (0 = one per core); returns the count now in use. */
export function setCpuThreads(threads: number): number {
  if (!Number.isInteger(threads) || threads < 0) throw new RangeError('threads must be a non-negative integer');
  return callNative(() => loadNative().addon.setNumThreads(threads));
}
