import { describe, expect, it } from 'vitest';
import { HrsegError } from '../lib/index.js';
import { spin } from '../lib/testing.js';

describe('native work runs off the event loop', () => {
  it('timers keep firing while a long native operation runs', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    try {
      const iterations = await spin(600);
      expect(iterations).toBeGreaterThan(0);
    } finally {
      clearInterval(timer);
    }
    // 600 ms of native work; a blocked loop would allow at most one tick.
    expect(ticks).toBeGreaterThanOrEqual(20);
  });

  it('an AbortSignal stops the operation with an abort error', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('user gave up')), 50);
    const error = await spin(30_000, controller.signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HrsegError);
    expect((error as HrsegError).code).toBe('ABORTED');
    expect((error as HrsegError).name).toBe('AbortError');
    expect((error as HrsegError).message).toMatch(/user gave up/);
    // It stopped, rather than running its 30 s to the end.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('an already-aborted signal rejects before any work starts', async () => {
    const error = await spin(30_000, AbortSignal.abort()).catch((e: unknown) => e);
    expect((error as HrsegError).code).toBe('ABORTED');
  });

  it('several operations run concurrently and each settles', async () => {
    const results = await Promise.all([spin(100), spin(100), spin(100)]);
    for (const r of results) expect(r).toBeGreaterThan(0);
  });
});
