// The addon's two CUDA flavours (docs/cuda.md "Two CUDA flavours"): which one lib/native.ts loads
// for which driver, the driver probe on this machine, and the CUDA 12 flavour's load path, run in
// child processes (a process loads one flavour; the choice is made once). The driver's version is
// simulated with HRSEG_TEST_DRIVER_VERSION, which only the tests set.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { chooseFlavour, cuda12Binary, probeDriver } from '../lib/native.js';
import type { RuntimeInfo } from '../lib/runtime.js';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');
const cli = join(root, 'dist', 'cli.js');

async function info(env: Record<string, string | undefined>): Promise<{ json: RuntimeInfo; text: string }> {
  const childEnv = { ...process.env, ...env };
  delete childEnv.HRSEG_NATIVE_ADDON;
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const json = JSON.parse((await exec(process.execPath, [cli, 'info', '--json'], { env: childEnv })).stdout) as { runtime: RuntimeInfo };
  const text = (await exec(process.execPath, [cli, 'info'], { env: childEnv })).stdout;
  return { json: json.runtime, text };
}

describe('chooseFlavour', () => {
  it('no driver: the CUDA 13 flavour, with the probe’s reason', () => {
    const f = chooseFlavour({ version: null, reason: 'no NVIDIA driver is installed (libcuda.so.1: not found)' }, true);
    expect(f).toMatchObject({ name: 'cuda13', driverVersion: null });
    expect(f.reason).toMatch(/^no NVIDIA driver is installed.*CUDA 13 flavour, on the CPU/);
  });
  it('a driver from CUDA 13.0 on: the CUDA 13 flavour', () => {
    for (const v of [13000, 13010]) expect(chooseFlavour({ version: v, reason: null }, true).name).toBe('cuda13');
  });
  it('a driver older than 13.0: the CUDA 12 flavour, saying why', () => {
    const f = chooseFlavour({ version: 12040, reason: null }, true);
    expect(f.name).toBe('cuda12');
    expect(f.reason).toBe('the driver supports CUDA 12.4, older than the CUDA 13 flavour needs (13.0, R580+): the CUDA 12 flavour');
    expect(chooseFlavour({ version: 12090, reason: null }, true).name).toBe('cuda12');
  });
  it('a driver older than 13.0 and no CUDA 12 flavour: the CUDA 13 one, saying what is missing', () => {
    const f = chooseFlavour({ version: 12040, reason: null }, false);
    expect(f.name).toBe('cuda13');
    expect(f.reason).toMatch(/no CUDA 12 flavour \(scripts\/cuda12\/build\.sh\)/);
  });
  it('a driver older than 12.0: the CUDA 12 flavour, on the CPU', () => {
    expect(chooseFlavour({ version: 11080, reason: null }, true)).toMatchObject({ name: 'cuda12', driverVersion: 11080 });
    expect(chooseFlavour({ version: 11080, reason: null }, true).reason).toMatch(/older than either flavour needs/);
  });
});

describe('the driver probe', () => {
  const hasDriver = ['/dev/nvidiactl', '/proc/driver/nvidia/version'].some((p) => existsSync(p));
  it.skipIf(hasDriver)('with no NVIDIA driver here: no version, and says libcuda.so.1 is missing (skipped where there is a driver)', () => {
    const p = probeDriver();
    expect(p.version).toBeNull();
    expect(p.reason).toMatch(/^no NVIDIA driver is installed \(libcuda\.so\.1: cannot open shared object file/);
  });
  it.skipIf(!hasDriver)('with a driver: its CUDA version, 12.0 or newer (skipped: no NVIDIA driver here)', () => {
    const p = probeDriver();
    expect(p.version).toBeGreaterThanOrEqual(12000);
  });
  it('HRSEG_TEST_DRIVER_VERSION stands in for the driver; a bad value is refused by name', () => {
    const before = process.env.HRSEG_TEST_DRIVER_VERSION;
    try {
      process.env.HRSEG_TEST_DRIVER_VERSION = '12040';
      expect(probeDriver()).toEqual({ version: 12040, reason: null });
      process.env.HRSEG_TEST_DRIVER_VERSION = 'none';
      expect(probeDriver().version).toBeNull();
      process.env.HRSEG_TEST_DRIVER_VERSION = '12.4';
      expect(() => probeDriver()).toThrow(/HRSEG_TEST_DRIVER_VERSION=12\.4/);
    } finally {
      if (before === undefined) delete process.env.HRSEG_TEST_DRIVER_VERSION;
      else process.env.HRSEG_TEST_DRIVER_VERSION = before;
    }
  });
});

// The CUDA 12 flavour is built by scripts/cuda12/build.sh (npm run build does it where the CUDA 12
// toolchain is installed); CI requires it (HRSEG_REQUIRE_CUDA12=1).
const cuda12 = cuda12Binary();
if (!cuda12 && process.env.HRSEG_REQUIRE_CUDA12 === '1')
  throw new Error('HRSEG_REQUIRE_CUDA12=1 but the CUDA 12 flavour is not built (bash scripts/cuda12/build.sh)');

describe('loading a flavour', () => {
  it('no driver: the CUDA 13 flavour, the CPU, and the reason in runtimeInfo() and hrseg info', async () => {
    const { json, text } = await info({ HRSEG_TEST_DRIVER_VERSION: 'none' });
    expect(json.flavour).toMatchObject({ name: 'cuda13', driverVersion: null });
    expect(json.binary.slice(root.length)).not.toMatch(/cuda12/);
    expect(text).toMatch(/^ {2}flavour: CUDA 13: no NVIDIA driver is installed/m);
  });
  it.skipIf(!cuda12)(
    `a driver older than 13.0 (simulated 12.4): the CUDA 12 flavour loads, its runtime is 12.4${cuda12 ? '' : ' (skipped: the CUDA 12 flavour is not built: bash scripts/cuda12/build.sh)'}`,
    async () => {
      const { json, text } = await info({ HRSEG_TEST_DRIVER_VERSION: '12040' });
      expect(json.flavour).toMatchObject({ name: 'cuda12', driverVersion: 12040 });
      expect(json.binary).toBe(cuda12);
      expect(json.cuda.runtimeVersion).toBe('12.4');
      expect(json.build.cudaArchitectures).toBe('75-real,80-real,86-real,89-real,90-real,90-virtual');
      expect(text).toMatch(/^ {2}flavour: CUDA 12: the driver supports CUDA 12\.4, older than the CUDA 13 flavour needs/m);
      // Built with TensorRT 10's headers (CI), the flavour has its own TensorRT 10 layer beside it.
      if (existsSync(join(dirname(cuda12!), 'libhrseg_trt10.so'))) expect(json.tensorrt.reason ?? '').not.toMatch(/has no TensorRT layer/);
      else expect(json.tensorrt.reason).toMatch(/^the CUDA 12 flavour, loaded for a driver older than CUDA 13\.0, has no TensorRT layer/);
      // The simulated version only picks the binary: with no real driver, the CUDA 12 runtime finds
      // none, and the addon says so and runs on the CPU, as the CUDA 13 one does.
      const hasDriver = ['/dev/nvidiactl', '/proc/driver/nvidia/version'].some((p) => existsSync(p));
      if (!hasDriver) {
        expect(json.cuda.available).toBe(false);
        expect(json.cuda.reason).toBe('no NVIDIA driver is installed');
        expect(text).toMatch(/^cuda: not available \(no NVIDIA driver is installed\)$/m);
      }
    },
  );
});

// TensorRT 10 on a CUDA 12 driver (every Jetson Orin, most installations): the CUDA 12 flavour's own
// TensorRT 10 layer, built by CUDA 12.4, loads the real TensorRT 10.16.1 lean runtime (a CUDA 12
// build, scripts/tensorrt/install-libs.sh) from a TENSORRT_ROOT.
const lean10 = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hrseg', 'tensorrt-lean-10.16.1.11', 'libnvinfer_lean.so.10');
const layer12 = cuda12 ? join(dirname(cuda12), 'libhrseg_trt10.so') : '';
const trt12Skip = !cuda12
  ? 'the CUDA 12 flavour is not built'
  : !existsSync(layer12)
    ? 'it was built without TENSORRT10_ROOT'
    : !existsSync(lean10)
      ? `no ${lean10}: bash scripts/tensorrt/install-libs.sh`
      : '';
if (trt12Skip && process.env.HRSEG_REQUIRE_CUDA12 === '1' && process.env.HRSEG_REQUIRE_TENSORRT10 === '1' && process.env.HRSEG_REQUIRE_TENSORRT_LIBS === '1')
  throw new Error(`the CUDA 12 flavour's TensorRT 10 layer test is required here but cannot run: ${trt12Skip}`);

describe('the CUDA 12 flavour with TensorRT 10', () => {
  it.skipIf(trt12Skip !== '')(
    `a CUDA 12 driver (simulated 12.4) and TensorRT 10.16.1: the flavour's own TensorRT 10 layer loads it${trt12Skip ? ` (skipped: ${trt12Skip})` : ''}`,
    async () => {
      const trtRoot = mkdtempSync(join(tmpdir(), 'hrseg-trt10-'));
      try {
        mkdirSync(join(trtRoot, 'lib'));
        symlinkSync(lean10, join(trtRoot, 'lib', 'libnvinfer.so.10'));
        const { json } = await info({ HRSEG_TEST_DRIVER_VERSION: '12040', TENSORRT_ROOT: trtRoot, HRSEG_TENSORRT_MAJOR: undefined, LD_LIBRARY_PATH: '' });
        expect(json.flavour).toMatchObject({ name: 'cuda12' });
        expect(json.tensorrt).toMatchObject({ loadable: true, version: '10.16.1', major: 10, backend: layer12 });
        expect(json.tensorrt.library).toBe(join(trtRoot, 'lib', 'libnvinfer.so.10'));
      } finally {
        rmSync(trtRoot, { recursive: true, force: true });
      }
    },
  );
});

// The real probe, end to end: a stand-in for the driver's libcuda.so.1 (native/probe/fake_libcuda.c,
// built into build/fake-cuda by the main build) on LD_LIBRARY_PATH answers cuDriverGetVersion with
// HRSEG_FAKE_CUDA_VERSION, and exports nothing else, so the runtime that loads next finds no usable
// driver and the addon runs on the CPU.
const fakeCuda = join(root, 'build', 'fake-cuda');
const hasFake = existsSync(join(fakeCuda, 'libcuda.so.1'));
if (!hasFake && process.env.HRSEG_REQUIRE_CUDA12 === '1')
  throw new Error('HRSEG_REQUIRE_CUDA12=1 but build/fake-cuda/libcuda.so.1 is not built (npm run build)');
describe('the driver probe against a stand-in libcuda.so.1', () => {
  const fake = (version: string | undefined) => ({ LD_LIBRARY_PATH: fakeCuda, HRSEG_FAKE_CUDA_VERSION: version, HRSEG_TEST_DRIVER_VERSION: undefined });
  it.skipIf(!hasFake || !cuda12)(
    `a driver for CUDA 12.4: the CUDA 12 flavour, whose runtime sees the same driver${hasFake && cuda12 ? '' : ' (skipped: build/fake-cuda or the CUDA 12 flavour is not built)'}`,
    async () => {
      const { json } = await info(fake('12040'));
      expect(json.flavour).toMatchObject({ name: 'cuda12', driverVersion: 12040 });
      expect(json.binary).toBe(cuda12);
      expect(json.cuda).toMatchObject({ available: false, driverVersion: '12.4', runtimeVersion: '12.4' });
    },
  );
  it.skipIf(!hasFake)(`a driver for CUDA 13.0: the CUDA 13 flavour${hasFake ? '' : ' (skipped: build/fake-cuda is not built)'}`, async () => {
    const { json } = await info(fake('13000'));
    expect(json.flavour).toMatchObject({ name: 'cuda13', driverVersion: 13000 });
    expect(json.cuda).toMatchObject({ available: false, driverVersion: '13.0', runtimeVersion: '13.0' });
  });
  it.skipIf(!hasFake)(
    `a driver library that does not answer: the CUDA 13 flavour, saying so${hasFake ? '' : ' (skipped: build/fake-cuda is not built)'}`,
    async () => {
      const { json } = await info(fake(undefined));
      expect(json.flavour).toMatchObject({ name: 'cuda13', driverVersion: null });
      expect(json.flavour.reason).toBe('cuDriverGetVersion failed (CUresult 3): the CUDA 13 flavour, on the CPU');
    },
  );
});
