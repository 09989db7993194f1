/**
 * linux-arm64 (docs/arm64.md): the prebuild cross-compiled by scripts/arm64/build.sh, packed with
 * `npm pack` and installed for arm64 (sharp's and ONNX Runtime's arm64 binaries) into an empty
 * project, then run by Debian's arm64 Node.js under qemu-user, with no compiler on PATH: it loads
 * (NEON kernel, CUDA 13 flavour, why no GPU), `hrseg segment` finds the demo scene's red rectangle
 * exactly, and the cuda and tensorrt devices fail with DEVICE_UNAVAILABLE. A simulated CUDA 12
 * driver picks the CUDA 12 flavour, which loads against a libcudart.so.12 and, where there is none,
 * gives way to the CUDA 13 flavour and says why.
 *
 * Skipped, with the reason, where the prebuild or the emulator is missing (bash
 * scripts/arm64/build.sh builds both); CI sets HRSEG_REQUIRE_ARM64=1, which turns the skip into a
 * failure. The emulated part takes about two to three minutes of a 2-core machine.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { packageRoot } from '../lib/native.js';
import { demoPackage, demoScene, maskIoU } from './helpers/demo.js';

const prebuild = join(packageRoot, 'prebuilds', 'linux-arm64');
const arm64Root = process.env.HRSEG_ARM64_ROOT ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hrseg', 'arm64');
const qemu = join(arm64Root, 'qemu', 'usr', 'bin', 'qemu-aarch64');
const missing = [
  [join(prebuild, 'hrseg.glibc.node'), 'the linux-arm64 prebuild (bash scripts/arm64/build.sh)'],
  [qemu, 'qemu-user and the arm64 Node.js (bash scripts/arm64/install-toolchain.sh)'],
  [join(packageRoot, 'dist', 'index.js'), 'dist/ (npm run build)'],
]
  .filter(([path]) => !existsSync(path))
  .map(([, what]) => what);
const skip = missing.length > 0 ? `skipped: no ${missing.join(', no ')}` : '';
if (skip && process.env.HRSEG_REQUIRE_ARM64 === '1') throw new Error(`HRSEG_REQUIRE_ARM64=1 but the linux-arm64 tests cannot run: ${skip}`);
const hasCuda12 = existsSync(join(prebuild, 'cuda12', 'hrseg.glibc.node'));

let work: string;
let app: string;
let bin: string;
let model: string;
let image: string;

/** `node args…` as an arm64 machine runs it: Debian's arm64 Node under qemu, PATH holding only it and sh. */
function arm64Node(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(join(bin, 'node'), args, {
    cwd: app,
    env: { PATH: bin, HOME: process.env.HOME ?? '/root', HRSEG_ARM64_ROOT: arm64Root, ...env },
    encoding: 'utf8',
    timeout: 540_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function info(env: Record<string, string> = {}) {
  const r = arm64Node(['--input-type=module', '-e', "import { runtimeInfo } from 'hrseg'; console.log(JSON.stringify(runtimeInfo()))"], env);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

beforeAll(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'hrseg-arm64-'));
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
      cwd: packageRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  ) as { filename: string }[];
  const tarball = join(work, packed[0].filename);
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
  expect(files).toContain('package/prebuilds/linux-arm64/hrseg.glibc.node');
  expect(files).toContain('package/prebuilds/linux-arm64/probe/hrseg_probe.node');

  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  writeFileSync(join(app, '.npmrc'), 'onnxruntime-node-install=skip\n');
  // This machine's npm installs for arm64: sharp's @img/sharp-linux-arm64 and its libvips, ONNX
  // Runtime's tarball (which holds every platform's binary); no install script runs.
  execFileSync('npm', ['install', tarball, '--cpu=arm64', '--os=linux', '--libc=glibc', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: app,
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  expect(existsSync(join(app, 'node_modules', '@img', 'sharp-linux-arm64'))).toBe(true);

  // A PATH holding only the emulated node and sh: no cc, c++, cmake, python, nvcc.
  bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'node'), `#!/bin/sh\nexec sh ${join(packageRoot, 'scripts', 'arm64', 'node.sh')} "$@"\n`, { mode: 0o755 });
  symlinkSync('/bin/sh', join(bin, 'sh'));

  model = demoPackage();
  image = join(work, 'shapes.png');
  await sharp(demoScene().rgb, { raw: { width: 640, height: 480, channels: 3 } })
    .png()
    .toFile(image);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
  if (model) rmSync(dirname(model), { recursive: true, force: true });
});

describe.skipIf(!!skip)(`linux-arm64 under qemu-user${skip ? ` (${skip})` : ''}`, () => {
  it('loads the arm64 prebuild with no compiler on PATH: NEON kernel, CUDA 13 flavour, and why there is no GPU', () => {
    for (const tool of ['cc', 'gcc', 'c++', 'cmake', 'nvcc', 'python3'])
      expect(spawnSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: bin } }).status, `${tool} must not be on PATH`).not.toBe(0);
    const i = info();
    expect(i.binary).toBe(join(app, 'node_modules', 'hrseg', 'prebuilds', 'linux-arm64', 'hrseg.glibc.node'));
    expect(i.platform).toMatchObject({ name: 'linux-arm64' });
    expect(i.platform.note).toMatch(/emulation/);
    expect(i.cpuKernel).toBe('neon');
    expect(i.flavour.name).toBe('cuda13');
    expect(i.flavour.reason).toMatch(/no NVIDIA driver/);
    expect(i.build).toMatchObject({ cuda: true, cudaArchitectures: '87-real,90-real,110-real,90-virtual' });
    expect(i.cuda).toMatchObject({ available: false, runtimeVersion: '13.0', reason: 'no NVIDIA driver is installed' });
    expect(i.tensorrt.loadable).toBe(false);
    if (existsSync(join(prebuild, 'libhrseg_trt.so'))) expect(i.tensorrt.reason).toMatch(/libnvinfer\.so\.11/);
    const cjs = arm64Node(['-e', "console.log(require('hrseg').runtimeInfo().cpuKernel)"]);
    expect(cjs.status, cjs.stderr).toBe(0);
    expect(cjs.stdout.trim().split('\n').at(-1)).toBe('neon');
  }, 300_000);

  it("segments the demo scene's red rectangle exactly (hrseg segment, ONNX Runtime and the core on the CPU)", async () => {
    const out = join(work, 'mask.png');
    const cli = join(app, 'node_modules', 'hrseg', 'dist', 'cli.js');
    const r = arm64Node([cli, 'segment', image, 'the red shape', '--model', model, '--form', 'phrase', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/answer: It is \[SEG\]\./);
    expect(r.stdout).toMatch(/mask: 32000 of 640×480 pixels/);
    const { data } = await sharp(out).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    const mask = new Uint8Array(data.length).map((_, i) => (data[i] ? 1 : 0));
    expect(maskIoU(mask, demoScene().regions.find((x) => x.name === 'red')!.mask)).toBe(1);
  }, 600_000);

  it('refuses cuda and tensorrt with DEVICE_UNAVAILABLE, naming the reason', () => {
    const script = `import { createSegmenter } from 'hrseg';
      for (const device of ['cuda', 'tensorrt']) {
        try { await createSegmenter({ model: ${JSON.stringify(model)}, device }); console.log(JSON.stringify({ device, opened: true })); }
        catch (e) { console.log(JSON.stringify({ device, code: e.code, message: e.message })); }
      }`;
    const r = arm64Node(['--input-type=module', '-e', script]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ device: 'cuda', code: 'DEVICE_UNAVAILABLE' });
    expect(lines[0].message).toMatch(/no NVIDIA driver/);
    expect(lines[1]).toMatchObject({ device: 'tensorrt', code: 'DEVICE_UNAVAILABLE' });
    expect(lines[1].message).toMatch(/libnvinfer/);
  }, 300_000);

  it.skipIf(!hasCuda12)(
    `a CUDA 12 driver (simulated) gets the CUDA 12 flavour over the system's libcudart.so.12, or the CUDA 13 one and why without it${hasCuda12 ? '' : ' (skipped: no CUDA 12 flavour in the prebuild)'}`,
    () => {
      // Without a libcudart.so.12 on the library path: the CUDA 13 flavour, on the CPU, saying why.
      const without = info({ HRSEG_TEST_DRIVER_VERSION: '12060' });
      expect(without.flavour.name).toBe('cuda13');
      expect(without.flavour.reason).toMatch(/CUDA 12\.6.*libcudart\.so\.12.*the CUDA 13 flavour, on the CPU/);
      expect(without.binary).toMatch(/linux-arm64\/hrseg\.glibc\.node$/);
      // With one (the aarch64 runtime the build linked against, standing in for JetPack's).
      const lib = join(arm64Root, 'cuda-12.4', 'lib64');
      expect(readFileSync(join(lib, 'libcudart.so.12')).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
      const withLib = info({ HRSEG_TEST_DRIVER_VERSION: '12060', LD_LIBRARY_PATH: lib });
      expect(withLib.flavour.name).toBe('cuda12');
      expect(withLib.binary).toMatch(/linux-arm64\/cuda12\/hrseg\.glibc\.node$/);
      expect(withLib.cuda.runtimeVersion).toBe('12.4');
      expect(withLib.cuda.available).toBe(false);
      expect(withLib.cpuKernel).toBe('neon');
    },
    300_000,
  );
});
