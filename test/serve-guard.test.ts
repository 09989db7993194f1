/**
 * Who may talk to `hrseg serve` (#33): the Host allow-list on the page and every endpoint (DNS
 * rebinding), the Origin of state-changing requests (cross-site posts), the content types, the
 * token (required beyond loopback; 401 without it or with a wrong one), the safety headers on
 * every answer, and no paths in answers. Every request goes to loopback.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkToken, isLoopback } from '../lib/serve/guard.js';
import { serve, type RunningServer } from '../lib/serve/server.js';
import { demoPackage } from './helpers/demo.js';
import { raw, type RawResponse } from './helpers/serve.js';

const root = join(import.meta.dirname, '..');
const shapes = readFileSync(join(root, 'examples', 'shapes.png'));
const PNG = { 'content-type': 'image/png' };
const JSON_TYPE = { 'content-type': 'application/json' };
const TOKEN = 'sixteen-plus-chars-token-0123456789';
let model: string;
let server: RunningServer;
let port: string;

beforeAll(async () => {
  model = demoPackage();
  server = await serve({ model, device: 'cpu', port: 0 });
  port = new URL(server.url).port;
}, 120_000);
afterAll(async () => server?.close());

async function prepared(s: RunningServer = server, headers: Record<string, string> = {}): Promise<string> {
  const r = await raw(s.url, 'POST', '/api/images', { ...PNG, ...headers }, shapes);
  expect(r.status, `${r.text} ${JSON.stringify(r.headers)}`).toBe(201);
  return r.json().id;
}

function expectSafetyHeaders(r: RawResponse, what: string): void {
  expect(r.headers['x-content-type-options'], what).toBe('nosniff');
  expect(r.headers['referrer-policy'], what).toBe('no-referrer');
  expect(r.headers['content-security-policy'], what).toMatch(/frame-ancestors 'none'/);
}

describe('hrseg serve: who may talk to it', () => {
  it('answers 403 to a foreign Host on the page and on every endpoint, empty Host and look-alikes included', async () => {
    const id = await prepared();
    const requests: Array<[string, string, Record<string, string>, (Uint8Array | string)?]> = [
      ['GET', '/', {}],
      ['GET', '/app.js', {}],
      ['GET', '/style.css', {}],
      ['GET', '/api/info', {}],
      ['GET', '/nope', {}],
      ['POST', '/api/images', PNG, shapes],
      ['POST', `/api/images/${id}/segment`, JSON_TYPE, '{"instruction":"the red shape"}'],
      ['DELETE', `/api/images/${id}`, {}],
    ];
    const foreign = [
      `attacker.example:${port}`,
      `localhost.attacker.example:${port}`,
      `127.0.0.1.attacker.example:${port}`,
      `attacker.example`,
      '',
      `localhost:${Number(port) + 1}`, // another port: another server's name
      'localhost', // no port
      `localhost:${port}.attacker.example`,
    ];
    for (const host of foreign)
      for (const [method, path, headers, body] of requests) {
        const r = await raw(server.url, method, path, { ...headers, host }, body);
        expect(r.status, `${method} ${path} Host '${host}'`).toBe(403);
        expect(r.json().error.code).toBe('HOST_NOT_ALLOWED');
        expect(r.json().error.message).toMatch(/--allow-host/);
        expectSafetyHeaders(r, `${method} ${path} Host '${host}'`);
      }
    // The foreign DELETE did nothing; the allowed names all work.
    expect(server.cache.has(id)).toBe(true);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`])
      expect((await raw(server.url, 'GET', '/api/info', { host })).status, host).toBe(200);
  }, 120_000);

  it('refuses state-changing requests from another origin, text/plain form posts included', async () => {
    const id = await prepared();
    for (const origin of [
      'http://attacker.example',
      `http://attacker.example:${port}`,
      'null',
      `http://localhost.attacker.example:${port}`,
      `file://`,
      `http://127.0.0.1:${Number(port) + 1}`,
    ]) {
      for (const [type, body] of [
        ['image/png', shapes],
        ['text/plain', shapes],
      ] as const) {
        const r = await raw(server.url, 'POST', '/api/images', { 'content-type': type, origin }, body);
        expect(r.status, `${origin} ${type}`).toBe(403);
        expect(r.json().error.code).toBe('ORIGIN_NOT_ALLOWED');
      }
      const seg = await raw(server.url, 'POST', `/api/images/${id}/segment`, { ...JSON_TYPE, origin }, '{"instruction":"the red shape"}');
      expect(seg.status, origin).toBe(403);
      expect((await raw(server.url, 'DELETE', `/api/images/${id}`, { origin })).status, origin).toBe(403);
    }
    expect(server.cache.has(id)).toBe(true);
    // The page's own origin, under each of its names, and a client that sends none.
    for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`])
      expect((await raw(server.url, 'POST', '/api/images', { ...PNG, origin }, shapes)).status, origin).toBe(201);
    expect((await raw(server.url, 'DELETE', `/api/images/${id}`, { origin: `http://localhost:${port}` })).status).toBe(204);
  }, 120_000);

  it('takes uploads only as image types or octet-stream and instructions only as JSON (415 otherwise)', async () => {
    for (const type of [
      'text/plain',
      'text/plain;charset=UTF-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json',
      undefined,
    ]) {
      const r = await raw(server.url, 'POST', '/api/images', type === undefined ? {} : { 'content-type': type }, shapes);
      expect(r.status, String(type)).toBe(415);
      expect(r.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
    for (const type of ['image/png', 'IMAGE/PNG', 'image/jpeg', 'application/octet-stream']) {
      const r = await raw(server.url, 'POST', '/api/images', { 'content-type': type }, shapes);
      expect(r.status, type).toBe(201);
    }
    const id = await prepared();
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      const r = await raw(
        server.url,
        'POST',
        `/api/images/${id}/segment`,
        type === undefined ? {} : { 'content-type': type },
        '{"instruction":"the red shape"}',
      );
      expect(r.status, String(type)).toBe(415);
    }
    expect(
      (await raw(server.url, 'POST', `/api/images/${id}/segment`, { 'content-type': 'application/json; charset=utf-8' }, '{"instruction":"the red shape"}'))
        .status,
    ).toBe(200);
  }, 120_000);

  it('sends the safety headers on every answer and no paths of this machine', async () => {
    const id = await prepared();
    const answers: Array<[string, RawResponse]> = [
      ['page', await raw(server.url, 'GET', '/')],
      ['app.js', await raw(server.url, 'GET', '/app.js')],
      ['info', await raw(server.url, 'GET', '/api/info')],
      ['404', await raw(server.url, 'GET', '/nope')],
      ['415', await raw(server.url, 'POST', '/api/images', { 'content-type': 'text/plain' }, 'x')],
      ['400', await raw(server.url, 'POST', '/api/images', PNG, new Uint8Array(100).fill(7))],
      ['segment', await raw(server.url, 'POST', `/api/images/${id}/segment`, JSON_TYPE, '{"instruction":"the red shape"}')],
      ['204', await raw(server.url, 'DELETE', `/api/images/${id}`)],
    ];
    for (const [what, r] of answers) {
      expectSafetyHeaders(r, `${what} ${r.status} ${r.text} ${JSON.stringify(r.headers)}`);
      expect(r.text, what).not.toContain(model);
      expect(r.text, what).not.toContain(tmpdir());
      expect(r.text, what).not.toContain(root);
    }
    expect(answers[0][1].headers['content-security-policy']).toMatch(/default-src 'self'/);
    const info = answers[2][1].json();
    expect(info.model.dir).toBeUndefined();
    expect(info.limits.maxPixels).toBe(40_000_000);
  }, 120_000);

  it('lets --allow-host names in, exactly, with or without the port', async () => {
    const s = await serve({ model, device: 'cpu', port: 0, allowHosts: ['proxy.example', 'other.example:8443'] });
    try {
      const p = new URL(s.url).port;
      for (const host of ['proxy.example', `proxy.example:${p}`, 'other.example:8443', `localhost:${p}`])
        expect((await raw(s.url, 'GET', '/api/info', { host })).status, host).toBe(200);
      for (const host of ['other.example', `other.example:${p}`, 'xproxy.example', 'proxy.example.attacker.example', 'proxy.example:1'])
        expect((await raw(s.url, 'GET', '/api/info', { host })).status, host).toBe(403);
      expect((await raw(s.url, 'POST', '/api/images', { ...PNG, host: 'proxy.example', origin: 'https://proxy.example' }, shapes)).status).toBe(201);
    } finally {
      await s.close();
    }
    await expect(serve({ model, device: 'cpu', port: 0, allowHosts: ['http://x/'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  }, 120_000);
});

describe('hrseg serve: the token', () => {
  it('refuses to start on an address beyond loopback without a token, before binding it', async () => {
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: were the check missing, binding would
    // fail with EADDRNOTAVAIL, not the token's message, and nothing is ever exposed.
    const e = await serve({ model, device: 'cpu', port: 0, host: '192.0.2.1' }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((e as Error).message).toMatch(/not a loopback address.*needs a token.*--token.*HRSEG_SERVE_TOKEN/);
    // The same rule for every address, checked without serving on any of them.
    for (const host of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', '::ffff:10.0.0.1'])
      expect(() => checkToken(undefined, host), host).toThrow(/needs a token/);
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      expect(isLoopback(host), host).toBe(true);
      expect(() => checkToken(undefined, host), host).not.toThrow();
    }
    await expect(serve({ model, device: 'cpu', port: 0, token: 'short' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('answers 401 without the token or with a wrong one, 200 with it (header or the page cookie); the page itself is open', async () => {
    const s = await serve({ model, device: 'cpu', port: 0, token: TOKEN });
    try {
      const p = new URL(s.url).port;
      expect(s.pageUrl).toBe(`${s.url}?token=${TOKEN}`);
      const none = await raw(s.url, 'GET', '/api/info');
      expect(none.status).toBe(401);
      expect(none.json().error.code).toBe('TOKEN_REQUIRED');
      expect(none.headers['www-authenticate']).toBe('Bearer');
      for (const wrong of [`${TOKEN}x`, TOKEN.slice(0, -1), TOKEN.toUpperCase(), 'x', '']) {
        for (const headers of [{ authorization: `Bearer ${wrong}` }, { cookie: `hrseg_token_${p}=${wrong}` }] as Record<string, string>[]) {
          const r = await raw(s.url, 'GET', '/api/info', headers);
          expect(r.status, JSON.stringify(headers)).toBe(401);
        }
        expect((await raw(s.url, 'POST', '/api/images', { ...PNG, authorization: `Bearer ${wrong}` }, shapes)).status).toBe(401);
      }
      // Another port's cookie is another server's.
      expect((await raw(s.url, 'GET', '/api/info', { cookie: `hrseg_token_${Number(p) + 1}=${TOKEN}` })).status).toBe(401);
      expect((await raw(s.url, 'GET', '/api/info', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
      expect((await raw(s.url, 'GET', '/api/info', { cookie: `a=b; hrseg_token_${p}=${TOKEN}` })).status).toBe(200);
      const up = await raw(s.url, 'POST', '/api/images', { ...PNG, authorization: `Bearer ${TOKEN}` }, shapes);
      expect(up.status).toBe(201);
      const id = up.json().id;
      expect((await raw(s.url, 'POST', `/api/images/${id}/segment`, JSON_TYPE, '{"instruction":"the red shape"}')).status).toBe(401);
      expect((await raw(s.url, 'DELETE', `/api/images/${id}`)).status).toBe(401);
      expect((await raw(s.url, 'DELETE', `/api/images/${id}`, { authorization: `Bearer ${TOKEN}` })).status).toBe(204);
      expect((await raw(s.url, 'GET', '/')).status).toBe(200);
      // The Host check comes first: a rebinding page learns nothing, not even that a token is asked.
      expect((await raw(s.url, 'GET', '/api/info', { host: 'attacker.example', authorization: `Bearer ${TOKEN}` })).status).toBe(403);
    } finally {
      await s.close();
    }
  }, 120_000);
});
