/**
 * Device 'triton' against a real tritonserver (2.51, python backend running each component's ONNX
 * file with ONNX Runtime on the CPU; scripts/triton/install.sh): segment() and segmentStream()
 * through Triton equal the in-process CPU results for the three demo packages, and the faults a
 * remote server brings are typed errors (killed → UNAVAILABLE, restarted → works again, another
 * package's repository → ENGINE_MISMATCH, abort → ABORTED). Skipped, saying why, when the server
 * is not installed; HRSEG_REQUIRE_TRITON=1 (CI) makes that a failure.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import sharp from 'sharp';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { HrsegError } from '../lib/errors.js';
import { readPackage } from '../lib/package/manifest.js';
import { createSegmenter, type Segmenter, type SegmentEvent, type SegmentResult } from '../lib/segmenter.js';
import { TritonClient } from '../lib/triton/client.js';
import { decoderServerStats } from '../lib/triton/decoder.js';
import { exportTritonRepository, type ExportOptions } from '../lib/triton/repository.js';
import { demoPackage, demoScene } from './helpers/demo.js';
import { FRONT_END_INSTRUCTIONS, frontEndScene, summarize, TritonServer, tritonMissing, type ResultSummary } from './helpers/triton.js';

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
      if (decoderHere(variant)) for (const m of ['hrseg_vlm_decoder', 'hrseg_vlm_generate']) rmSync(join(e.repo, m), { recursive: true });
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

    it.skipIf(decoderHere(variant))("a prepared image's prefix is computed once on the server for two instructions (the decoder's counter)", async () => {
      const client = new TritonClient(server.url);
      try {
        const before = await decoderServerStats(client);
        const prepared = await triton.prepare(raw);
        for (const [q, form] of FRONT_END_INSTRUCTIONS) expectSame(await triton.segment(prepared, q, { form }), await cpu.segment(raw, q, { form }));
        const after = await decoderServerStats(client);
        expect(after.prefills - before.prefills).toBe(1);
        expect(after.caches, 'the prefix is held while the image is prepared').toBeGreaterThan(before.caches);
        // Released: the client ends the image's sequence and the server frees its caches (the END
        // goes out without being waited for, so it is asked again, bounded by attempts).
        prepared.release();
        let now = await decoderServerStats(client);
        for (let i = 0; i < 50 && now.caches > before.caches; i++) {
          await new Promise((r) => setTimeout(r, 100));
          now = await decoderServerStats(client);
        }
        // At most: an earlier test's END still in flight when `before` was read may have landed since.
        expect(now.caches).toBeLessThanOrEqual(before.caches);
        expect(now.evictions, 'freed by the END, not evicted').toBe(after.evictions);
      } finally {
        client.close();
      }
    });

    it.skipIf(decoderHere(variant))(
      'the answer streams from hrseg_vlm_generate: one stream per answer instead of one decoder call per token, the same result',
      async () => {
        const calls = { streams: 0, decoderCalls: 0 };
        const infer = vi.spyOn(TritonClient.prototype, 'infer');
        const stream = vi.spyOn(TritonClient.prototype, 'stream');
        const count = () => {
          calls.streams = stream.mock.calls.filter((c) => c[0] === 'hrseg_vlm_generate').length;
          calls.decoderCalls = infer.mock.calls.filter((c) => c[0] === 'hrseg_vlm_decoder').length;
          return { ...calls };
        };
        const client = new TritonClient(server.url);
        const unary = await createSegmenter({ model: pkg, device: 'triton', triton: { url: server.url, streamTokens: false } });
        try {
          // Generated (llm-seg's default is teacher-forced: below).
          const [q, opts] = ['the red shape', { form: 'phrase', mode: 'generate' }] as const;
          const c = await cpu.segment(raw, q, opts);
          let tokens = 0;
          for await (const ev of cpu.segmentStream(raw, q, opts)) if (ev.type === 'token') tokens++;
          const before = await client.modelStats('hrseg_vlm_generate');
          const prepared = await triton.prepare(raw);
          count();
          const base = { ...calls };
          const t = await triton.segment(prepared, q, opts);
          const streamed = count();
          expectSame(t, c);
          // One stream, and no decoder call from this process during the answer: the steps ran in the server.
          expect(streamed.streams - base.streams).toBe(1);
          expect(streamed.decoderCalls - base.decoderCalls).toBe(0);
          // Triton counts a decoupled request when the model releases it, which may come just after
          // the client has read the final response: asked again, bounded by attempts.
          let after = await client.modelStats('hrseg_vlm_generate');
          for (let i = 0; i < 50 && after.requestCount === before.requestCount; i++) {
            await new Promise((r) => setTimeout(r, 100));
            after = await client.modelStats('hrseg_vlm_generate');
          }
          expect(after.requestCount - before.requestCount).toBe(1);
          expect(after.executionCount - before.executionCount).toBe(1);
          prepared.release();
          // The same answer one call per token (streamTokens: false): as many decoder calls as steps.
          const p2 = await unary.prepare(raw);
          count();
          const base2 = { ...calls };
          expectSame(await unary.segment(p2, q, opts), c);
          const stepped = count();
          expect(stepped.streams - base2.streams).toBe(0);
          expect(stepped.decoderCalls - base2.decoderCalls).toBeGreaterThanOrEqual(Math.max(2, tokens));
          p2.release();
          expect((await client.modelStats('hrseg_vlm_generate')).requestCount, 'the unary segmenter streamed nothing').toBe(after.requestCount);
          // Teacher-forced (the evaluation's mode) keeps the unary step: one decoder call over the forced answer, no stream.
          const p3 = await triton.prepare(raw);
          count();
          const base3 = { ...calls };
          await triton.segment(p3, q, { form: 'phrase', mode: 'teacher-forced' });
          const forced = count();
          expect(forced.streams - base3.streams).toBe(0);
          expect(forced.decoderCalls - base3.decoderCalls).toBe(1);
          p3.release();
        } finally {
          infer.mockRestore();
          stream.mockRestore();
          client.close();
          await unary.dispose();
        }
      },
    );

    it.skipIf(decoderHere(variant))('an abort at the first streamed token ends segmentStream with ABORTED; the segmenter goes on', async () => {
      const ac = new AbortController();
      const seen: string[] = [];
      const e = await failure(
        (async () => {
          for await (const ev of triton.segmentStream(raw, 'the blue shape', { form: 'phrase', mode: 'generate', signal: ac.signal })) {
            seen.push(ev.type);
            if (ev.type === 'token') ac.abort();
          }
        })(),
      );
      expect(e.code).toBe('ABORTED');
      expect(seen.filter((t) => t === 'token')).toHaveLength(1);
      expect(seen).not.toContain('result');
      expectSame(
        await triton.segment(raw, 'the blue shape', { form: 'phrase', mode: 'generate' }),
        await cpu.segment(raw, 'the blue shape', { form: 'phrase', mode: 'generate' }),
      );
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

    it('a prepared image whose prefix the server evicted is computed again, transparently (the counter says so)', async () => {
      const client = new TritonClient(server.url);
      try {
        const before = await decoderServerStats(client);
        const prepared = await triton.prepare(raw);
        for (const [q, form] of FRONT_END_INSTRUCTIONS) expectSame(await triton.segment(prepared, q, { form }), await cpu.segment(raw, q, { form }));
        const after = await decoderServerStats(client);
        // The first instruction's steps evicted the prefix (budget 0); the second one computed it
        // again from the embeddings the client keeps: two prefixes for one prepare().
        expect(after.prefills - before.prefills).toBe(2);
        expect(after.evictions).toBeGreaterThan(before.evictions);
        prepared.release();
      } finally {
        client.close();
      }
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

    it('a server killed mid-request is UNAVAILABLE, and a restarted one serves the same segmenter again, an image prepared before included', async () => {
      // Its prefix dies with the server: the restarted one does not know its sequence.
      const prepared = await triton.prepare(raw);
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
      expectSame(await triton.segment(prepared, 'the green shape', { form: 'phrase' }), await cpu.segment(raw, 'the green shape', { form: 'phrase' }));
      prepared.release();
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

  describe('token streaming (hrseg_vlm_generate) on the wire', () => {
    let server: TritonServer;
    let repo: string;
    let pkg: string;
    let hidden: number;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    beforeAll(async () => {
      ({ pkg, repo } = await exported('hrseg'));
      hidden = (await readPackage(pkg)).head.hiddenSize;
      server = await TritonServer.start(repo);
    });
    afterAll(async () => {
      await server?.stop();
      if (pkg) rmSync(dirname(pkg), { recursive: true, force: true });
    });

    const i64 = (...v: bigint[]) => ({ dtype: 'int64' as const, dims: [v.length], data: BigInt64Array.from(v) });
    /** A 4-token prefix on the decoder, in a sequence of its own: its cache id. */
    async function prefix(client: TritonClient, sequence: bigint): Promise<bigint> {
      const r = await client.infer(
        'hrseg_vlm_decoder',
        {
          inputs_embeds: { dtype: 'float32', dims: [1, 4, hidden], data: new Float32Array(4 * hidden).fill(0.25) },
          position_ids: { dtype: 'int64', dims: [1, 4], data: BigInt64Array.of(0n, 1n, 2n, 3n) },
          past_id: { dtype: 'int64', dims: [1, 1], data: BigInt64Array.of(0n) },
          drop_ids: { dtype: 'int64', dims: [1, 1], data: BigInt64Array.of(0n) },
        },
        ['present_id'],
        { sequence: { id: sequence, start: true } },
      );
      return (r.present_id!.data as BigInt64Array)[0]!;
    }
    /** A generation that only its limit ends (no stop id): a million tokens, far more than any test waits for. */
    const endless = (past: bigint, sequence: bigint) => ({
      inputs_embeds: { dtype: 'float32' as const, dims: [1, 1, hidden], data: new Float32Array(hidden).fill(0.5) },
      position_start: i64(4n),
      past_id: i64(past),
      sequence_id: i64(sequence),
      drop_ids: i64(),
      max_new_tokens: i64(1_000_000n),
      stop_ids: i64(-1n),
      seg_id: i64(-1n),
    });
    const OUTPUTS = ['token_id', 'hidden', 'stop', 'leftover_ids'];
    const endSequence = (client: TritonClient, sequence: bigint) =>
      client.infer(
        'hrseg_vlm_decoder',
        {
          inputs_embeds: { dtype: 'float32', dims: [1, 0, 0], data: new Float32Array(0) },
          position_ids: { dtype: 'int64', dims: [1, 0], data: new BigInt64Array(0) },
          past_id: { dtype: 'int64', dims: [1, 1], data: BigInt64Array.of(-1n) },
          drop_ids: { dtype: 'int64', dims: [1, 1], data: BigInt64Array.of(0n) },
        },
        ['present_id'],
        { sequence: { id: sequence, end: true } },
      );

    it("tokens arrive as separate responses while the loop runs; an abort cancels the stream and the server's loop stops, its caches dropped", async () => {
      const client = new TritonClient(server.url);
      const sequence = 3_000_001n;
      try {
        const past = await prefix(client, sequence);
        const before = await decoderServerStats(client);
        const ac = new AbortController();
        const seen: { token: bigint; final: boolean; stop: bigint }[] = [];
        const e = await failure(
          (async () => {
            for await (const r of client.stream('hrseg_vlm_generate', endless(past, sequence), OUTPUTS, { signal: ac.signal })) {
              seen.push({ token: (r.outputs.token_id!.data as BigInt64Array)[0]!, final: r.final, stop: (r.outputs.stop!.data as BigInt64Array)[0]! });
              if (seen.length === 3) ac.abort();
            }
          })(),
        );
        expect(e.code).toBe('ABORTED');
        // Three tokens of a million-token answer, each its own response, none final: they came
        // while the loop was still running.
        expect(seen).toHaveLength(3);
        for (const r of seen) expect(r).toMatchObject({ final: false, stop: 0n });
        for (const r of seen) expect(r.token).toBeGreaterThanOrEqual(0n);
        // The server noticed the cancellation: its decoder steps stop growing (asked until two
        // reads agree, bounded by attempts), far short of the limit, and the caches the loop made
        // are dropped (the prefix alone is left).
        let steps = (await client.modelStats('hrseg_vlm_decoder')).requestCount;
        let stable = false;
        for (let i = 0; i < 100 && !stable; i++) {
          await sleep(300);
          const now = (await client.modelStats('hrseg_vlm_decoder')).requestCount;
          stable = now === steps;
          steps = now;
        }
        expect(stable, 'the loop kept stepping after the abort').toBe(true);
        let now = await decoderServerStats(client);
        for (let i = 0; i < 50 && now.caches > before.caches; i++) {
          await sleep(100);
          now = await decoderServerStats(client);
        }
        expect(now.caches).toBe(before.caches);
      } finally {
        await endSequence(client, sequence).catch(() => undefined);
        client.close();
      }
    });

    it('an answer ends with one final response saying why; ModelInfer refuses the decoupled model', async () => {
      const client = new TritonClient(server.url);
      const sequence = 3_000_002n;
      try {
        const past = await prefix(client, sequence);
        const responses: { final: boolean; token: bigint; stop: bigint; leftovers: number }[] = [];
        for await (const r of client.stream('hrseg_vlm_generate', { ...endless(past, sequence), max_new_tokens: i64(5n) }, OUTPUTS))
          responses.push({
            final: r.final,
            token: r.outputs.token_id ? (r.outputs.token_id.data as BigInt64Array)[0]! : -2n,
            stop: r.outputs.stop ? (r.outputs.stop.data as BigInt64Array)[0]! : -2n,
            leftovers: r.outputs.leftover_ids?.dims[0] ?? -1,
          });
        // Five token responses, then the one that says the limit ended it (2) and names the caches left behind.
        const tokens = responses.filter((r) => r.stop === 0n);
        expect(tokens).toHaveLength(5);
        expect(tokens.every((r) => !r.final && r.token >= 0n)).toBe(true);
        const ends = responses.filter((r) => r.stop === 2n);
        expect(ends).toHaveLength(1);
        expect(ends[0]!.leftovers).toBeGreaterThan(0);
        expect(responses.at(-1)!.final).toBe(true);
        expect(responses.filter((r) => r.final)).toHaveLength(1);
        const e = await failure(client.infer('hrseg_vlm_generate', { ...endless(past, sequence), max_new_tokens: i64(1n) }, OUTPUTS));
        expect(e.message).toMatch(/decoupled/);
      } finally {
        await endSequence(client, sequence).catch(() => undefined);
        client.close();
      }
    });

    it('a frozen server mid-stream is UNAVAILABLE within the deadline (a wait per token, not per answer)', async () => {
      const client = new TritonClient(server.url, { deadlineMs: 3000 });
      const sequence = 3_000_003n;
      try {
        const past = await prefix(client, sequence);
        let n = 0;
        let paused = false;
        const e = await failure(
          (async () => {
            for await (const _ of client.stream('hrseg_vlm_generate', endless(past, sequence), OUTPUTS)) {
              if (++n === 3) {
                server.pause();
                paused = true;
              }
            }
          })(),
        ).finally(() => {
          if (paused) server.resume();
        });
        expect(paused).toBe(true);
        expect(e.code).toBe('UNAVAILABLE');
        expect(e.message).toMatch(/no answer within 3000 ms/);
        expect(await client.serverReady()).toBe(true);
      } finally {
        await endSequence(client, sequence).catch(() => undefined);
        client.close();
      }
    });

    it('a server killed mid-stream is UNAVAILABLE, never a hang; a segmenter streams again from a restarted one', async () => {
      const client = new TritonClient(server.url);
      const sequence = 3_000_004n;
      try {
        const past = await prefix(client, sequence);
        let killed: Promise<void> | undefined;
        const e = await failure(
          (async () => {
            let n = 0;
            for await (const _ of client.stream('hrseg_vlm_generate', endless(past, sequence), OUTPUTS)) if (++n === 3) killed ??= server.kill();
          })(),
        );
        await killed;
        expect(killed, 'the server was killed during the stream').toBeDefined();
        expect(e.code).toBe('UNAVAILABLE');
        expect(e.message).toContain(server.url);
        // While it is down a new stream says so at once.
        const down = await failure(
          (async () => {
            for await (const _ of client.stream('hrseg_vlm_generate', endless(past, sequence), OUTPUTS));
          })(),
        );
        expect(down.code).toBe('UNAVAILABLE');
      } finally {
        client.close();
      }
      server = await TritonServer.start(repo, server.ports);
      const triton = await createSegmenter({ model: pkg, device: 'triton', triton: { url: server.url } });
      const cpu = await createSegmenter({ model: pkg, device: 'cpu' });
      try {
        expectSame(await triton.segment(raw, 'the green shape', { form: 'phrase' }), await cpu.segment(raw, 'the green shape', { form: 'phrase' }));
        const c = new TritonClient(server.url);
        // Counted when the model releases the request (just after the final response): asked again, bounded.
        let streamed = (await c.modelStats('hrseg_vlm_generate')).requestCount;
        for (let i = 0; i < 50 && streamed === 0; i++) {
          await sleep(100);
          streamed = (await c.modelStats('hrseg_vlm_generate')).requestCount;
        }
        expect(streamed).toBe(1);
        c.close();
      } finally {
        await Promise.all([triton.dispose(), cpu.dispose()]);
      }
    });
  });

  describe('many front ends: 4 processes × 3 images × 2 instructions against one server', () => {
    let server: TritonServer;
    let pkg: string;
    beforeAll(async () => {
      // Two instances of every model: a sequence's steps must reach the decoder instance holding its
      // prefix. A queue delay of 200 ms lets the front ends' requests meet in the batchers.
      const e = await exported('hrseg', { instances: 2, queueDelayUs: 200_000 });
      pkg = e.pkg;
      server = await TritonServer.start(e.repo);
    });
    afterAll(async () => {
      await server?.stop();
      if (pkg) rmSync(dirname(pkg), { recursive: true, force: true });
    });

    // Four front ends and a server with ten python stubs share two cores: minutes, not the default minute.
    it('every answer equals the in-process one, and requests of different front ends shared executions', { timeout: 600_000 }, async () => {
      const frontends = 4,
        images = 3,
        scenes = 4;
      const children = Array.from({ length: frontends }, (_, f) => {
        // Front end f asks images f, f+1, f+2 (of 4): each image is asked by three front ends.
        const mine = Array.from({ length: images }, (_, i) => String((f + i) % scenes));
        const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'helpers', 'triton-frontend.ts'), pkg, server.url, ...mine], {
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '',
          err = '';
        child.stdout.on('data', (b: Buffer) => (out += b.toString()));
        child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        return { child, exited, out: () => out, err: () => err };
      });
      try {
        // Every front end connected before any starts: their requests then overlap.
        for (const c of children) {
          for (let i = 0; i < 1200 && !c.out().includes('ready\n'); i++) {
            if (c.child.exitCode !== null) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          expect(c.out(), `a front end did not connect: ${c.err()}`).toContain('ready\n');
        }
        for (const c of children) c.child.stdin.write('go\n');
        const codes = await Promise.all(children.map((c) => c.exited));
        children.forEach((c, f) => expect(codes[f], `front end ${f}: ${c.err()}`).toBe(0));
        const cpu = await createSegmenter({ model: pkg, device: 'cpu' });
        const expected = new Map<string, ResultSummary>();
        try {
          for (let k = 0; k < scenes; k++)
            for (const [q, form] of FRONT_END_INSTRUCTIONS) expected.set(`${k}|${q}`, summarize(await cpu.segment(frontEndScene(k), q, { form })));
        } finally {
          await cpu.dispose();
        }
        let answers = 0;
        for (const c of children) {
          const { results } = JSON.parse(c.out().slice(c.out().indexOf('ready\n') + 6)) as {
            results: { image: number; instruction: string; summary: ResultSummary }[];
          };
          expect(results).toHaveLength(images * FRONT_END_INSTRUCTIONS.length);
          for (const r of results) {
            const want = expected.get(`${r.image}|${r.instruction}`)!;
            const { iou, segments, ...exact } = r.summary;
            const { iou: wantIou, segments: wantSegments, ...wantExact } = want;
            expect(exact, `image ${r.image}, '${r.instruction}'`).toEqual(wantExact);
            close(Float32Array.from(iou), Float32Array.from(wantIou), 'proposal iou');
            expect(segments.map((s) => [s.chosen, s.fallback, s.mask])).toEqual(wantSegments.map((s) => [s.chosen, s.fallback, s.mask]));
            segments.forEach((s, i) => {
              close(Float32Array.from(s.similarity), Float32Array.from(wantSegments[i]!.similarity), 'similarity');
              close(Float32Array.from(s.iop), Float32Array.from(wantSegments[i]!.iop), 'iop');
            });
            answers++;
          }
        }
        expect(answers).toBe(frontends * images * FRONT_END_INSTRUCTIONS.length);
        // The scenes differ: their answers are not all one.
        expect(new Set([...expected.values()].map((v) => v.mask)).size).toBeGreaterThan(1);

        const client = new TritonClient(server.url);
        try {
          const dino = await client.modelStats('hrseg_dino_encoder');
          const decoder = await client.modelStats('hrseg_vlm_decoder');
          console.log(`many front ends: dino ${JSON.stringify(dino)}, decoder ${JSON.stringify(decoder)}`);
          expect(dino.executionCount).toBeLessThan(dino.inferenceCount);
          // One front end has at most one decoder step in flight (its segmenter runs one call at a
          // time, and a sequence's END goes out before its next image has passed the encoders):
          // fewer executions than requests means steps of different front ends ran together.
          expect(decoder.executionCount).toBeLessThan(decoder.inferenceCount);
          expect(decoder.inferenceCount).toBe(decoder.requestCount);
          // No step failed: each one found its cache on the instance the sequence batcher sent it
          // to (a lost one would have failed there first, then been computed again).
          expect(decoder.failCount).toBe(0);
          // Every answer streamed: one hrseg_vlm_generate request each, whose steps were the decoder's requests above.
          const generate = await client.modelStats('hrseg_vlm_generate');
          console.log(`many front ends: generate ${JSON.stringify(generate)}`);
          expect(generate.requestCount).toBe(frontends * images * FRONT_END_INSTRUCTIONS.length);
          expect(generate.failCount).toBe(0);
        } finally {
          client.close();
        }
      } finally {
        for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
      }
    });
  });

  describe("the decoder's memory and idle sequences", () => {
    let server: TritonServer;
    let pkg: string;
    let repo: string;
    let cpu: Segmenter;
    let triton: Segmenter;
    beforeAll(async () => {
      // 1 MiB of caches, and a sequence (with its caches) forgotten after 1 s unused.
      ({ pkg, repo } = await exported('hrseg', { kvBudgetMiB: 1, kvIdleSeconds: 1 }));
      server = await TritonServer.start(repo);
      cpu = await createSegmenter({ model: pkg, device: 'cpu' });
      triton = await createSegmenter({ model: pkg, device: 'triton', triton: { url: server.url } });
    });
    afterAll(async () => {
      await Promise.all([cpu?.dispose(), triton?.dispose()]);
      await server?.stop();
      if (pkg) rmSync(dirname(pkg), { recursive: true, force: true });
    });

    it('an idled-out sequence is computed again from the prefix, transparently', async () => {
      const client = new TritonClient(server.url);
      try {
        const prepared = await triton.prepare(raw);
        const before = await decoderServerStats(client);
        // Longer than the idle time (1 s): Triton forgets the sequence, the model its caches.
        await new Promise((r) => setTimeout(r, 3000));
        expectSame(await triton.segment(prepared, 'the red shape', { form: 'phrase' }), await cpu.segment(raw, 'the red shape', { form: 'phrase' }));
        const after = await decoderServerStats(client);
        expect(after.prefills - before.prefills, 'the prefix was computed again').toBe(1);
        expect(after.evictions, 'the idle caches were evicted').toBeGreaterThan(before.evictions);
        prepared.release();
      } finally {
        client.close();
      }
    });

    it("the decoder's memory stays within its budget over 300 images' prefixes that are never released", async () => {
      const client = new TritonClient(server.url);
      try {
        const config = await client.modelConfig('hrseg_vlm_decoder');
        const [layers, heads, headDim] = ['kv_layers', 'kv_heads', 'kv_head_dim'].map((k) => Number(config.parameters[k]));
        const hidden = (await readPackage(pkg)).head.hiddenSize;
        // Tokens for a ~64 KiB prefix: 16 fit in the budget, 300 would be ~19 MiB.
        const perToken = layers! * 2 * heads! * headDim! * 4;
        const tokens = Math.max(1, Math.ceil((64 << 10) / perToken));
        const budget = 1 << 20;
        let most = 0;
        const ids: bigint[] = [];
        for (let i = 0; i < 300; i++) {
          const id = BigInt(1_000_000 + i);
          const r = await client.infer(
            'hrseg_vlm_decoder',
            {
              inputs_embeds: { dtype: 'float32', dims: [1, tokens, hidden], data: new Float32Array(tokens * hidden).fill(i / 300) },
              position_ids: { dtype: 'int64', dims: [1, tokens], data: BigInt64Array.from({ length: tokens }, (_, t) => BigInt(t)) },
              past_id: { dtype: 'int64', dims: [1, 1], data: BigInt64Array.of(0n) },
              drop_ids: { dtype: 'int64', dims: [1, 1], data: BigInt64Array.of(0n) },
            },
            ['present_id', 'kv_stats'],
            { sequence: { id, start: true } },
          );
          ids.push((r.present_id!.data as BigInt64Array)[0]!);
          const [, bytes] = [...(r.kv_stats!.data as BigInt64Array)].map(Number) as [number, number];
          most = Math.max(most, bytes);
        }
        const stats = await decoderServerStats(client);
        expect(most, 'bytes held at most').toBeLessThanOrEqual(budget);
        expect(stats.bytes).toBeLessThanOrEqual(budget);
        expect(stats.caches).toBeLessThan(300);
        // The oldest prefix was evicted: extending it is the model's 'not on this server'.
        const old = await client
          .infer(
            'hrseg_vlm_decoder',
            {
              inputs_embeds: { dtype: 'float32', dims: [1, 1, hidden], data: new Float32Array(hidden) },
              position_ids: { dtype: 'int64', dims: [1, 1], data: BigInt64Array.of(BigInt(tokens)) },
              past_id: { dtype: 'int64', dims: [1, 1], data: BigInt64Array.of(ids[0]!) },
              drop_ids: { dtype: 'int64', dims: [1, 1], data: BigInt64Array.of(0n) },
            },
            ['present_id'],
            { sequence: { id: 1_000_000n } },
          )
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(String(old)).toMatch(/hrseg-kv-missing|START flag/);
      } finally {
        client.close();
      }
    });
  });
});
