/**
 * A CUDA GPU without TensorRT: the head and SAM's post-processing on hrseg's CUDA kernels, the
 * networks on ONNX Runtime's CUDA provider where onnxruntime-node has it (else its CPU provider,
 * each engine saying why in `fallbackReason`).
 */
import { HrsegError } from '../../errors.js';
import { runtimeInfo } from '../../runtime.js';
import type { EngineProvider } from '../provider.js';
import { onnxSource } from './onnx-runtime.js';

/** Why hrseg's CUDA kernels cannot run here; undefined when a device is usable. */
export function cudaUnavailable(info = runtimeInfo()): string | undefined {
  if (!info.build.cuda) return 'this binary was built without CUDA';
  if (!info.cuda.available) return info.cuda.reason ?? 'no CUDA device';
  return undefined;
}

export const cudaProvider: EngineProvider = {
  name: 'cuda',
  summary: "hrseg's CUDA kernels for the head and mask post-processing, ONNX Runtime's CUDA provider for the networks",
  auto: true,
  unavailable: () => cudaUnavailable(),
  missing: async () => undefined,
  async attach(pkg) {
    const why = cudaUnavailable();
    if (why) throw new HrsegError('DEVICE_UNAVAILABLE', `device 'cuda': ${why}`);
    return onnxSource(pkg, 'cuda');
  },
};
