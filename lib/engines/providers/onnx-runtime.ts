/**
 * Components run by ONNX Runtime from the package's ONNX files: on the CPU, or through ONNX
 * Runtime's CUDA execution provider (which falls back to the CPU per component and says why).
 */
import type { ModelPackage } from '../../package/manifest.js';
import { componentEntry } from '../../package/components.js';
import type { Component } from '../contracts.js';
import { OnnxEngine } from '../onnx-runtime.js';
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
      return OnnxEngine.load(pkg.files[entry.file], component, {
        provider: CPU_ONLY.has(component) ? 'cpu' : device,
        bindings: { ...entry.bindings?.(pkg), ...options.bindings },
        ...(entry.oncePerImage ? { memoryArena: false, releaseAfterRun: true } : {}),
        cpuBatch: entry.cpuBatch,
      });
    },
  };
}
