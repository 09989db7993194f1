/** The CPU: ONNX Runtime for the networks, the C++ core for the head and SAM's post-processing. Always available. */
import type { EngineProvider } from '../provider.js';
import { onnxSource } from './onnx-runtime.js';

export const cpuProvider: EngineProvider = {
  name: 'cpu',
  summary: 'ONNX Runtime on the CPU for the networks, the C++ core for the head and mask post-processing',
  auto: true,
  unavailable: () => undefined,
  missing: async () => undefined,
  attach: async (pkg) => onnxSource(pkg, 'cpu'),
};
