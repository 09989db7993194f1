/**
 * The VLM's key/value cache on a decoder that keeps values on the device (TensorRT): buffers of
 * the context limit written in place. No GPU here, so a wrapper engine stands for the device one:
 * it runs the real tiny decoder on ONNX Runtime, and models `allocate`/`into` by tagging every
 * output with the buffer it was written into, checking that it fits, and remembering which buffer
 * each step read. The tests prove the runner's bookkeeping: the same answers as the plain runner,
 * no allocation per step, never reading a buffer the same step writes, and prefixes that later
 * answers leave untouched.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { OnnxEngine } from '../lib/engines/onnx-runtime.js';
import type { DeviceBuffer, Engine, EngineInput, EngineValue, RunOptions } from '../lib/engines/types.js';
import { VlmRunner } from '../lib/vlm/index.js';
import { writeTinyVlm } from './helpers/tiny-vlm-files.js';

class DeviceLikeEngine implements Engine {
  allocations = 0;
  /** Buffers allocated and not released; outputs handed out and not released. */
  liveBuffers = new Set<DeviceBuffer>();
  liveValues = new Set<EngineValue>();
  steps: { read: Set<DeviceBuffer>; wrote: Set<DeviceBuffer> }[] = [];
  constructor(private readonly inner: Engine) {}
  get component() {
    return this.inner.component;
  }
  get file() {
    return this.inner.file;
  }
  get inputs() {
    return this.inner.inputs;
  }
  get outputs() {
    return this.inner.outputs;
  }

  allocate(bytes: number): DeviceBuffer {
    this.allocations += 1;
    const buffer: DeviceBuffer = { bytes, handle: Symbol(`buffer ${this.allocations}`), release: () => void this.liveBuffers.delete(buffer) };
    this.liveBuffers.add(buffer);
    return buffer;
  }

  async run(feeds: Readonly<Record<string, EngineInput>>, options: RunOptions = {}): Promise<Record<string, EngineValue>> {
    const read = new Set<DeviceBuffer>();
    for (const v of Object.values(feeds)) {
      const b = (v as { buffer?: DeviceBuffer }).buffer;
      if (b) read.add(b);
    }
    const out = await this.inner.run(feeds, { signal: options.signal });
    const wrote = new Set<DeviceBuffer>();
    const tagged: Record<string, EngineValue> = {};
    for (const [name, value] of Object.entries(out)) {
      const buffer = options.into?.[name];
      if (buffer) {
        const bytes = value.dims.reduce((a, b) => a * b, 1) * 4;
        if (bytes > buffer.bytes) throw new Error(`${name}: ${bytes} bytes do not fit the ${buffer.bytes}-byte buffer`);
        if (read.has(buffer)) throw new Error(`${name}: written into a buffer this step reads`);
        wrote.add(buffer);
      }
      const t: EngineValue = Object.assign(Object.create(Object.getPrototypeOf(value)), value, {
        buffer,
        host: () => value.host(),
        release: () => void this.liveValues.delete(t),
      });
      this.liveValues.add(t);
      tagged[name] = t;
    }
    this.steps.push({ read, wrote });
    return tagged;
  }

  dispose() {
    return this.inner.dispose();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'hrseg-vlm-kv-'));
const files = writeTinyVlm(join(dir, 'vlm'));
const image = { data: new Uint8Array(40 * 30 * 3).fill(90), width: 40, height: 30 };
let plain: VlmRunner, device: VlmRunner, decoder: DeviceLikeEngine;

beforeAll(async () => {
  plain = await VlmRunner.load(files);
  const vision = await OnnxEngine.load(files.vision, 'vlm/vision');
  decoder = new DeviceLikeEngine(await OnnxEngine.load(files.decoder, 'vlm/decoder'));
  device = await VlmRunner.load(files, {}, { engines: { vision, decoder }, context: 128 });
});
afterAll(async () => {
  await Promise.all([plain?.dispose(), device?.dispose()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('a device-resident key/value cache', () => {
  it('gives the same answers as the plain runner, allocating per prefix and once for the scratch sets, never per step', async () => {
    const want = await plain.answer(await plain.prepare(image), 'what is red?');
    const ctx = await device.prepare(image);
    const layers = device['layers'] as number;
    expect(decoder.allocations).toBe(2 * layers); // the prefix's own set
    const got = await device.answer(ctx, 'what is red?');
    expect(got.text).toBe(want.text);
    expect(got.tokenIds).toEqual(want.tokenIds);
    expect(Array.from(got.seg.data)).toEqual(Array.from(want.seg.data));
    expect(got.timings.steps).toBeGreaterThan(1);
    expect(decoder.allocations).toBe(3 * 2 * layers); // + two scratch sets, whatever the answer's length
    await device.answer(ctx, 'and what is blue?');
    expect(decoder.allocations).toBe(3 * 2 * layers);
  });

  it('never writes a buffer a step reads, and leaves the prefix to be read again', async () => {
    const ctx = await device.prepare(image);
    const prefixBuffers = new Set(decoder.steps.at(-1)!.wrote);
    const from = decoder.steps.length;
    const first = await device.answer(ctx, 'what is red?');
    const second = await device.answer(ctx, 'what is red?');
    expect(second.tokenIds).toEqual(first.tokenIds);
    for (const step of decoder.steps.slice(from)) for (const b of step.wrote) expect(prefixBuffers.has(b)).toBe(false);
    // Each step after the first of an answer reads what the step before it wrote.
    const s = decoder.steps.slice(from);
    expect([...s[1].read].every((b) => s[0].wrote.has(b))).toBe(true);
  });

  it('frees device memory when it is done, not at garbage collection: step outputs at once, a prefix on release, the rest on dispose', async () => {
    const engine = new DeviceLikeEngine(await OnnxEngine.load(files.decoder, 'vlm/decoder'));
    const runner = await VlmRunner.load(files, {}, { engines: { vision: await OnnxEngine.load(files.vision, 'vlm/vision'), decoder: engine }, context: 128 });
    const layers = runner['layers'] as number;
    const ctx = await runner.prepare(image);
    expect(engine.liveValues.size).toBe(2 * layers); // the prefix's key/value views, nothing else
    for (let i = 0; i < 20; i++) await runner.answer(ctx, i % 2 ? 'what is red?' : 'and what is blue?');
    await runner.answer(ctx, 'what is red?', { mode: 'teacher-forced' });
    // Logits, hidden states and every step's key/value views were released as soon as read.
    expect(engine.liveValues.size).toBe(2 * layers);
    expect(engine.liveBuffers.size).toBe(3 * 2 * layers); // the prefix's set and two scratch sets
    // A generator stopped early by its consumer frees its step too.
    for await (const _ of runner.stream(ctx, 'what is red?')) break;
    expect(engine.liveValues.size).toBe(2 * layers);
    ctx.release();
    ctx.release();
    expect(engine.liveValues.size).toBe(0);
    expect(engine.liveBuffers.size).toBe(2 * 2 * layers);
    const kept = await runner.prepare(image);
    expect(engine.liveBuffers.size).toBe(3 * 2 * layers);
    expect(engine.liveValues.size).toBe(2 * layers); // the kept context's views
    await runner.dispose();
    expect(engine.liveBuffers.size).toBe(0); // scratch sets and the prefix never released by hand
    expect(engine.liveValues.size).toBe(0); // and that context's views of it
    void kept;
  });

  it('refuses a conversation longer than the cache', async () => {
    const small = await VlmRunner.load(
      files,
      {},
      {
        engines: {
          vision: await OnnxEngine.load(files.vision, 'vlm/vision'),
          decoder: new DeviceLikeEngine(await OnnxEngine.load(files.decoder, 'vlm/decoder')),
        },
        context: 4,
      },
    );
    await expect(small.prepare(image)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /more than the key\/value cache holds \(4\)/ });
    await small.dispose();
  });
});
