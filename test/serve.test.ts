/**
 * `hrseg serve`'s HTTP API against a running server on the demo model: upload once, several
 * instructions streamed as Server-Sent Events, masks equal to the demo's known rectangles,
 * aborts that reach the pipeline, oversize and corrupt uploads answered with a 4xx while the
 * server keeps serving, concurrent clients, and the byte-bounded cache.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEMO_RECTS } from '../scripts/models/demo-package.js';
import { serve, type RunningServer } from '../lib/serve/server.js';
import { demoPackage } from './helpers/demo.js';
import { maskOf, parseSse, type Sse } from './helpers/serve.js';

const root = join(import.meta.dirname, '..');
const shapes = readFileSync(join(root, 'examples', 'shapes.png'));
let server: RunningServer;
let model: string;

beforeAll(async () => {
  model = demoPackage();
  server = await serve({ model, device: 'cpu', port: 0 });
}, 120_000);
afterAll(async () => server?.close());

const api = (path: string, init?: RequestInit) => fetch(new URL(path, server.url), init);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async (r: Response | Promise<Response>): Promise<any> => (await r).json();
const JSON_TYPE = { 'content-type': 'application/json' };

async function upload(bytes: Uint8Array, s: RunningServer = server): Promise<Response> {
  return fetch(new URL('/api/images', s.url), { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
}

async function segment(id: string, instruction: string, s: RunningServer = server, extra: object = {}): Promise<Sse[]> {
  const r = await fetch(new URL(`/api/images/${id}/segment`, s.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instruction, ...extra }),
  });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
  return parseSse(await r.text());
}

function rectMask(name: string, width: number, height: number): Uint8Array {
  const r = DEMO_RECTS.find((x) => x.name === name)!;
  const m = new Uint8Array(width * height);
  for (let y = r.y; y < r.y + r.h; y++) m.fill(1, y * width + r.x, y * width + r.x + r.w);
  return m;
}

describe('hrseg serve: the API', () => {
  it('states the model and device, and serves a page that fetches nothing from outside', async () => {
    const info = await json(api('/api/info'));
    expect(info.model.trained).toBe(false);
    expect(info.device).toBe('cpu');
    const page = await api('/');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(await page.text()).toMatch(/<script type="module" src="\/app.js">/);
    for (const f of readdirSync(join(root, 'assets', 'serve'))) {
      const text = readFileSync(join(root, 'assets', 'serve', f), 'utf8');
      expect(text, f).not.toMatch(/https?:\/\//);
    }
    expect((await api('/app.js')).status).toBe(200);
    expect((await api('/nope')).status).toBe(404);
  });

  it('prepares an image once and answers several instructions, streaming tokens before the result', async () => {
    const up = await upload(shapes);
    expect(up.status).toBe(201);
    const img = await json(up);
    expect(img).toMatchObject({ width: 640, height: 480 });
    expect(img.proposals).toBeGreaterThan(0);
    for (const colour of ['red', 'blue', 'green']) {
      const events = await segment(img.id, `the ${colour} shape`, server, { outlines: true });
      const kinds = events.map((e) => e.event);
      expect(kinds.at(-1)).toBe('result');
      expect(kinds.indexOf('token')).toBeGreaterThanOrEqual(0);
      expect(kinds.lastIndexOf('token')).toBeLessThan(kinds.indexOf('result'));
      const result = events.at(-1)!.data;
      expect(
        events
          .filter((e) => e.event === 'token')
          .map((e) => e.data.text)
          .join(''),
      ).toBe(result.answer);
      const { mask, width, height } = await maskOf(result.mask);
      expect([width, height]).toEqual([640, 480]);
      expect(mask).toEqual(rectMask(colour, 640, 480));
      expect(result.segments).toHaveLength(1);
      expect((await maskOf(result.segments[0].mask)).mask).toEqual(mask);
      // The outline lies on the chosen proposal's border: inside the mask, not filling it.
      const outline = (await maskOf(result.outline)).mask;
      const on = outline.reduce((a, b) => a + b, 0);
      expect(on).toBeGreaterThan(0);
      expect(on).toBeLessThan(mask.reduce((a, b) => a + b, 0) / 4);
      expect(result.timings.total).toBeGreaterThan(0);
    }
  }, 120_000);

  it('refuses oversize, empty and corrupt uploads with a 4xx and a message, and keeps serving', async () => {
    const small = await serve({ model, device: 'cpu', port: 0, maxUploadBytes: 4096 });
    try {
      const big = await upload(shapes, small);
      expect(big.status).toBe(413);
      expect((await json(big)).error.message).toMatch(/over the limit of 4096/);
      const empty = await upload(new Uint8Array(0), small);
      expect(empty.status).toBe(400);
      expect((await json(empty)).error.message).toMatch(/empty/);
      const junk = await upload(new Uint8Array(3000).fill(7), small);
      expect(junk.status).toBe(400);
      expect((await json(junk)).error.code).toBe('INVALID_IMAGE');
      const truncated = await upload(shapes.subarray(0, 2000), small);
      expect(truncated.status).toBe(400);
      expect((await fetch(new URL('/api/info', small.url))).status).toBe(200);
    } finally {
      await small.close();
    }
    const bad = await api('/api/images/00000000-0000-0000-0000-000000000000/segment', { method: 'POST', headers: JSON_TYPE, body: '{"instruction":"x"}' });
    expect(bad.status).toBe(404);
    const up = await json(upload(shapes));
    const notJson = await api(`/api/images/${up.id}/segment`, { method: 'POST', headers: JSON_TYPE, body: 'instruction=red' });
    expect(notJson.status).toBe(400);
    const noText = await api(`/api/images/${up.id}/segment`, { method: 'POST', headers: JSON_TYPE, body: '{"instruction":"  "}' });
    expect(noText.status).toBe(400);
    expect((await api(`/api/images/${up.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api(`/api/images/${up.id}/segment`, { method: 'POST', headers: JSON_TYPE, body: '{"instruction":"the red shape"}' })).status).toBe(404);
  }, 120_000);

  it('aborts the pipeline when the client disconnects, and the next client is served', async () => {
    const s = server.segmenter;
    const original = s.prepare.bind(s);
    const outcomes: string[] = [];
    s.prepare = async (image, options) => {
      try {
        const r = await original(image, options);
        outcomes.push('finished');
        return r;
      } catch (e) {
        outcomes.push((e as { code?: string }).code ?? 'error');
        throw e;
      }
    };
    try {
      const before = server.cache.size;
      const controller = new AbortController();
      const pending = fetch(new URL('/api/images', server.url), {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: shapes,
        signal: controller.signal,
      }).catch((e) => e);
      await new Promise((r) => setTimeout(r, 150));
      controller.abort();
      expect((await pending).name).toBe('AbortError');
      await expect.poll(() => outcomes.length, { timeout: 30_000 }).toBe(1);
      expect(outcomes[0]).toBe('ABORTED');
      expect(server.cache.size).toBe(before);
      const ok = await upload(shapes);
      expect(ok.status).toBe(201);
    } finally {
      s.prepare = original;
    }
  }, 120_000);

  it('serves concurrent clients, each its own answer', async () => {
    const ids = await Promise.all([upload(shapes), upload(shapes)].map(async (r) => (await json(r)).id as string));
    const [a, b] = await Promise.all([segment(ids[0], 'the yellow shape'), segment(ids[1], 'the blue shape')]);
    expect((await maskOf(a.at(-1)!.data.mask)).mask).toEqual(rectMask('yellow', 640, 480));
    expect((await maskOf(b.at(-1)!.data.mask)).mask).toEqual(rectMask('blue', 640, 480));
  }, 120_000);

  it('keeps prepared images within its byte limit, least recently used out first', async () => {
    const s = await serve({ model, device: 'cpu', port: 0, cacheBytes: 1 });
    try {
      const first = await json(upload(shapes, s));
      const second = await json(upload(shapes, s));
      expect(s.cache.size).toBe(1);
      const gone = await fetch(new URL(`/api/images/${first.id}/segment`, s.url), {
        method: 'POST',
        headers: JSON_TYPE,
        body: '{"instruction":"the red shape"}',
      });
      expect(gone.status).toBe(404);
      expect((await json(gone)).error.message).toMatch(/evicted/);
      expect((await segment(second.id, 'the red shape', s)).at(-1)!.event).toBe('result');
    } finally {
      await s.close();
    }
  }, 120_000);
});
