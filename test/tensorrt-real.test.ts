/**
 * The whole stack from Node over TensorRT's real library: hrseg.node → libhrseg_trt.so → TensorRT
 * 11.1's lean runtime (the wheel scripts/tensorrt/install-libs.sh installs), placed where a
 * TENSORRT_ROOT's libnvinfer.so.11 would be. The lean runtime has no builder, so the layer loads
 * it as a run-only TensorRT: what runs is TensorRT's own version check, its runtime factory calling
 * hrseg's logger, and hrseg opening a plan by path. No GPU here, so an open ends at TensorRT's own
 * "CUDA initialization failure". The C++ side of the same library is native/tests/test_trt_real.cc.
 */
import { execFile } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

import { runtimeInfo } from '../lib/index.js';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');
const libs = process.env.HRSEG_TENSORRT_LIBS || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hrseg', 'tensorrt-lean-11.1.0.106');
const installed = existsSync(join(libs, 'libnvinfer_lean.so.11'));
const required = process.env.HRSEG_REQUIRE_TENSORRT_LIBS === '1';
const layerBuilt = runtimeInfo().tensorrt.backend !== null;
const work = mkdtempSync(join(tmpdir(), 'hrseg-trt-real-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('Node over the real TensorRT library', () => {
  it.runIf(required)('the library CI requires is installed (HRSEG_REQUIRE_TENSORRT_LIBS=1)', () => {
    expect(existsSync(join(libs, 'libnvinfer_lean.so.11')), `${libs}: run bash scripts/tensorrt/install-libs.sh`).toBe(true);
  });

  it.runIf(installed && layerBuilt)(
    `runtimeInfo, and a 3 GiB plan opened by path without a JS buffer (skipped ${!layerBuilt ? 'because this binary has no TensorRT layer: build with TENSORRT_ROOT' : `without ${libs}: bash scripts/tensorrt/install-libs.sh`})`,
    async () => {
      const trtRoot = join(work, 'tensorrt');
      mkdirSync(join(trtRoot, 'lib'), { recursive: true });
      symlinkSync(join(libs, 'libnvinfer_lean.so.11'), join(trtRoot, 'lib', 'libnvinfer.so.11'));
      // Sparse: 3 GiB that take no disk, past what fs.readFile or a Buffer can hold.
      const plan = join(work, 'big.plan');
      const fd = openSync(plan, 'w');
      ftruncateSync(fd, 3 * 2 ** 30);
      closeSync(fd);
      const script = `
        import { runtimeInfo, TrtEngine } from ${JSON.stringify(join(root, 'dist', 'index.js'))};
        const before = process.memoryUsage().arrayBuffers;
        const out = { info: runtimeInfo().tensorrt };
        try { await TrtEngine.load(process.env.PLAN, 'test/plan'); out.open = 'opened'; }
        catch (e) { out.open = { code: e.code, message: e.message }; }
        out.growth = process.memoryUsage().arrayBuffers - before;
        console.log(JSON.stringify(out));`;
      const r = await exec(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, TENSORRT_ROOT: trtRoot, PLAN: plan, LD_LIBRARY_PATH: '' },
      });
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      expect(out.info.loadable).toBe(true);
      expect(out.info.version).toBe('11.1.0');
      expect(out.info.library).toBe(join(trtRoot, 'lib', 'libnvinfer.so.11'));
      expect(out.info.buildReason).toMatch(/createInferBuilder_INTERNAL/);
      expect(out.open.code).toBe('DEVICE_UNAVAILABLE');
      // Mapped by path (no Buffer: a 3 GiB readFile would have thrown first), then refused at the device.
      expect(out.open.message).toMatch(/no CUDA device/);
      expect(out.growth).toBeLessThan(64 * 2 ** 20);
    },
  );
});
