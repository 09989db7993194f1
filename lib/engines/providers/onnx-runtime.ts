/**
 * Components run by ONNX Runtime from the package's ONNX files: on the CPU, or through ONNX
 * Runtime's CUDA execution provider (which falls back to the CPU per component and says why).
 */
import type { Quantization } from '../../convert/types.js';
import type { ModelPackage } from '../../package/manifest.js';
import { componentEntry } from '../../package/components.js';
import type { Component } from '../contracts.js';
import { OnnxEngine } from '../onnx-runtime.js';
import { HrsegError } from '../../errors.js';
import { runtimeInfo } from '../../runtime.js';
import type { EngineSource, OpenOptions } from '../provider.js';

/**
 * The VLM's components stay on the CPU execution provider under 'cuda' too: their key/value
 * cache goes back and forth through host memory at every token, which the CUDA provider would
 * copy whole each step (only TensorRT keeps it on the device).
 */
const CPU_ONLY: ReadonlySet<Component> = new Set(['vlm/vision', 'vlm/decoder']);

export function onnxSource(pkg: ModelPackage, device: 'cpu' | 'cuda'): EngineSource {
  return {
    device,
    compute: device,
    outputsOnDevice: false,
    open(component: Component, options: OpenOptions = {}) {
      const entry = componentEntry(component);
      refuseFullRangeInt8(pkg, component, entry.file);
      return OnnxEngine.load(pkg.files[entry.file], component, {
        provider: CPU_ONLY.has(component) ? 'cpu' : device,
        bindings: { ...entry.bindings?.(pkg), ...options.bindings },
        ...(entry.oncePerImage ? { memoryArena: false, releaseAfterRun: true } : {}),
        cpuBatch: entry.cpuBatch,
      });
    },
  };
}

/**
 * Packages of the first `--quantize-vision int8` hold full-range int8 weights, which ONNX
 * Runtime's AVX2 int8 GEMM overflows (16-bit pair sums): on an x86-64 CPU without VNNI their
 * results are wrong, so they are refused by name rather than run. Converted again, the weights stay
 * within 7 bits (quantize-vision.ts) and run anywhere.
 */
function refuseFullRangeInt8(pkg: ModelPackage, component: Component, file: string): void {
  const q = pkg.manifest.components?.[file]?.quantization as Quantization | undefined; // as build-engines reads it
  if (!q?.activations || q.weightBits === 7 || process.arch !== 'x64') return;
  const features = runtimeInfo().cpuFeatures;
  if (/avx512-vnni|amx-int8/.test(features)) return;
  throw new HrsegError(
    'MODEL_FILE',
    `${component}: this package's int8 vision weights use the full int8 range, which ONNX Runtime's int8 kernels overflow on this CPU (${features}: no VNNI); convert it again with this hrseg (--quantize-vision int8 now keeps the weights within 7 bits)`,
  );
}
