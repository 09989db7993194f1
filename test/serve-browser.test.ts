/**
 * `hrseg serve`'s page in a real browser: Debian's Chromium (headless, no download), driven by
 * playwright-core. Upload examples/shapes.png, ask "the red shape" from the keyboard, wait for the
 * streamed answer, and compare the drawn overlay with the original image: exactly the red
 * rectangle's pixels changed. A screenshot is written to test-results/serve-page.png.
 * CI installs Chromium (.ci/run) and sets HRSEG_REQUIRE_CHROMIUM=1, so there this cannot skip.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEMO_RECTS } from '../scripts/models/demo-package.js';
import { serve, type RunningServer } from '../lib/serve/server.js';
import { demoPackage } from './helpers/demo.js';

const root = join(import.meta.dirname, '..');
const CHROMIUM = process.env.HRSEG_CHROMIUM || '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
const required = process.env.HRSEG_REQUIRE_CHROMIUM === '1';

let server: RunningServer | undefined;
let tokenServer: RunningServer | undefined;
let browser: Browser | undefined;
const TOKEN = 'browser-test-token-0123456789abcdef';

beforeAll(async () => {
  if (!present) return;
  const model = demoPackage();
  server = await serve({ model, device: 'cpu', port: 0 });
  tokenServer = await serve({ model, device: 'cpu', port: 0, token: TOKEN });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await tokenServer?.close();
});

describe('hrseg serve: the page in Chromium', () => {
  it.runIf(required)('Chromium is installed where CI requires it (HRSEG_REQUIRE_CHROMIUM=1)', () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM}: apt-get install chromium`).toBe(true);
  });

  async function drawsTheRedShape(s: RunningServer, name: string): Promise<void> {
    const page = await browser!.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(s.url) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) problems.push(`outside request: ${r.url()}`);
    });
    await page.goto(s.pageUrl);
    await expect.poll(() => page.textContent('#model')).toMatch(/on cpu/);
    expect(await page.isVisible('#untrained')).toBe(true);
    await page.setInputFiles('#file', join(root, 'examples', 'shapes.png'));
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    // Keyboard only: the instruction field has focus after the upload; Enter submits.
    await page.keyboard.type('the red shape');
    await page.keyboard.press('Enter');
    await page.waitForSelector('body[data-state="done"]', { timeout: 60_000 });
    expect(await page.textContent('#answer')).toMatch(/\[SEG\]/);
    // Run in the page (a string: this project's TypeScript has no DOM types).
    const changed = (await page.evaluate(`(() => {
      const read = (id) => {
        const c = document.getElementById(id);
        return c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      };
      const view = read('view'), original = read('original');
      const out = [];
      for (let p = 0; p < view.length / 4; p++)
        if (view[p * 4] !== original[p * 4] || view[p * 4 + 1] !== original[p * 4 + 1] || view[p * 4 + 2] !== original[p * 4 + 2]) out.push(p);
      return out;
    })()`)) as number[];
    const red = DEMO_RECTS.find((r) => r.name === 'red')!;
    const expected: number[] = [];
    for (let y = red.y; y < red.y + red.h; y++) for (let x = red.x; x < red.x + red.w; x++) expected.push(y * 640 + x);
    expect(changed.length).toBe(expected.length);
    expect(changed).toEqual(expected);
    expect(await page.getAttribute('#download', 'href')).toMatch(/^data:image\/png;base64,/);
    expect(await page.isVisible('#timings')).toBe(true);
    mkdirSync(join(root, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(root, 'test-results', `${name}.png`), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }

  it.runIf(present)(
    `draws the red shape's mask over exactly the red rectangle (skipped without ${CHROMIUM}: apt-get install chromium)`,
    async () => {
      await drawsTheRedShape(server!, 'serve-page');
    },
    120_000,
  );

  it.runIf(present)(
    'works with a token: opened from the printed address, it keeps the token out of the address bar and through a reload',
    async () => {
      await drawsTheRedShape(tokenServer!, 'serve-page-token');
      const page = await browser!.newPage();
      await page.goto(tokenServer!.pageUrl);
      await expect.poll(() => page.textContent('#model')).toMatch(/on cpu/);
      expect(page.url()).toBe(tokenServer!.url);
      await page.reload();
      await expect.poll(() => page.textContent('#model')).toMatch(/on cpu/);
      await page.close();
      // Without the token, the page says why instead of working.
      const ctx = await browser!.newContext();
      const fresh = await ctx.newPage();
      await fresh.goto(tokenServer!.url);
      await expect.poll(() => fresh.textContent('#error')).toMatch(/TOKEN_REQUIRED/);
      await ctx.close();
    },
    120_000,
  );
});
