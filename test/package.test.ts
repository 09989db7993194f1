/**
 * What a user gets from `npm install hrseg`: the packed tarball, installed into an empty project
 * on a PATH with no compiler, CMake or Python, must load its prebuilt binary and answer runtimeInfo().
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native.js';

const platformDir = `${process.platform}-${process.arch}`;
let work: string;
let app: string;
let tarball: string;
let bin: string;

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd, env: { PATH: bin, HOME: process.env.HOME ?? '/root', ...env }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (!existsSync(join(packageRoot, 'prebuilds', platformDir)) || !existsSync(join(packageRoot, 'dist', 'index.js'))) {
    throw new Error('prebuilds/ or dist/ is missing: run `npm run build` (it runs the prebuild step) first');
  }
  work = mkdtempSync(join(tmpdir(), 'hrseg-pack-'));
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
      cwd: packageRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  ) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, packed[0].filename);

  // A PATH holding only node, npm and sh (npm runs dependencies' scripts with it):
  // no cc, c++, cmake, make, python or nvcc.
  bin = join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  const npmCli = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  symlinkSync(npmCli, join(bin, 'npm'));

  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  writeFileSync(join(app, '.npmrc'), 'onnxruntime-node-install=skip\n');
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the published package', () => {
  it('holds dist/ and prebuilds/, no sources, and no install script', () => {
    const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/index.d.ts');
    for (const f of ['index.html', 'app.js', 'style.css']) expect(files).toContain(`package/assets/serve/${f}`);
    expect(files.some((f) => f.startsWith(`package/prebuilds/${platformDir}/`) && f.endsWith('.node'))).toBe(true);
    expect(files.some((f) => f.startsWith('package/native/') || f.startsWith('package/lib/'))).toBe(false);
    // The TensorRT layer ships beside the binary whenever the build made it (CI always does).
    if (existsSync(join(packageRoot, 'prebuilds', platformDir, 'libhrseg_trt.so')))
      for (const lib of ['libhrseg_trt.so', 'libhrseg_trt_plugins.so']) expect(files).toContain(`package/prebuilds/${platformDir}/${lib}`);
    // The TensorRT 10 layer too, when the build had 10.x headers (TENSORRT10_ROOT).
    if (existsSync(join(packageRoot, 'prebuilds', platformDir, 'libhrseg_trt10.so')))
      for (const lib of ['libhrseg_trt10.so', 'libhrseg_trt10_plugins.so']) expect(files).toContain(`package/prebuilds/${platformDir}/${lib}`);
    // The driver probe and the CUDA 12 flavour (docs/cuda.md "Two CUDA flavours") in their subfolders.
    for (const f of ['probe/hrseg_probe.node', 'cuda12/hrseg.glibc.node'])
      if (existsSync(join(packageRoot, 'prebuilds', platformDir, f))) expect(files).toContain(`package/prebuilds/${platformDir}/${f}`);
    const manifest = JSON.parse(execFileSync('tar', ['xzf', tarball, '-O', 'package/package.json'], { encoding: 'utf8' }));
    for (const hook of ['preinstall', 'install', 'postinstall']) expect(manifest.scripts?.[hook]).toBeUndefined();
    expect(manifest.gypfile).toBeUndefined();
  });

  it('installs with no compiler on PATH and loads the prebuilt binary (import and require)', () => {
    for (const tool of ['cc', 'gcc', 'c++', 'g++', 'cmake', 'make', 'nvcc', 'python3', 'node-gyp']) {
      expect(run('sh', ['-c', `command -v ${tool}`], app).status, `${tool} must not be on PATH`).not.toBe(0);
    }
    const install = run('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], app);
    expect(install.status, install.stderr).toBe(0);
    expect(install.stderr + install.stdout).not.toMatch(/gyp|cmake-js|ERR!/i);

    const esm = run('node', ['--input-type=module', '-e', "import { runtimeInfo } from 'hrseg'; console.log(JSON.stringify(runtimeInfo()))"], app);
    expect(esm.status, esm.stderr).toBe(0);
    const info = JSON.parse(esm.stdout);
    expect(info.version).toBe(JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version);
    expect(info.binary).toContain(join('node_modules', 'hrseg', 'prebuilds', platformDir));
    expect(typeof info.cuda.available).toBe('boolean');
    if (existsSync(join(packageRoot, 'prebuilds', platformDir, 'libhrseg_trt.so'))) {
      // The installed binary finds its TensorRT layer without a compiler and says what TensorRT lacks.
      expect(info.tensorrt.backend).toContain(join('node_modules', 'hrseg', 'prebuilds', platformDir, 'libhrseg_trt.so'));
      if (!info.tensorrt.loadable) expect(info.tensorrt.reason).toMatch(/libnvinfer\.so\.11/);
    }

    const cjs = run('node', ['-e', "const h = require('hrseg'); console.log(h.runtimeInfo().napiVersion)"], app);
    expect(cjs.status, cjs.stderr).toBe(0);
    expect(cjs.stdout.trim()).toBe('8');
  });

  const cuda12Built = existsSync(join(packageRoot, 'prebuilds', platformDir, 'cuda12', 'hrseg.glibc.node'));
  it.skipIf(!cuda12Built)(
    `loads its CUDA 12 flavour for a driver older than CUDA 13.0 (simulated), with no compiler on PATH${cuda12Built ? '' : ' (skipped: the CUDA 12 flavour is not built)'}`,
    () => {
      const script = "import { runtimeInfo } from 'hrseg'; console.log(JSON.stringify(runtimeInfo()))";
      const r = run('node', ['--input-type=module', '-e', script], app, { HRSEG_TEST_DRIVER_VERSION: '12040' });
      expect(r.status, r.stderr).toBe(0);
      const info = JSON.parse(r.stdout);
      expect(info.binary).toContain(join('node_modules', 'hrseg', 'prebuilds', platformDir, 'cuda12', 'hrseg.glibc.node'));
      expect(info.flavour.name).toBe('cuda12');
      expect(info.cuda.runtimeVersion).toBe('12.4');
    },
  );

  it('says what it searched and how to fix it when no binary fits', () => {
    rmSync(join(app, 'node_modules', 'hrseg', 'prebuilds'), { recursive: true, force: true });
    const r = run(
      'node',
      ['--input-type=module', '-e', "import { runtimeInfo } from 'hrseg'; try { runtimeInfo() } catch (e) { console.log(e.code + ' ' + e.message) }"],
      app,
    );
    expect(r.stdout).toMatch(/^NATIVE_BINARY_NOT_FOUND /);
    expect(r.stdout).toMatch(/prebuilds\/linux-x64/);
    expect(r.stdout).toMatch(/npm run build/);
  });
});
