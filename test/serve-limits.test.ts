/**
 * Bounded work in `hrseg serve` (#33): a pixel bomb refused from its header (413 IMAGE_TOO_LARGE,
 * nothing decoded, memory flat), overload answered 503 with Retry-After while the server stays
 * usable, the per-request deadline, slow clients timed out, and the cache's count of what a
 * prepared image holds. Every request goes to loopback.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ENTRY_OVERHEAD, preparedBytes } from '../lib/serve/footprint.js';
import { Gate } from '../lib/serve/limits.js';
import { serve, type RunningServer } from '../lib/serve/server.js';
import type { PreparedImage } from '../lib/segmenter.js';
import { demoPackage } from './helpers/demo.js';
import { raw } from './helpers/serve.js';

const root = join(import.meta.dirname, '..');
const shapes = readFileSync(join(root, 'examples', 'shapes.png'));
const PNG = { 'content-type': 'image/png' };
const MB = 2 ** 20;
let model: string;
let bomb: Buffer;

beforeAll(async () => {
  model = demoPackage();
  // The bomb: 16,000 × 16,000 black pixels, ~730 KB of PNG, 768 MB decoded.
  bomb = await sharp({ create: { width: 16000, height: 16000, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .png({ compressionLevel: 9 })
    .toBuffer();
}, 120_000);

function status(pid: number | 'self'): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)![1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** A prepare that waits until `open()` (or its signal): holds a slot for as long as a test needs. */
function holdPrepares(s: RunningServer) {
  const original = s.segmenter.prepare.bind(s.segmenter);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let started = 0;
  s.segmenter.prepare = async (image, options) => {
    started++;
    await new Promise<void>((resolve, reject) => {
      void gate.then(resolve);
      options?.signal?.addEventListener('abort', () => reject(options.signal!.reason), { once: true });
    });
    return original(image, options);
  };
  return { open: () => open(), started: () => started, restore: () => (s.segmenter.prepare = original) };
}

describe('hrseg serve: bounded work', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await serve({ model, device: 'cpu', port: 0 });
  }, 120_000);
  afterAll(async () => server?.close());

  it('refuses a pixel bomb from its header: 413 IMAGE_TOO_LARGE, nothing decoded, resident memory flat', async () => {
    expect(bomb.length).toBeLessThan(1024 * 1024);
    let prepares = 0;
    const original = server.segmenter.prepare.bind(server.segmenter);
    server.segmenter.prepare = (...a) => (prepares++, original(...a));
    try {
      // Peak RSS reset (Linux: clear_refs 5), so VmHWM says what this request cost at most.
      writeFileSync('/proc/self/clear_refs', '5');
      const before = status('self').rss;
      const r = await raw(server.url, 'POST', '/api/images', PNG, bomb);
      const grew = status('self').hwm - before;
      expect(r.status).toBe(413);
      expect(r.json().error.code).toBe('IMAGE_TOO_LARGE');
      expect(r.json().error.message).toMatch(/16000×16000 = 256000000 pixels, over the limit of 40000000 \(--max-pixels\)/);
      expect(prepares).toBe(0);
      expect(grew).toBeLessThan(100 * MB);
      expect((await raw(server.url, 'POST', '/api/images', PNG, shapes)).status).toBe(201);
    } finally {
      server.segmenter.prepare = original;
    }
  }, 120_000);

  it('applies --max-pixels, and refuses an image whose header cannot be read with 400', async () => {
    const s = await serve({ model, device: 'cpu', port: 0, maxPixels: 640 * 480 - 1 });
    try {
      const r = await raw(s.url, 'POST', '/api/images', PNG, shapes);
      expect(r.status).toBe(413);
      expect(r.json().error.code).toBe('IMAGE_TOO_LARGE');
      const junk = await raw(s.url, 'POST', '/api/images', PNG, Buffer.from('GIF89a not really'));
      expect(junk.status).toBe(400);
      expect(junk.json().error.code).toBe('INVALID_IMAGE');
    } finally {
      await s.close();
    }
  }, 120_000);

  it('answers 503 with Retry-After past the running and waiting places, without reading the body, and recovers', async () => {
    const s = await serve({ model, device: 'cpu', port: 0, maxConcurrent: 1, maxQueue: 1 });
    const hold = holdPrepares(s);
    try {
      const first = raw(s.url, 'POST', '/api/images', PNG, shapes);
      await expect.poll(hold.started).toBe(1);
      const second = raw(s.url, 'POST', '/api/images', PNG, shapes);
      await expect.poll(async () => (await raw(s.url, 'GET', '/api/info')).json().load.prepares).toEqual({ running: 1, waiting: 1 });
      for (let i = 0; i < 3; i++) {
        const busy = await raw(s.url, 'POST', '/api/images', PNG, shapes);
        expect(busy.status).toBe(503);
        expect(busy.json().error.code).toBe('BUSY');
        expect(Number(busy.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(busy.headers['x-content-type-options']).toBe('nosniff');
      }
      // Instructions have their own places: the page stays usable while uploads queue.
      expect((await raw(s.url, 'GET', '/api/info')).status).toBe(200);
      hold.open();
      expect((await first).status).toBe(201);
      expect((await second).status).toBe(201);
      expect((await raw(s.url, 'GET', '/api/info')).json().load.prepares).toEqual({ running: 0, waiting: 0 });
      expect((await raw(s.url, 'POST', '/api/images', PNG, shapes)).status).toBe(201);
    } finally {
      hold.restore();
      await s.close();
    }
  }, 120_000);

  it('ends a request at its deadline with 503 DEADLINE_EXCEEDED and frees its place', async () => {
    const s = await serve({ model, device: 'cpu', port: 0, maxConcurrent: 1, maxQueue: 0, deadlineMs: 300 });
    const hold = holdPrepares(s);
    try {
      const r = await raw(s.url, 'POST', '/api/images', PNG, shapes);
      expect(r.status).toBe(503);
      expect(r.json().error.code).toBe('DEADLINE_EXCEEDED');
      expect((await raw(s.url, 'GET', '/api/info')).json().load.prepares).toEqual({ running: 0, waiting: 0 });
    } finally {
      hold.restore();
      await s.close();
    }
  }, 120_000);

  it('drops a client that sends its headers or its body too slowly', async () => {
    const s = await serve({ model, device: 'cpu', port: 0, headersTimeoutMs: 300, requestTimeoutMs: 600 });
    try {
      const port = Number(new URL(s.url).port);
      const trickle = (head: string, more: string) =>
        new Promise<string>((resolve) => {
          const sock = connect(port, '127.0.0.1');
          let got = '';
          sock.on('data', (d) => (got += d));
          sock.on('error', () => {});
          sock.write(head);
          const t = setInterval(() => sock.writable && sock.write(more), 100);
          sock.on('close', () => {
            clearInterval(t);
            resolve(got);
          });
        });
      const host = `127.0.0.1:${port}`;
      expect(await trickle(`GET /api/info HTTP/1.1\r\nHost: ${host}\r\n`, 'X-Slow: 1\r\n')).toMatch(/^HTTP\/1\.1 408/);
      expect(await trickle(`POST /api/images HTTP/1.1\r\nHost: ${host}\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n`, 'x')).toMatch(
        /^(HTTP\/1\.1 408|$)/,
      );
      expect((await raw(s.url, 'GET', '/api/info')).json().load.prepares).toEqual({ running: 0, waiting: 0 });
    } finally {
      await s.close();
    }
  }, 120_000);
});

describe('hrseg serve: what the cache counts', () => {
  it("counts every array a prepared image holds, the VLM's key/value cache included", async () => {
    const s = await serve({ model, device: 'cpu', port: 0 });
    try {
      const id = (await raw(s.url, 'POST', '/api/images', PNG, shapes)).json().id;
      const held = s.cache.acquire(id)!;
      const p = held.value as PreparedImage;
      // Every typed array reachable from the prepared image (not the segmenter it points back to).
      const arrays = new Set<ArrayBufferView>();
      const walk = (v: unknown, seen: Set<unknown>) => {
        if (v === null || typeof v !== 'object' || seen.has(v)) return;
        seen.add(v);
        if (ArrayBuffer.isView(v)) return void arrays.add(v);
        for (const [k, x] of Object.entries(v)) if (k !== 'owner') walk(x, seen);
      };
      walk(p, new Set());
      const reachable = [...arrays].reduce((n, a) => n + a.byteLength, 0);
      // The key/value cache (in ONNX Runtime's values here): reachable, and what the old count left out.
      const past = Object.values(p.vlm.past).reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1) * 4, 0);
      expect(Object.values(p.vlm.past).every((t) => t.dtype === 'float32')).toBe(true);
      expect(past).toBeGreaterThan(0);
      expect(reachable).toBeGreaterThan(past);
      // Exactly the arrays it holds, each once, besides the fixed allowance for the objects.
      expect(preparedBytes(p) - ENTRY_OVERHEAD).toBe(reachable);
      expect(s.cache.bytes).toBe(preparedBytes(p));
      held.done();
    } finally {
      await s.close();
    }
  }, 120_000);

  it('Gate: at most `concurrent` run, `queue` wait, the rest are refused; an aborted wait gives its place back', async () => {
    const g = new Gate('prepares', 2, 1);
    const [a, b, c] = [g.admit(), g.admit(), g.admit()];
    expect(() => g.admit()).toThrow(/busy/);
    await a.run();
    await b.run();
    const controller = new AbortController();
    const waiting = c.run(controller.signal);
    expect([g.running, g.waiting]).toEqual([2, 1]);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
    c.release();
    const d = g.admit();
    const dRun = d.run();
    a.release();
    await dRun;
    expect([g.running, g.waiting]).toEqual([2, 0]);
    a.release(); // idempotent
    expect([g.running, g.waiting]).toEqual([2, 0]);
  });
});
