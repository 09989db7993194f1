/**
 * Device 'triton' against a real tritonserver (2.51, python backend running each component's ONNX
 * file with ONNX Runtime on the CPU; scripts/triton/install.sh): segment() and segmentStream()
 * through Triton equal the in-process CPU results for the three demo packages, and the faults a
 * remote server brings are typed errors (killed → UNAVAILABLE, restarted → works again, another
 * package's repository → ENGINE_MISMATCH, abort → ABORTED). Skipped, saying why, when the server
 * is not installed; HRSEG_REQUIRE_TRITON=1 (CI) makes that a failure.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import sharp from 'sharp';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { HrsegError } from '../lib/errors.js';
import { readPackage } from '../lib/package/manifest.js';
import { createSegmenter, type Segmenter, type SegmentEvent, type SegmentResult } from '../lib/segmenter.js';
import { TritonClient } from '../lib/triton/client.js';
import { exportTritonRepository, type ExportOptions } from '../lib/triton/repository.js';
import { demoPackage, demoScene } from './helpers/demo.js';
import { TritonServer, tritonMissing } from './helpers/triton.js';

const missing = tritonMissing();
const required = process.env.HRSEG_REQUIRE_TRITON === '1';
if (missing) console.warn(`test/triton.test.ts: skipped: ${missing}`);

const run = promisify(execFile);
const scene = demoScene();
const raw = { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 as const };
const work = mkdtempSync(join(tmpdir(), 'hrseg-triton-'));
let repos = 0;

async function exported(variant: 'hrseg' | 'llm-seg' | 'lisa', options: ExportOptions = {}): Promise<{ pkg: string; repo: string }> {
  const pkg = demoPackage(variant);
  const repo = join(work, `repo-${variant}-${repos++}`);
  await exportTritonRepository(await readPackage(pkg), repo, options);
  return { pkg, repo };
}

/** lisa's repository without the stateful decoder, as an onnxruntime or tensorrt one is: the decoder then runs here. */
const decoderHere = (variant: string) => variant === 'lisa';

async function failure(p: Promise<unknown>): Promise<HrsegError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(HrsegError);
  return e as HrsegError;
}

const readlinkSafe = (p: string) => {
  try {
    return readlinkSync(p);
  } catch {
    return '';
  }
};

const close = (a: Float32Array, b: Float32Array, what: string) => {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!), `${what}[${i}]: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(1e-5);
};

/** What a result must share with the in-process CPU one: proposals, chosen, masks and answer exactly; scores within 1e-5. */
function expectSame(t: SegmentResult, c: SegmentResult): void {
  expect(t.answer).toBe(c.answer);
  expect(t.chosen).toEqual(c.chosen);
  expect(Buffer.compare(Buffer.from(t.mask), Buffer.from(c.mask)), 'union mask').toBe(0);
  expect(t.proposals.masks.dims).toEqual(c.proposals.masks.dims);
  expect(Buffer.compare(Buffer.from(t.proposals.masks.data.buffer), Buffer.from(c.proposals.masks.data.buffer)), 'proposal masks').toBe(0);
  // SAM's predicted IoUs and stability come straight from the decoder: a drift there shows here.
  close(t.proposals.iou.data, c.proposals.iou.data, 'proposal iou');
  close(t.proposals.stability.data, c.proposals.stability.data, 'proposal stability');
  expect(t.proposals.counts).toEqual(c.proposals.counts);
  expect(t.segments).toHaveLength(c.segments.length);
  t.segments.forEach((s, i) => {
    const o = c.segments[i]!;
    expect(s.chosen).toEqual(o.chosen);
    expect(s.fallback).toBe(o.fallback);
    expect(Buffer.compare(Buffer.from(s.mask), Buffer.from(o.mask)), `segment ${i} mask`).toBe(0);
    close(s.similarity, o.similarity, `segment ${i} similarity`);
    close(s.iop, o.iop, `segment ${i} iop`);
    if (o.logits) close(s.logits!, o.logits, `segment ${i} logits`);
  });
}

if (missing && required)
  describe('device triton', () => {
    it('has a tritonserver to test against (HRSEG_REQUIRE_TRITON=1)', () => {
      throw new Error(`HRSEG_REQUIRE_TRITON=1 but ${missing}`);
    });
  });

describe.skipIf(missing !== undefined)(`device triton against a real tritonserver${missing ? ` (skipped: ${missing})` : ''}`, () => {
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  describe.each(['hrseg', 'llm-seg', 'lisa'] as const)('the %s demo package', (variant) => {
    let server: TritonServer;
    let pkg: string;
    let cpu: Segmenter;
    let triton: Segmenter;
    beforeAll(async () => {
      const e = await exported(variant);
      if (decoderHere(variant)) rmSync(join(e.repo, 'hrseg_vlm_decoder'), { recursive: true });
      pkg = e.pkg;
      server = await TritonServer.start(e.repo);
      cpu = await createSegmenter({ model: pkg, device: 'cpu' });
      triton = await createSegmenter({ model: pkg, device: 'triton', triton: { url: server.url } });
    });
    afterAll(async () => {
      await Promise.all([cpu?.dispose(), triton?.dispose()]);
      await server?.stop();
      if (pkg) rmSync(dirname(pkg), { recursive: true, force: true });
    });

    it('segment() equals the in-process CPU result', async () => {
      for (const [q, form] of [
        ['the red shape', 'phrase'],
        ['Which shape is green?', 'sentence'],
      ] as const) {
        const [t, c] = [await triton.segment(raw, q, { form }), await cpu.segment(raw, q, { form })];
        expect(c.segments.length, 'the demo answers with a [SEG]').toBeGreaterThan(0);
        expectSame(t, c);
      }
    });

    it('segmentStream() gives the same events', async () => {
      const events = async (s: Segmenter) => {
        const out: SegmentEvent[] = [];
        for await (const e of s.segmentStream(raw, 'the blue shape', { form: 'phrase' })) out.push(e);
        return out;
      };
      const [t, c] = [await events(triton), await events(cpu)];
      expect(t.map((e) => e.type)).toEqual(c.map((e) => e.type));
      const tokens = (es: SegmentEvent[]) => es.filter((e) => e.type === 'token').map((e) => (e as { id: number }).id);
      expect(tokens(t)).toEqual(tokens(c));
      const result = (es: SegmentEvent[]) => (es.at(-1) as Extract<SegmentEvent, { type: 'result' }>).result;
      expectSame(result(t), result(c));
    });

    it(`says where each backbone runs: the VLM decoder ${decoderHere(variant) ? 'here (no hrseg_vlm_decoder served)' : 'on Triton, its cache kept there'}`, () => {
      const b = triton.backbones;
      expect(triton.device).toBe('triton');
      expect(b['sam/encoder']!.provider).toBe('triton');
      expect(b['vlm/vision']!.provider).toBe('triton');
      if (decoderHere(variant)) {
        expect(b['vlm/decoder']!.provider).toBe('cpu');
        expect(b['vlm/decoder']!.fallbackReason).toMatch(/in this process/);
      } else expect(b['vlm/decoder']).toEqual({ provider: 'triton' });
    });
  });

  describe('faults', () => {
    let server: TritonServer;
    let repo: string;
    let pkg: string;
    let cpu: Segmenter;
    let triton: Segmenter;
    beforeAll(async () => {
      // A cache budget of 0: the server keeps only the newest cache, so a prepared image's prefix
      // is evicted by the first instruction on it (a generation's own chain needs only the newest).
      ({ pkg, repo } = await exported('hrseg', { kvBudgetMiB: 0 }));
      server = await TritonServer.start(repo);
      cpu = await createSegmenter({ model: pkg, device: 'cpu' });
      triton = await createSegmenter({ model: pkg, device: 'triton', triton: { url: server.url, deadlineMs: 30_000 } });
    });
    afterAll(async () => {
      await Promise.all([cpu?.dispose(), triton?.dispose()]);
      await server?.stop();
      if (pkg) rmSync(dirname(pkg), { recursive: true, force: true });
    });

    it('a prepared image whose prefix the server evicted is a clear error; preparing it again works', async () => {
      const prepared = await triton.prepare(raw);
      const first = await triton.segment(prepared, 'the red shape', { form: 'phrase' });
      expectSame(first, await cpu.segment(raw, 'the red shape', { form: 'phrase' }));
      const e = await failure(triton.segment(prepared, 'the green shape', { form: 'phrase' }));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toMatch(/no longer on the Triton server .* prepare the image again/);
      const again = await triton.prepare(raw);
      expectSame(await triton.segment(again, 'the green shape', { form: 'phrase' }), await cpu.segment(raw, 'the green shape', { form: 'phrase' }));
      again.release();
      prepared.release();
    });

    it('a client abort cancels the call; the segmenter goes on', async () => {
      const ac = new AbortController();
      // Aborted at the first batch of SAM prompts: the next decoder call is cancelled.
      const e = await failure(triton.segment(raw, 'the red shape', { form: 'phrase', signal: ac.signal, onProgress: () => ac.abort() }));
      expect(e.code).toBe('ABORTED');
      expectSame(await triton.segment(raw, 'the red shape', { form: 'phrase' }), await cpu.segment(raw, 'the red shape', { form: 'phrase' }));
    });

    it('an abort cancels a call in flight; a server that does not answer is UNAVAILABLE at the deadline', async () => {
      const client = new TritonClient(server.url, { deadlineMs: 3000 });
      const image = { dtype: 'float32' as const, dims: [1, 3, 1024, 1024], data: new Float32Array(3 * 1024 * 1024) };
      try {
        const ac = new AbortController();
        const call = client.infer('hrseg_sam_encoder', { image }, ['image_embeddings'], { signal: ac.signal });
        ac.abort(); // the call was sent when infer() returned: this cancels it on the wire
        expect((await failure(call)).code).toBe('ABORTED');
        // A frozen server keeps the connection but never answers: the deadline ends the call.
        await client.serverReady();
        server.pause();
        try {
          const e = await failure(client.infer('hrseg_sam_encoder', { image }, ['image_embeddings']));
          expect(e.code).toBe('UNAVAILABLE');
          expect(e.message).toMatch(/no answer within 3000 ms/);
        } finally {
          server.resume();
        }
        expect(await client.serverReady()).toBe(true);
      } finally {
        client.close();
      }
    });

    it('a server killed mid-request is UNAVAILABLE, and a restarted one serves the same segmenter again', async () => {
      let killed: Promise<void> | undefined;
      // Killed while the mask generator's decoder calls are under way.
      const e = await failure(
        triton.segment(raw, 'the red shape', {
          form: 'phrase',
          onProgress: () => {
            killed ??= server.kill();
          },
        }),
      );
      await killed;
      expect(killed, 'the server was killed during the call').toBeDefined();
      expect(e.code).toBe('UNAVAILABLE');
      expect(e.message).toContain(server.url);
      // While it is down every call says so rather than waiting.
      expect((await failure(triton.segment(raw, 'the green shape', { form: 'phrase' }))).code).toBe('UNAVAILABLE');
      server = await TritonServer.start(repo, server.ports);
      expectSame(await triton.segment(raw, 'the red shape', { form: 'phrase' }), await cpu.segment(raw, 'the red shape', { form: 'phrase' }));
    });

    it("another package's repository is ENGINE_MISMATCH naming the difference", async () => {
      const other = demoPackage('llm-seg');
      try {
        const e = await failure(createSegmenter({ model: other, device: 'triton', triton: { url: server.url } }));
        expect(e.code).toBe('ENGINE_MISMATCH');
        expect(e.message).toMatch(/preset: the server has 'hrseg', this package 'llm-seg'/);
        const lisa = demoPackage('lisa');
        const l = await failure(createSegmenter({ model: lisa, device: 'triton', triton: { url: server.url } }));
        expect(l.code).toBe('ENGINE_MISMATCH');
        expect(l.message).toMatch(/no model 'hrseg_sam_prompt_decoder'/);
        rmSync(dirname(lisa), { recursive: true, force: true });
      } finally {
        rmSync(dirname(other), { recursive: true, force: true });
      }
    });

    it('hrseg segment --device triton --triton-url gives what the API gives', async () => {
      const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
      const image = join(work, 'shapes.png');
      writeFileSync(
        image,
        await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } })
          .png()
          .toBuffer(),
      );
      const args = [cli, 'segment', image, 'the red shape', '--model', pkg, '--form', 'phrase', '--json'];
      const { stdout } = await run(process.execPath, [...args, '--device', 'triton', '--triton-url', server.url]);
      const printed = JSON.parse(stdout) as { answer: string; chosen: number[]; area: number };
      const c = await cpu.segment(raw, 'the red shape', { form: 'phrase' });
      expect(printed.answer).toBe(c.answer);
      expect(printed.chosen).toEqual(c.chosen);
      expect(printed.area).toBe(c.mask.reduce((a, v) => a + v, 0));
      // --triton-url without --device triton is a usage error (exit 2).
      const bad = await run(process.execPath, [...args, '--triton-url', server.url]).catch((e: { code: number; stderr: string }) => e);
      expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/--triton-url is for --device triton/) as unknown });
    });

    it('bad options and an absent server are typed errors, not hangs', async () => {
      expect((await failure(createSegmenter({ model: pkg, device: 'triton' }))).code).toBe('INVALID_ARGUMENT');
      expect((await failure(createSegmenter({ model: pkg, device: 'triton', triton: { url: 'http://nowhere' } }))).code).toBe('INVALID_ARGUMENT');
      // The HTTP port: something listens, but it speaks no gRPC.
      const wrong = await failure(createSegmenter({ model: pkg, device: 'triton', triton: { url: `127.0.0.1:${server.ports.http}`, deadlineMs: 5000 } }));
      expect(['UNAVAILABLE', 'INTERNAL']).toContain(wrong.code);
    });

    it.runIf(process.platform === 'linux')('a dispose closes the channel: no socket is left behind', async () => {
      // gRPC's sockets are unref'd (getActiveResourcesInfo does not list them): the process's open sockets are counted instead.
      const sockets = () => readdirSync('/proc/self/fd').filter((fd) => readlinkSafe(`/proc/self/fd/${fd}`).startsWith('socket:')).length;
      const before = sockets();
      const s = await createSegmenter({ model: pkg, device: 'triton', triton: { url: server.url } });
      await s.segment(raw, 'the red shape', { form: 'phrase' });
      expect(sockets()).toBeGreaterThan(before);
      await s.dispose();
      // The socket closes on the next turns of the event loop: bounded by turns, not by a clock.
      for (let i = 0; i < 100 && sockets() > before; i++) await new Promise((r) => setImmediate(r));
      expect(sockets()).toBe(before);
    });

    it("DINOv2's views are one batched execution (execution_count < inference_count)", async () => {
      const client = new TritonClient(server.url);
      try {
        const stats = await client.modelStats('hrseg_dino_encoder');
        expect(stats.inferenceCount).toBeGreaterThan(0);
        // One request carries the 1 + 2² views of an image: Triton counts each view as an inference.
        expect(stats.executionCount).toBeLessThan(stats.inferenceCount);
      } finally {
        client.close();
      }
    });
  });
});
