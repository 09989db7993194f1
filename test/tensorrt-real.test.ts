/**
 * The whole stack from Node over TensorRT's real libraries: hrseg.node → a TensorRT layer →
 * TensorRT's lean runtime (the wheels scripts/tensorrt/install-libs.sh installs: 11.1, 11.4 and
 * 10.16.1), placed where a TENSORRT_ROOT's libnvinfer.so.<major> would be. The lean runtime has no
 * builder, so a layer loads it as a run-only TensorRT: what runs is TensorRT's own version check,
 * its runtime factory calling hrseg's logger, the addon choosing the layer (libhrseg_trt.so for 11,
 * libhrseg_trt10.so for 10; HRSEG_TENSORRT_MAJOR), and hrseg opening a plan by path. No GPU here, so
 * an open ends at TensorRT's own "CUDA initialization failure". The C++ side of the same libraries
 * is native/tests/test_trt_real.cc (test_trt_real, test_trt_real_11.4, test_trt10_real).
 */
import { execFile } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

import { runtimeInfo } from '../lib/index.js';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');
const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hrseg');
// Every runtime scripts/tensorrt/requirements.txt pins, with the library it holds.
const runtimes = {
  '11.1': { dir: join(cache, 'tensorrt-lean-11.1.0.106'), lib: 'libnvinfer_lean.so.11', version: '11.1.0' },
  '11.4': { dir: join(cache, 'tensorrt-lean-11.4.0.106'), lib: 'libnvinfer_lean.so.11', version: '11.4.0' },
  '10.16': { dir: join(cache, 'tensorrt-lean-10.16.1.11'), lib: 'libnvinfer_lean.so.10', version: '10.16.1' },
};
type Runtime = keyof typeof runtimes;
const installed = (r: Runtime) => existsSync(join(runtimes[r].dir, runtimes[r].lib));
const required = process.env.HRSEG_REQUIRE_TENSORRT_LIBS === '1';
const info = runtimeInfo();
const layerBuilt = info.tensorrt.backend !== null;
const layer10Built = existsSync(join(dirname(info.binary), 'libhrseg_trt10.so'));
const work = mkdtempSync(join(tmpdir(), 'hrseg-trt-real-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Sparse: 3 GiB that take no disk, past what fs.readFile or a Buffer can hold.
const plan = join(work, 'big.plan');
const fd = openSync(plan, 'w');
ftruncateSync(fd, 3 * 2 ** 30);
closeSync(fd);

let roots = 0;
/** A TENSORRT_ROOT whose lib/ holds libnvinfer.so.<major> → each runtime's real library. */
function tensorrtRoot(...use: Runtime[]): string {
  const dir = join(work, `tensorrt-${roots++}`);
  mkdirSync(join(dir, 'lib'), { recursive: true });
  for (const r of use) symlinkSync(join(runtimes[r].dir, runtimes[r].lib), join(dir, 'lib', `libnvinfer.so.${runtimes[r].version.split('.')[0]}`));
  return dir;
}

/** runtimeInfo().tensorrt and a plan opened by path, in a fresh process (a layer loads TensorRT once per process). */
async function stack(trtRoot: string, env: Record<string, string> = {}) {
  const script = `
    import { runtimeInfo, TrtEngine } from ${JSON.stringify(join(root, 'dist', 'index.js'))};
    const before = process.memoryUsage().arrayBuffers;
    const out = { info: runtimeInfo().tensorrt };
    try { await TrtEngine.load(process.env.PLAN, 'test/plan'); out.open = 'opened'; }
    catch (e) { out.open = { code: e.code, message: e.message }; }
    out.growth = process.memoryUsage().arrayBuffers - before;
    console.log(JSON.stringify(out));`;
  const r = await exec(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, TENSORRT_ROOT: trtRoot, PLAN: plan, LD_LIBRARY_PATH: '', HRSEG_TENSORRT_MAJOR: '', ...env },
  });
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

/** Why a case cannot run here, or '' when it can. */
function skipReason(use: Runtime[], needs10 = false): string {
  if (!layerBuilt) return 'skipped because this binary has no TensorRT layer: build with TENSORRT_ROOT';
  if (needs10 && !layer10Built) return 'skipped because this binary has no TensorRT 10 layer: build with TENSORRT10_ROOT';
  const missing = use.filter((r) => !installed(r));
  return missing.length ? `skipped without ${missing.map((r) => runtimes[r].dir).join(', ')}: bash scripts/tensorrt/install-libs.sh` : '';
}
const can = (use: Runtime[], needs10 = false) => skipReason(use, needs10) === '';
/** The case's title, with the reason it is skipped when it is. */
const title = (text: string, use: Runtime[], needs10 = false) => (can(use, needs10) ? text : `${text} (${skipReason(use, needs10)})`);

describe('Node over the real TensorRT libraries', () => {
  it.runIf(required)('every runtime CI requires is installed (HRSEG_REQUIRE_TENSORRT_LIBS=1)', () => {
    for (const r of Object.keys(runtimes) as Runtime[]) expect(installed(r), `${runtimes[r].dir}: run bash scripts/tensorrt/install-libs.sh`).toBe(true);
  });

  it.runIf(can(['11.1']))(title('TensorRT 11.1: runtimeInfo, and a 3 GiB plan opened by path without a JS buffer', ['11.1']), async () => {
    const trtRoot = tensorrtRoot('11.1');
    const out = await stack(trtRoot);
    expect(out.info.loadable).toBe(true);
    expect(out.info.version).toBe('11.1.0');
    expect(out.info.major).toBe(11);
    expect(out.info.backend).toMatch(/libhrseg_trt\.so$/);
    expect(out.info.selection).toMatch(/^libnvinfer\.so\.11 was found and fits, so hrseg uses the TensorRT 11 layer \(libhrseg_trt\.so\)/);
    expect(out.info.library).toBe(join(trtRoot, 'lib', 'libnvinfer.so.11'));
    expect(out.info.buildReason).toMatch(/createInferBuilder_INTERNAL/);
    expect(out.open.code).toBe('DEVICE_UNAVAILABLE');
    // Mapped by path (no Buffer: a 3 GiB readFile would have thrown first), then refused at the device.
    expect(out.open.message).toMatch(/no CUDA device/);
    expect(out.growth).toBeLessThan(64 * 2 ** 20);
  });

  it.runIf(can(['10.16'], true))(
    title('TensorRT 10.16.1 alone: the 11 layer finds no libnvinfer.so.11, the 10 layer loads, and a plan opens by path to the device check', ['10.16'], true),
    async () => {
      const trtRoot = tensorrtRoot('10.16');
      const out = await stack(trtRoot);
      expect(out.info.loadable).toBe(true);
      expect(out.info.version).toBe('10.16.1');
      expect(out.info.major).toBe(10);
      expect(out.info.backend).toMatch(/libhrseg_trt10\.so$/);
      expect(out.info.library).toBe(join(trtRoot, 'lib', 'libnvinfer.so.10'));
      expect(out.info.selection).toMatch(
        /^libnvinfer\.so\.10 was found and fits \(TensorRT 11: libnvinfer\.so\.11 \(TensorRT 11\) was not found.*\), so hrseg uses the TensorRT 10 layer \(libhrseg_trt10\.so\)/,
      );
      expect(out.info.buildReason).toMatch(/createInferBuilder_INTERNAL.*TensorRT 10/);
      expect(out.open.code).toBe('DEVICE_UNAVAILABLE');
      expect(out.open.message).toMatch(/no CUDA device/);
      expect(out.growth).toBeLessThan(64 * 2 ** 20);
    },
  );

  it.runIf(can(['11.4', '10.16'], true))(
    title(
      'TensorRT 11.4 and 10.16.1 side by side: 11 by default (a later 11.x than the headers), 10 when HRSEG_TENSORRT_MAJOR=10, 11 when =11',
      ['11.4', '10.16'],
      true,
    ),
    async () => {
      const trtRoot = tensorrtRoot('11.4', '10.16');
      const [auto, ten, eleven] = await Promise.all([
        stack(trtRoot),
        stack(trtRoot, { HRSEG_TENSORRT_MAJOR: '10' }),
        stack(trtRoot, { HRSEG_TENSORRT_MAJOR: '11' }),
      ]);
      expect([auto.info.version, auto.info.major]).toEqual(['11.4.0', 11]);
      expect(auto.info.selection).toMatch(/^libnvinfer\.so\.11 was found and fits, so hrseg uses the TensorRT 11 layer/);
      expect([ten.info.version, ten.info.major]).toEqual(['10.16.1', 10]);
      expect(ten.info.selection).toBe('HRSEG_TENSORRT_MAJOR=10 chose the TensorRT 10 layer (libhrseg_trt10.so)');
      expect([eleven.info.version, eleven.info.major]).toEqual(['11.4.0', 11]);
      expect(eleven.info.selection).toBe('HRSEG_TENSORRT_MAJOR=11 chose the TensorRT 11 layer (libhrseg_trt.so)');
      for (const out of [auto, ten, eleven]) expect(out.open.code).toBe('DEVICE_UNAVAILABLE');
    },
  );

  it.runIf(can(['10.16'], true))(
    title('HRSEG_TENSORRT_MAJOR=11 with only TensorRT 10 installed: not loadable, the 11 layer saying what it found', ['10.16'], true),
    async () => {
      const out = await stack(tensorrtRoot('10.16'), { HRSEG_TENSORRT_MAJOR: '11' });
      expect(out.info.loadable).toBe(false);
      expect(out.info.reason).toMatch(/^TensorRT 11: libnvinfer\.so\.11 \(TensorRT 11\) was not found/);
      expect(out.info.selection).toMatch(/^HRSEG_TENSORRT_MAJOR=11: TensorRT 11: /);
      expect(out.open.code).toBe('DEVICE_UNAVAILABLE');
    },
  );
});
