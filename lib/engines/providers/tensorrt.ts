/**
 * TensorRT: SAM, DINOv2 and the VLM on the package's engines built for this GPU and TensorRT
 * (`hrseg build-engines`), outputs left on the device for the next engine and the CUDA head.
 */
import { HrsegError } from '../../errors.js';
import { backboneComponents } from '../../package/components.js';
import { runtimeInfo } from '../../runtime.js';
import { findEngines } from '../../trt/engine-set.js';
import type { EngineProvider } from '../provider.js';
import { TrtEngine } from '../tensorrt.js';
import { cudaUnavailable } from './cuda.js';

function unavailable(): string | undefined {
  // TensorRT first: its absence (libnvinfer) is what a user must fix before anything else.
  const info = runtimeInfo();
  if (!info.tensorrt.loadable) return info.tensorrt.reason ?? 'TensorRT is not available';
  return cudaUnavailable(info);
}

export const tensorrtProvider: EngineProvider = {
  name: 'tensorrt',
  summary: "TensorRT engines for the networks (hrseg build-engines), hrseg's CUDA kernels for the head",
  auto: true,
  unavailable,
  async missing(pkg) {
    try {
      await findEngines(pkg.dir, backboneComponents(pkg.preset));
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  },
  async attach(pkg) {
    const why = unavailable();
    if (why) throw new HrsegError('DEVICE_UNAVAILABLE', `device 'tensorrt': ${why}`);
    const engines = await findEngines(pkg.dir, backboneComponents(pkg.preset));
    return {
      device: 'tensorrt',
      compute: 'cuda',
      outputsOnDevice: true,
      ...(engines.context !== undefined ? { kvContext: engines.context } : {}),
      open: (component) => TrtEngine.load(engines.plan(component), component),
    };
  },
};
