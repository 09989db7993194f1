/**
 * The TensorRT layer without libnvinfer (no machine of this project has it): it is built and
 * shipped, it reports why TensorRT cannot run, every entry point fails with a typed error that
 * says what to do, and the engine folder's sidecar logic catches every mismatch before a plan is
 * opened. What only runs against libnvinfer is listed in the README ("TensorRT").
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, cpSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Head, HrsegError, MaskPostProcessor, buildEngines, createSegmenter, engineSpecs, readPackage, runtimeInfo, tensor } from '../lib/index.js';
import { native } from '../lib/native.js';
import { engineDirName, fileSignature, readSidecar, sidecarDifferences, type Sidecar } from '../lib/trt/sidecar.js';
import { demoPackage } from './helpers/demo.js';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');
const info = runtimeInfo();
const layerBuilt = info.tensorrt.backend !== null;
const loadable = info.tensorrt.loadable;

describe('the TensorRT layer is built and shipped', () => {
  it.runIf(process.env.HRSEG_REQUIRE_TENSORRT === '1')('CI built native/trt against the TensorRT headers (required when HRSEG_REQUIRE_TENSORRT=1)', () => {
    expect(info.build.tensorrtHeaders).toBe(true);
    expect(info.tensorrt.backend).toMatch(/libhrseg_trt\.so$/);
    expect(existsSync(join(root, 'build', 'Release', 'libhrseg_trt.so'))).toBe(true);
    expect(existsSync(join(root, 'build', 'Release', 'libhrseg_trt_plugins.so'))).toBe(true);
    expect(existsSync(join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'libhrseg_trt.so'))).toBe(true);
    expect(existsSync(join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'libhrseg_trt_plugins.so'))).toBe(true);
  });

  it.runIf(process.env.HRSEG_REQUIRE_TENSORRT10 === '1')(
    'CI built the TensorRT 10 layer against 10.x headers too (TENSORRT10_ROOT; required when HRSEG_REQUIRE_TENSORRT10=1)',
    () => {
      for (const lib of ['libhrseg_trt10.so', 'libhrseg_trt10_plugins.so']) {
        expect(existsSync(join(root, 'build', 'Release', lib)), lib).toBe(true);
        expect(existsSync(join(root, 'prebuilds', `${process.platform}-${process.arch}`, lib)), lib).toBe(true);
      }
    },
  );

  it('runtimeInfo says why TensorRT cannot run, naming the library, and which layer it tried', () => {
    if (loadable) {
      expect(info.tensorrt.version).toMatch(/^1[01]\./);
      expect(info.tensorrt.major).toBe(Number(info.tensorrt.version!.split('.')[0]));
    } else {
      expect(info.tensorrt.reason).toMatch(layerBuilt ? /libnvinfer\.so\.11/ : /without the TensorRT layer/);
      expect(info.tensorrt.major).toBeNull();
      expect(info.tensorrt.selection).toContain(info.tensorrt.reason!);
    }
  });

  // A fresh process per case: the layer tries TensorRT once per process until it loads.
  const tensorrtInfo = async (env: Record<string, string>) => {
    const addon = JSON.stringify(info.binary); // the binary this run loaded (prebuilds/ after npm run build)
    const r = await exec(process.execPath, ['-e', `console.log(JSON.stringify(require(${addon}).runtimeInfo().tensorrt))`], {
      cwd: root,
      env: { ...process.env, LD_LIBRARY_PATH: '', ...env },
    });
    return JSON.parse(r.stdout) as typeof info.tensorrt;
  };

  it.runIf(layerBuilt && !loadable)('HRSEG_TENSORRT_MAJOR other than 10 or 11 is refused with what it must be', async () => {
    const t = await tensorrtInfo({ HRSEG_TENSORRT_MAJOR: '12' });
    expect(t.loadable).toBe(false);
    expect(t.reason).toBe("HRSEG_TENSORRT_MAJOR must be 10 or 11 (the TensorRT major whose layer to use), got '12'");
  });

  it.runIf(layerBuilt && !loadable && existsSync(join(root, 'build', 'Release', 'libhrseg_trt10.so')))(
    'HRSEG_TENSORRT_MAJOR=10 asks the TensorRT 10 layer only, which refuses a libnvinfer.so.10 that is TensorRT 11.1 (a fake)',
    async () => {
      const fake = join(root, 'build', 'fake-tensorrt10');
      expect(existsSync(join(fake, 'lib', 'libnvinfer.so.10')), 'ctest builds the fake library').toBe(true);
      const t = await tensorrtInfo({ TENSORRT_ROOT: fake, HRSEG_TENSORRT_MAJOR: '10' });
      expect(t.loadable).toBe(false);
      expect(t.backend).toMatch(/libhrseg_trt10\.so$/);
      expect(t.reason).toMatch(
        /^TensorRT 10: .*libnvinfer\.so\.10 is TensorRT 11\.1\.0; this layer of hrseg \(libhrseg_trt10\.so, built with TensorRT 10\.\d+ headers\) needs TensorRT 10 \(10\.3 or a later 10\.x\); hrseg's TensorRT 11 layer is libhrseg_trt\.so$/,
      );
      expect(t.reason).not.toMatch(/TensorRT 11:/);
      expect(t.selection).toMatch(/^HRSEG_TENSORRT_MAJOR=10: /);
    },
  );

  it.runIf(layerBuilt && !loadable)(
    'a libnvinfer of another major version is refused by name and version (TENSORRT_ROOT at a fake TensorRT 10.3)',
    async () => {
      const fake = join(root, 'build', 'fake-tensorrt');
      expect(existsSync(join(fake, 'lib', 'libnvinfer.so.11')), 'ctest builds the fake library').toBe(true);
      const t = await tensorrtInfo({ TENSORRT_ROOT: fake });
      expect(t.reason).toMatch(/is TensorRT 10\.3\.\d+; this layer of hrseg \(libhrseg_trt\.so, built with TensorRT 11\.\d+ headers\) needs TensorRT 11/);
    },
  );
});

describe.runIf(!loadable)('without TensorRT every entry point fails with a typed error', () => {
  it("createSegmenter({ device: 'tensorrt' }) → DEVICE_UNAVAILABLE naming libnvinfer", async () => {
    const e = await createSegmenter({ model: demoPackage(), device: 'tensorrt' }).catch((x) => x);
    expect(e).toBeInstanceOf(HrsegError);
    expect(e.code).toBe('DEVICE_UNAVAILABLE');
    expect(e.message).toMatch(layerBuilt ? /libnvinfer\.so\.11.*TENSORRT_ROOT/ : /TensorRT layer/);
  });

  it("device 'auto' falls back and says why", async () => {
    const s = await createSegmenter({ model: demoPackage(), device: 'auto' });
    expect(s.device).not.toBe('tensorrt');
    expect(s.deviceReason.length).toBeGreaterThan(0);
    await s.dispose();
  });

  it('buildEngines → DEVICE_UNAVAILABLE before writing anything', async () => {
    const e = await buildEngines({ model: demoPackage() }).catch((x) => x);
    expect(e.code).toBe('DEVICE_UNAVAILABLE');
    expect(e.message).toMatch(/TensorRT is not available/);
    expect(existsSync(join(demoPackage(), 'engines'))).toBe(false);
  });

  it('hrseg build-engines exits 1 with the reason, and 2 on bad usage', async () => {
    const cli = join(root, 'dist', 'cli.js');
    const r = await exec(process.execPath, [cli, 'build-engines', '--model', demoPackage()]).catch((x) => x);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/DEVICE_UNAVAILABLE|TensorRT is not available/);
    const u = await exec(process.execPath, [cli, 'build-engines', '--model', demoPackage(), '--precision', 'int4']).catch((x) => x);
    expect(u.code).toBe(2);
  });

  it.runIf(layerBuilt)('the native engine entry points refuse without TensorRT', async () => {
    const e = await native()
      .trtOpen('/tmp/x.plan', 0)
      .catch((x) => x);
    expect(e.hrsegCode).toBe('DEVICE_UNAVAILABLE');
    const b = await native()
      .trtBuild({ onnx: 'a.onnx', plan: 'a.plan', device: 0, profiles: [] })
      .catch((x) => x);
    expect(b.hrsegCode).toBe('DEVICE_UNAVAILABLE');
    expect(() => native().trtRunDevice({}, [])).toThrow(/not a TensorRT engine handle/);
    expect(() => native().trtDeviceAlloc(1024, 0)).toThrow(/TensorRT is not available/);
    expect(() => native().trtToHost({ dtype: 'float32', dims: [2], device: {} })).toThrow(/not a device buffer/);
    expect(() => native().trtRelease({ device: {} })).not.toThrow();
  });

  it('the CPU head refuses device tokens instead of reading a device pointer', async () => {
    const pkg = await readPackage(demoPackage());
    const head = await Head.load(pkg.files.head, pkg.head);
    const e = await head
      .imageStep({ deviceTokens: { dtype: 'float32', dims: [5, 4, 4], device: {} }, proposals: tensor('uint8', [1, 4, 4], new Uint8Array(16)) })
      .catch((x) => x);
    expect(e).toBeInstanceOf(HrsegError);
    expect(e.message).toMatch(/need the GPU head|without CUDA/);
    head.dispose();
  });

  it('the CPU mask generator refuses device logits instead of reading a device pointer', async () => {
    const post = new MaskPostProcessor({}, { low: 4, frame: 16, height: 16, width: 16 });
    const logits = { dtype: 'float32', dims: [1, 3, 4, 4], device: {} };
    const e = await post.addBatch(logits, tensor('float32', [1, 3], new Float32Array(3)), tensor('float32', [1, 2], new Float32Array(2))).catch((x) => x);
    expect(e).toBeInstanceOf(HrsegError);
    expect(e.message).toMatch(/not a device buffer|device logits need the CUDA mask generator/);
  });
});

describe('engine specs for a package', () => {
  it('cover every component with profiles from the package values', async () => {
    const pkg = await readPackage(demoPackage());
    const specs = await engineSpecs(pkg, { context: 256 });
    const byName = Object.fromEntries(specs.map((s) => [s.component, s]));
    expect(Object.keys(byName)).toEqual(['sam/encoder', 'sam/decoder', 'dino/encoder', 'vlm/vision', 'vlm/decoder', 'head/image', 'head/instruction']);
    const B = pkg.proposals.pointsPerBatch;
    expect(byName['sam/decoder'].profiles[0][1]).toEqual({ name: 'point_coords', min: [1, 1, 2], opt: [B, 1, 2], max: [B, 1, 2] });
    const views = pkg.head.hrp ? 1 + pkg.head.magnification ** 2 : 1;
    expect(byName['dino/encoder'].profiles[0][0].max[0]).toBe(views);
    // Decode first (the runner takes the first profile that admits a call), then extend.
    const [decode, extend] = byName['vlm/decoder'].profiles;
    expect(decode.find((p) => p.name === 'inputs_embeds')!.max).toEqual([1, 1, pkg.head.hiddenSize]);
    expect(decode.find((p) => p.name === 'past.0.key')!.min[2]).toBe(1);
    expect(decode.find((p) => p.name === 'past.0.key')!.max[2]).toBe(255);
    expect(extend.find((p) => p.name === 'inputs_embeds')!.max).toEqual([1, 256, pkg.head.hiddenSize]);
    // An instruction (several tokens) over the image prefix (a non-empty cache) fits the extend profile.
    const past = extend.find((p) => p.name === 'past.0.key')!;
    expect([past.min[2], past.max[2]]).toEqual([0, 255]);
    expect(byName['head/image'].profiles[0].map((p) => p.name)).toEqual(pkg.head.hrp ? ['fg', 'fl', 'masks'] : ['fg', 'masks']);
  });
});

describe('engine sidecars: a mismatch is caught before any plan is opened', () => {
  let dir: string, pkgDir: string, sidecar: Sidecar;
  const target = { gpu: { name: 'NVIDIA H200', computeCapability: '9.0' }, tensorrt: '11.1.0', precision: 'fp16' as const, hrseg: '0.1.0' };
  beforeAll(async () => {
    pkgDir = mkdtempSync(join(tmpdir(), 'hrseg-sidecar-'));
    cpSync(join(demoPackage(), 'sam'), join(pkgDir, 'sam'), { recursive: true });
    dir = join(pkgDir, 'engines', engineDirName(target));
    cpSync(join(pkgDir, 'sam'), dir, { recursive: true }); // any bytes stand in for plans
    writeFileSync(join(dir, 'sam-encoder.plan'), 'plan bytes');
    sidecar = {
      version: 1,
      ...target,
      builtAt: 'now',
      engines: {
        'sam/encoder': {
          plan: 'sam-encoder.plan',
          planBytes: 10,
          onnx: 'sam/encoder.onnx',
          source: await fileSignature(join(pkgDir, 'sam', 'encoder.onnx')),
          profiles: [],
          buildSeconds: 1,
        },
      },
    };
  });
  afterAll(() => rmSync(pkgDir, { recursive: true, force: true }));

  it('names the folder for GPU, compute capability, TensorRT and precision', () => {
    expect(engineDirName(target)).toBe('nvidia-h200-sm90-trt11.1.0-fp16');
  });

  it('matches when nothing changed', async () => {
    expect(await sidecarDifferences(dir, sidecar, target, pkgDir, ['sam/encoder'])).toEqual([]);
  });

  it('names each field that differs', async () => {
    const cases: [Partial<typeof target>, RegExp][] = [
      [{ gpu: { name: 'NVIDIA A100', computeCapability: '9.0' } }, /GPU: built for NVIDIA H200, this is NVIDIA A100/],
      [{ gpu: { name: 'NVIDIA H200', computeCapability: '8.0' } }, /compute capability: built for 9.0, this GPU is 8.0/],
      [{ tensorrt: '11.2.0' }, /TensorRT: built with 11.1.0, this machine has 11.2.0/],
      // Built with the 11 layer, opened where the 10 layer runs (and the reverse below).
      [{ tensorrt: '10.16.1' }, /TensorRT: built with 11.1.0, this machine has 10.16.1/],
      [{ precision: 'bf16' as never }, /precision: built as fp16, asked for bf16/],
      [{ hrseg: '0.2.0' }, /hrseg: built by 0.1.0, this is 0.2.0/],
    ];
    for (const [change, message] of cases) {
      const diff = await sidecarDifferences(dir, sidecar, { ...target, ...change }, pkgDir, ['sam/encoder']);
      expect(diff).toHaveLength(1);
      expect(diff[0]).toMatch(message);
    }
  });

  it('an engine folder built with TensorRT 10 is refused under TensorRT 11, and the reverse: another folder name, and the sidecar names both versions', async () => {
    const ten = { ...target, tensorrt: '10.16.1' };
    expect(engineDirName(ten)).toBe('nvidia-h200-sm90-trt10.16.1-fp16');
    expect(engineDirName(ten)).not.toBe(engineDirName(target));
    const diff = await sidecarDifferences(dir, { ...sidecar, tensorrt: '10.16.1' }, target, pkgDir, ['sam/encoder']);
    expect(diff).toEqual(['TensorRT: built with 10.16.1, this machine has 11.1.0']);
  });

  it('catches a missing engine, a truncated plan and a changed ONNX source', async () => {
    expect(await sidecarDifferences(dir, sidecar, target, pkgDir, ['sam/encoder', 'dino/encoder'])).toEqual(['dino/encoder: no engine was built']);
    writeFileSync(join(dir, 'sam-encoder.plan'), 'plan');
    expect((await sidecarDifferences(dir, sidecar, target, pkgDir, ['sam/encoder']))[0]).toMatch(/has 4 bytes, the build wrote 10/);
    rmSync(join(dir, 'sam-encoder.plan'));
    expect((await sidecarDifferences(dir, sidecar, target, pkgDir, ['sam/encoder']))[0]).toMatch(/sam-encoder\.plan is missing/);
    writeFileSync(join(dir, 'sam-encoder.plan'), 'plan bytes');
    // Touched but identical: the hash decides, and it still matches.
    const onnx = join(pkgDir, 'sam', 'encoder.onnx');
    utimesSync(onnx, new Date(), new Date(Date.now() + 5000));
    expect(await sidecarDifferences(dir, sidecar, target, pkgDir, ['sam/encoder'])).toEqual([]);
    writeFileSync(onnx, 'another model of a different size');
    expect((await sidecarDifferences(dir, sidecar, target, pkgDir, ['sam/encoder']))[0]).toMatch(/sam\/encoder\.onnx changed since the engine was built/);
  });

  it("hrseg info lists a package's engine folders with what they were built for, and why TensorRT is unavailable", async () => {
    const copy = mkdtempSync(join(tmpdir(), 'hrseg-info-'));
    cpSync(demoPackage(), copy, { recursive: true });
    const at = join(copy, 'engines', engineDirName(target));
    cpSync(dir, at, { recursive: true });
    writeFileSync(join(at, 'engines.json'), JSON.stringify(sidecar));
    const r = await exec(process.execPath, [join(root, 'dist', 'cli.js'), 'info', '--model', copy]);
    expect(r.stdout).toContain(`engines ${engineDirName(target)}: sam/encoder (NVIDIA H200, TensorRT 11.1.0, fp16, now)`);
    if (!loadable) expect(r.stdout).toMatch(/tensorrt: not available \(.+\)/);
    rmSync(copy, { recursive: true, force: true });
  });

  it('a corrupt, foreign or newer sidecar is ENGINE_MISMATCH with the rebuild command; a missing one is undefined', async () => {
    const rebuild = 'hrseg build-engines --model m --precision fp16';
    const at = mkdtempSync(join(tmpdir(), 'hrseg-sidecar-'));
    expect(await readSidecar(at, rebuild)).toBeUndefined();
    for (const [text, why] of [
      ['{"version": 1, "gpu"', /not valid JSON/],
      ['{"hello": 1}', /not an hrseg engine sidecar/],
      [JSON.stringify({ ...sidecar, version: 99 }), /newer hrseg/],
    ] as const) {
      writeFileSync(join(at, 'engines.json'), text);
      const e = await readSidecar(at, rebuild).catch((x) => x);
      expect(e.code).toBe('ENGINE_MISMATCH');
      expect(e.message).toMatch(why);
      expect(e.message).toContain(rebuild);
    }
    writeFileSync(join(at, 'engines.json'), JSON.stringify(sidecar));
    expect((await readSidecar(at, rebuild))?.tensorrt).toBe('11.1.0');
    rmSync(at, { recursive: true, force: true });
  });
});
