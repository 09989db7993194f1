import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readDataset, reasonSegMask } from '../lib/eval/datasets.js';
import { evaluate, readResults } from '../lib/eval/evaluate.js';
import { aggregate, scoreSample } from '../lib/eval/metrics.js';
import { fillPolygon } from '../lib/eval/polygon.js';
import { createSegmenter, type Segmenter } from '../lib/segmenter.js';
import { demoPackage } from './helpers/demo.js';
import { REASONSEG_EXPECTED, writeLlmSeg40k, writeReasonSeg } from './helpers/eval-fixtures.js';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'hrseg-eval-'));
const model = demoPackage();
let seg: Segmenter;
beforeAll(async () => {
  seg = await createSegmenter({ model });
  await writeReasonSeg(join(work, 'reasonseg'));
});
afterAll(async () => {
  await seg?.dispose();
  rmSync(work, { recursive: true, force: true });
  rmSync(dirname(model), { recursive: true, force: true });
});

describe('metrics', () => {
  it('I and U by hand, ignore pixels excluded, empty union counts as 1', () => {
    const pred = Uint8Array.from([1, 1, 0, 0, 1, 0]);
    const gt = Uint8Array.from([1, 0, 1, 0, 255, 255]);
    expect(scoreSample(pred, gt)).toEqual({ intersection: 1, union: 3, iou: 1 / 3 });
    expect(scoreSample(new Uint8Array(4), Uint8Array.from([0, 255, 0, 0]))).toEqual({ intersection: 0, union: 0, iou: 1 });
    const agg = aggregate([
      { intersection: 1, union: 3, iou: 1 / 3 },
      { intersection: 0, union: 0, iou: 1 },
      { intersection: 5, union: 5, iou: 1 },
    ]);
    expect(agg.gIoU).toBeCloseTo((1 / 3 + 2) / 3, 12);
    expect(agg.cIoU).toBeCloseTo(6 / 8, 12);
  });

  it('polygons fill their inside and outline; ReasonSeg masks: flag skipped, largest first, ignore = 255', () => {
    const m = new Uint8Array(10 * 8);
    fillPolygon(
      m,
      10,
      8,
      [
        [2, 1],
        [6, 1],
        [6, 4],
        [2, 4],
      ],
      1,
    );
    expect(m.reduce((a, v) => a + v, 0)).toBe(5 * 4);
    expect(m[1 * 10 + 2] && m[4 * 10 + 6] && !m[0 * 10 + 2] && !m[4 * 10 + 7]).toBeTruthy();
    const tri = new Uint8Array(9 * 9);
    fillPolygon(
      tri,
      9,
      9,
      [
        [0, 0],
        [8, 0],
        [0, 8],
      ],
      1,
    );
    expect(tri.reduce((a, v) => a + v, 0)).toBe(45); // 9 + 8 + ... + 1
    const gt = reasonSegMask(
      [
        {
          label: 'ignore',
          points: [
            [1, 1],
            [3, 1],
            [3, 3],
            [1, 3],
          ],
        }, // small, drawn last: wins
        {
          label: 'target',
          points: [
            [0, 0],
            [5, 0],
            [5, 5],
            [0, 5],
          ],
        },
        {
          label: 'flag',
          points: [
            [0, 0],
            [7, 0],
            [7, 7],
            [0, 7],
          ],
        },
      ],
      8,
      8,
    );
    expect(gt[2 * 8 + 2]).toBe(255);
    expect(gt[0]).toBe(1);
    expect(gt[7 * 8 + 7]).toBe(0);
  });
});

describe('evaluation on the demo model', () => {
  it('ReasonSeg fixture: gIoU and cIoU as constructed, results file written, resumable', async () => {
    const samples = await readDataset(join(work, 'reasonseg'));
    expect(samples.map((s) => s.id)).toEqual(['a.png#0', 'b.png#0', 'c.png#0', 'd.png#0']);
    const resultsFile = join(work, 'rs.jsonl');
    const seen: number[] = [];
    const first = await evaluate(seg, samples, { resultsFile, limit: 2, onProgress: (d) => seen.push(d) });
    expect(seen).toEqual([1, 2]);
    expect(first.samples).toBe(2);
    const all = await evaluate(seg, samples, { resultsFile });
    expect(all.skipped).toBe(2);
    expect(all.samples).toBe(REASONSEG_EXPECTED.samples);
    expect(all.gIoU).toBeCloseTo(REASONSEG_EXPECTED.gIoU, 12);
    expect(all.cIoU).toBeCloseTo(REASONSEG_EXPECTED.cIoU, 12);
    const rows = await readResults(resultsFile);
    expect(rows.map((r) => [r.id, r.intersection, r.union])).toEqual([
      ['a.png#0', 32000, 32000],
      ['b.png#0', 16800, 16800],
      ['c.png#0', 0, 32000],
      ['d.png#0', 0, 64000],
    ]);
  });

  it("LLM-Seg's scoring: prediction (at the proposals' size) and ground truth nearest-resized to 1024²", async () => {
    const samples = await readDataset(join(work, 'reasonseg'));
    const r = await evaluate(seg, samples, { resultsFile: join(work, 'score1024.jsonl'), scoreSize: 1024, proposalMaxSide: 320 });
    expect(r.gIoU).toBeCloseTo(0.5, 12); // a, b exact; c, d wrong, as at native resolution
    const rows = await readResults(join(work, 'score1024.jsonl'));
    // Red is x 40..239, y 40..199 of 640×480: at 1024², columns o with floor(o·0.625) in [40, 240)
    // (64..383: 320) and rows with floor(o·0.46875) in [40, 200) (86..426: 341).
    expect([rows[0].intersection, rows[0].union]).toEqual([320 * 341, 320 * 341]);
    expect(rows[3].union).toBeGreaterThan(0);
    await expect(evaluate(seg, samples, { resultsFile: join(work, 'bad.jsonl'), scoreSize: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('LLM-Seg40K json: COCO RLE and PNG ground truth', async () => {
    const json = await writeLlmSeg40k(join(work, 'llmseg'));
    const r = await evaluate(seg, await readDataset(json), { resultsFile: join(work, 'llm.jsonl') });
    expect(r).toMatchObject({ samples: 2, gIoU: 1, cIoU: 1 });
  });
});

describe('hrseg eval (CLI)', () => {
  const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
  it('prints gIoU and cIoU, writes results, resumes, and exits 0', async () => {
    const results = join(work, 'cli.jsonl');
    const { stdout, stderr } = await run(process.execPath, [cli, 'eval', join(work, 'reasonseg'), '--model', model, '--results', results, '--limit', '3']);
    expect(stdout).toMatch(/samples: 3 \(0 from/);
    expect(stderr).toMatch(/3\/3 100% .*eta/);
    const again = await run(process.execPath, [cli, 'eval', join(work, 'reasonseg'), '--model', model, '--results', results, '--json']);
    const summary = JSON.parse(again.stdout);
    expect(summary).toMatchObject({ samples: 4, skipped: 3 });
    expect(summary.gIoU).toBeCloseTo(0.5, 12);
    expect(readFileSync(results, 'utf8').trim().split('\n')).toHaveLength(4);
  });

  it('--score-size and --proposal-max-side reach the evaluator; bad values are usage errors', async () => {
    const results = join(work, 'cli1024.jsonl');
    const args = [cli, 'eval', join(work, 'reasonseg'), '--model', model, '--results', results, '--limit', '1', '--json'];
    const { stdout } = await run(process.execPath, [...args, '--score-size', '1024', '--proposal-max-side', '320']);
    expect(JSON.parse(stdout)).toMatchObject({ samples: 1, gIoU: 1 });
    expect(JSON.parse(readFileSync(results, 'utf8').trim()).intersection).toBe(320 * 341);
    const e = await run(process.execPath, [...args, '--score-size', 'big']).catch((x) => x);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/--score-size must be a positive integer/);
  });

  it('a missing dataset exits 1 with a typed message and writes no results', async () => {
    const results = join(work, 'none.jsonl');
    const e = await run(process.execPath, [cli, 'eval', join(work, 'missing'), '--model', model, '--results', results]).catch((x) => x);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/error \[INVALID_ARGUMENT\]: dataset not found/);
    expect(existsSync(results)).toBe(false);
  });
});
