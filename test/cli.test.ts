import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';

import { demoPackage, demoScene, maskIoU } from './helpers/demo.js';

const exec = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
const work = mkdtempSync(join(tmpdir(), 'hrseg-cli-'));
const model = demoPackage();
const scene = demoScene();
const image = join(work, 'shapes.png');
writeFileSync(
  image,
  await sharp(scene.rgb, { raw: { width: 640, height: 480, channels: 3 } })
    .png()
    .toBuffer(),
);
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(dirname(model), { recursive: true, force: true });
});

async function hrseg(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [cli, ...args]);
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('hrseg segment', () => {
  it('writes the mask and the overlay, prints the answer, exits 0', async () => {
    const out = join(work, 'mask.png'),
      overlay = join(work, 'overlay.png');
    const r = await hrseg('segment', image, 'the red shape', '--model', model, '--form', 'phrase', '--out', out, '--overlay', overlay);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/answer: It is \[SEG\]\./);
    expect(r.stdout).toMatch(/mask: 32000 of 640×480 pixels/);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([640, 480, 1]);
    const { data } = await sharp(out).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    const mask = new Uint8Array(data.length).map((_, i) => (data[i] ? 1 : 0));
    expect(maskIoU(mask, scene.regions.find((x) => x.name === 'red')!.mask)).toBe(1);
    const o = await sharp(overlay).metadata();
    expect([o.width, o.height, o.channels]).toEqual([640, 480, 3]);
  });

  it('--json gives the result as JSON', async () => {
    const r = await hrseg('segment', image, 'Which shape is green?', '--model', model, '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ width: 640, height: 480, answer: 'It is [SEG].', area: 33600, proposals: 5 });
    expect(j.segments[0].chosen).toHaveLength(1);
    expect(j.timings.total).toBeGreaterThan(0);
  });

  it('usage errors exit 2', async () => {
    for (const args of [
      [],
      ['segment', image],
      ['segment', image, 'x'],
      ['fly'],
      ['segment', image, 'x', '--model', model, '--device', 'gpu'],
      ['segment', image, 'x', '--bogus'],
    ]) {
      const r = await hrseg(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr + r.stdout).toMatch(/usage:/);
    }
  });

  it('--help, -h and help <command> print the usage and exit 0, for hrseg and every command', async () => {
    const top = await hrseg('--help');
    expect(top.code, top.stderr).toBe(0);
    const commands = ['segment', 'eval', 'convert', 'build-engines', 'export-triton', 'serve', 'info'];
    for (const c of commands) expect(top.stdout).toContain(`  ${c}`);
    expect((await hrseg('-h')).stdout).toBe(top.stdout);
    for (const c of commands)
      for (const args of [
        [c, '--help'],
        [c, '-h'],
        ['help', c],
        [c, '--model', 'x', '--help'],
      ]) {
        const r = await hrseg(...args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
        expect(r.stdout, args.join(' ')).toMatch(new RegExp(`^usage: hrseg ${c} `));
        expect(r.stdout, args.join(' ')).toMatch(/-h, --help/);
      }
    // A command's usage error shows that command's usage, not the whole list.
    const bad = await hrseg('serve', '--bogus');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/usage: hrseg serve /);
  });

  it('bad input exits 1 with the error code, and leaves no output file', async () => {
    const out = join(work, 'never.png');
    const corrupt = join(work, 'corrupt.png');
    writeFileSync(corrupt, 'this is not a png');
    const broken = demoPackage();
    writeFileSync(join(broken, 'hrseg.json'), '{ broken');
    const cases: [string[], RegExp][] = [
      [['segment', corrupt, 'the red shape', '--model', model, '--out', out], /error \[INVALID_IMAGE\]/],
      [['segment', join(work, 'missing.png'), 'the red shape', '--model', model, '--out', out], /error \[IMAGE_NOT_FOUND\]/],
      [['segment', image, 'the red shape', '--model', join(work, 'no-model'), '--out', out], /error \[MODEL_FILE\]: model package not found/],
      [['segment', image, 'the red shape', '--model', broken, '--out', out], /error \[MODEL_FILE\].*hrseg\.json is not valid JSON/],
      [['segment', image, '   ', '--model', model, '--out', out], /error \[INVALID_ARGUMENT\]: the instruction is empty/],
      [['segment', image, 'the red shape', '--model', model, '--device', 'cuda', '--out', out], /error \[DEVICE_UNAVAILABLE\]/],
    ];
    for (const [args, message] of cases) {
      const r = await hrseg(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
    expect(readdirSync(work).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    rmSync(dirname(broken), { recursive: true, force: true });
  });
});

describe('hrseg segment, interrupted', () => {
  it('Ctrl-C exits 130 and leaves no output file', async () => {
    const { spawn } = await import('node:child_process');
    const out = join(work, 'interrupted.png');
    const child = spawn(process.execPath, [cli, 'segment', image, 'the red shape', '--model', model, '--out', out, '--progress']);
    let stderr = '';
    let sent = false;
    const code = await new Promise<number | null>((done) => {
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (!sent && stderr.includes('proposals ')) {
          sent = true;
          child.kill('SIGINT'); // the work is under way
        }
      });
      child.on('exit', (c) => done(c));
    });
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('hrseg info', () => {
  it('prints the runtime and the model summary', async () => {
    const r = await hrseg('info', '--model', model);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^hrseg \d+\.\d+\.\d+/);
    expect(r.stdout).toMatch(/model: hrseg-demo .*built for testing, not trained/);
    const j = JSON.parse((await hrseg('info', '--json')).stdout);
    expect(j.runtime.cpuThreads).toBeGreaterThan(0);
    // Where it runs and what the CPU code uses, as runtimeInfo() says.
    expect(r.stdout).toContain(`platform: ${j.runtime.platform.name}`);
    expect(r.stdout).toContain(`kernel ${j.runtime.cpuKernel}, instruction sets: ${j.runtime.cpuFeatures || 'none beyond the baseline'}`);
  });

  it('lists every device (engine provider): the CPU always available, the GPU ones with why not here', async () => {
    const r = await hrseg('info', '--model', model);
    expect(r.stdout).toMatch(/^device cpu: available$/m);
    const j = JSON.parse((await hrseg('info', '--model', model, '--json')).stdout) as { devices: { name: string; unavailable: string | null }[] };
    expect(j.devices.map((d) => d.name)).toEqual(['tensorrt', 'cuda', 'triton', 'cpu']);
    expect(j.devices.find((d) => d.name === 'cpu')!.unavailable).toBeNull();
    // No GPU on this machine: the GPU providers say why, in the same words createSegmenter would.
    for (const d of j.devices.filter((d) => d.name === 'tensorrt' || d.name === 'cuda')) {
      if (d.unavailable === null) continue; // a machine with a GPU
      expect(r.stdout).toContain(`device ${d.name}: not available (${d.unavailable})`);
      const s = await hrseg('segment', image, 'x', '--model', model, '--device', d.name);
      expect(s.code).toBe(1);
      expect(s.stderr).toMatch(/DEVICE_UNAVAILABLE/);
      expect(s.stderr).toContain(d.unavailable);
    }
  });

  it('prints the preset and every resolved value with where it came from', async () => {
    const twin = demoPackage('llm-seg');
    try {
      const r = await hrseg('info', '--model', twin);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/preset: llm-seg/);
      expect(r.stdout).toMatch(/DINOv2 one view at 896, HRP off, HRE L 0/);
      expect(r.stdout).toMatch(/selection: iop-threshold, k 10, τ 0\.5, fallback none/);
      expect(r.stdout).toMatch(/head\.hrp\s+false\s+preset llm-seg/);
      expect(r.stdout).toMatch(/head\.featureDim\s+16\s+hrseg\.json/);
      expect(r.stdout).toMatch(/head\.selection\.k\s+10\s+default/);
      const j = JSON.parse((await hrseg('info', '--model', twin, '--json')).stdout);
      expect(j.model.preset).toBe('llm-seg');
      expect(j.model.settings['views.dino.size']).toEqual({ value: 896, source: 'preset llm-seg' });
    } finally {
      rmSync(dirname(twin), { recursive: true, force: true });
    }
  });
});
