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

  it("names the CPU's vector instruction sets as the kernel reports them (/proc/cpuinfo's flags on x86-64 Linux)", () => {
    const names = info.cpuFeatures.split(' ').filter(Boolean);
    for (const n of names) expect(['avx2', 'fma', 'avx512', 'avx512-bf16', 'avx512-vnni', 'amx-bf16', 'amx-int8', 'neon']).toContain(n);
    if (process.arch !== 'x64') return;
    const flags = new Set(/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))![1].trim().split(/\s+/));
    const all = (...f: string[]) => f.every((x) => flags.has(x));
    expect(names.includes('avx2')).toBe(all('avx2', 'fma', 'f16c'));
    expect(names.includes('avx512')).toBe(all('avx512f', 'avx512bw', 'avx512vl', 'avx512dq'));
    expect(names.includes('avx512-bf16')).toBe(all('avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_bf16'));
    expect(names.includes('avx512-vnni')).toBe(all('avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_vnni'));
    expect(names.includes('amx-int8')).toBe(all('amx_tile', 'amx_int8'));
  });
});
