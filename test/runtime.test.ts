import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runtimeInfo, setCpuThreads } from '../lib/index.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

describe('runtimeInfo()', () => {
  const info = runtimeInfo();

  it('reports the package, the binary and Node-API versions', () => {
    expect(info.version).toBe(pkg.version);
    expect(info.napiVersion).toBe(8);
    expect(info.nodeNapiVersion).toBeGreaterThanOrEqual(info.napiVersion);
    expect(info.binary).toMatch(/\.node$/);
    expect(typeof info.build.cuda).toBe('boolean');
    expect(typeof info.build.tensorrtHeaders).toBe('boolean');
  });

  it('lists CUDA devices, or says why there are none', () => {
    if (info.cuda.available) {
      expect(info.cuda.devices.length).toBeGreaterThan(0);
      for (const d of info.cuda.devices) expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
    } else {
      expect(info.cuda.devices).toEqual([]);
      expect(info.cuda.reason).toMatch(/\S/);
    }
    if (info.build.cuda) expect(info.build.cudaArchitectures).toMatch(/90/);
  });

  it('says whether TensorRT is loadable, and why not', () => {
    if (info.tensorrt.loadable) expect(info.tensorrt.version).toMatch(/^\d+\.\d+\.\d+$/);
    // A binary with the TensorRT layer names the library it could not load; one built without
    // TensorRT's headers (a clone with no TENSORRT_ROOT) says so and how to get the layer.
    else if (info.tensorrt.backend !== null) expect(info.tensorrt.reason).toMatch(/libnvinfer/);
    else expect(info.tensorrt.reason).toMatch(/built without the TensorRT layer.*TENSORRT_ROOT/);
  });

  it('reports and sets the CPU thread count', () => {
    expect(info.cpuThreads).toBeGreaterThanOrEqual(1);
    expect(setCpuThreads(3)).toBe(3);
    expect(runtimeInfo().cpuThreads).toBe(3);
    expect(setCpuThreads(0)).toBe(info.cpuThreads);
    expect(() => setCpuThreads(-1)).toThrow(RangeError);
  });
});
