import { rmSync } from 'node:fs';
import { dirname } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { HrsegError } from '../lib/errors.js';
import type { AttachOptions, EngineProvider } from '../lib/engines/provider.js';
import { onnxSource } from '../lib/engines/providers/onnx-runtime.js';
import { engineProviders, registerProvider } from '../lib/engines/registry.js';
import { selectEngineSource } from '../lib/engines/select.js';
import { readPackage } from '../lib/package/manifest.js';
import { createSegmenter } from '../lib/segmenter.js';
import { demoPackage, demoScene, maskIoU } from './helpers/demo.js';

const dirs = { hrseg: demoPackage(), lisa: demoPackage('lisa') };
const scene = demoScene();
const raw = { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 as const };
const red = scene.regions.find((r) => r.name === 'red')!.mask;
afterAll(() => {
  for (const d of Object.values(dirs)) rmSync(dirname(d), { recursive: true, force: true });
});

/** A provider of our own, as a remote one would be added: ONNX Runtime underneath, counting what it opens. */
function countingProvider(name: string, auto: boolean, opened: string[], attached: AttachOptions[] = []): EngineProvider {
  return {
    name,
    summary: 'counts the components it opens',
    auto,
    unavailable: () => undefined,
    missing: async () => undefined,
    async attach(pkg, options) {
      if (options) attached.push(options);
      const inner = onnxSource(pkg, 'cpu');
      return {
        ...inner,
        device: name,
        open(component, options) {
          opened.push(component);
          return inner.open(component, options);
        },
      };
    },
  };
}

describe('engine providers', () => {
  it("'auto' picks the first provider this machine runs, naming each it passed over and why", async () => {
    const pkg = await readPackage(dirs.hrseg);
    const { source, reason } = await selectEngineSource('auto', pkg);
    const skipped = engineProviders().filter((p) => p.auto && p.unavailable() !== undefined);
    // Without a GPU that is the CPU, with tensorrt and cuda passed over in that order.
    if (source.device === 'cpu') expect(skipped.map((p) => p.name)).toEqual(['tensorrt', 'cuda']);
    for (const p of skipped) expect(reason).toContain(`${p.name}: ${p.unavailable()}`);
  });

  it('an unknown device is INVALID_ARGUMENT listing the registered ones', async () => {
    const pkg = await readPackage(dirs.hrseg);
    const e = await selectEngineSource('gpu', pkg).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HrsegError);
    // (toMatchObject on an Error compared no message here: the list is checked on its own.)
    expect((e as HrsegError).code).toBe('INVALID_ARGUMENT');
    expect((e as HrsegError).message).toMatch(/'tensorrt', 'cuda', 'triton', 'cpu', 'auto', got 'gpu'/);
  });

  it('a provider added by registration runs every component of both methods, and the segmenter names no backend', async () => {
    const opened: string[] = [];
    const attached: AttachOptions[] = [];
    registerProvider(countingProvider('counting', false, opened, attached));
    expect(() => registerProvider(countingProvider('counting', false, []))).toThrow(/already registered/);
    for (const [preset, components] of [
      ['hrseg', ['sam/encoder', 'sam/decoder', 'dino/encoder', 'vlm/vision', 'vlm/decoder']],
      ['lisa', ['sam/encoder', 'sam/prompt-decoder', 'vlm/vision', 'vlm/decoder']],
    ] as const) {
      opened.length = 0;
      attached.length = 0;
      // A remote provider reads its address from the segmenter's options: attach gets them.
      const seg = await createSegmenter({ model: dirs[preset], device: 'counting', triton: { url: '127.0.0.1:1' } });
      try {
        expect(attached.map((o) => o.triton?.url)).toEqual(['127.0.0.1:1']);
        expect(seg.device).toBe('counting');
        expect(seg.deviceReason).toBe('asked for');
        expect([...opened].sort()).toEqual([...components].sort());
        const r = await seg.segment(raw, 'the red shape', { form: 'phrase' });
        expect(maskIoU(r.mask, red)).toBe(1);
      } finally {
        await seg.dispose();
      }
    }
  });

  it("'auto' passes over a provider whose package is not ready, with its reason", async () => {
    const notReady: EngineProvider = {
      ...countingProvider('not-ready', true, []),
      missing: async () => 'engines for this machine (build them with: hrseg build-engines)',
      attach: async () => {
        throw new HrsegError('MODEL_FILE', 'no engines for this machine');
      },
    };
    registerProvider(notReady);
    expect(engineProviders().at(-1)!.name).toBe('cpu'); // registered before the CPU, the fallback of last resort
    const seg = await createSegmenter({ model: dirs.hrseg });
    try {
      expect(seg.deviceReason).toMatch(/not-ready: no engines for this machine/);
    } finally {
      await seg.dispose();
    }
  });
});
