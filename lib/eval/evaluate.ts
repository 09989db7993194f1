/**
 * Runs a segmenter over a dataset: per-sample results appended to a JSONL file as they finish (so
 * an interrupted run loses nothing and resumes where it stopped), progress with an ETA, and the
 * split's gIoU / cIoU at the end, over every sample in the results file.
 */
import { appendFile, readFile } from 'node:fs/promises';

import { abortError } from '../abort.js';
import { HrsegError } from '../errors.js';
import { resizeNearest } from '../pipeline/resize.js';
import type { Segmenter } from '../segmenter.js';
import { aggregate, scoreSample, type Aggregate, type SampleScore } from './metrics.js';
import type { Sample } from './datasets.js';

export interface SampleResult extends SampleScore {
  id: string;
  instruction: string;
  answer: string;
  chosen: number[];
  ms: number;
}

export interface EvaluateOptions {
  /** JSONL file of per-sample results; existing lines are kept and their samples skipped. */
  resultsFile: string;
  limit?: number;
  signal?: AbortSignal;
  /** Default: the package's vlm.evalMode (teacher-forced for llm-seg and lisa, as their evaluators). */
  mode?: 'generate' | 'teacher-forced';
  /**
   * Score at size × size instead of the ground truth's resolution: prediction and ground truth are
   * both resized there with PyTorch's nearest resize before I and U are counted (LLM-Seg's scorer,
   * LS training.py:735-740, uses 1024). The prediction is taken at the proposals' size when
   * `proposalMaxSide` shrank the image, as LLM-Seg's is.
   */
  scoreSize?: number;
  /** Passed to segment(): SAM runs on the image shrunk to this longest side (LLM-Seg: 1024). */
  proposalMaxSide?: number;
  onProgress?: (done: number, total: number, last: SampleResult) => void;
}

export async function readResults(file: string): Promise<SampleResult[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const out: SampleResult[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as SampleResult);
    } catch {
      // A line cut short by a crash mid-write: ignored; that sample runs again.
    }
  }
  return out;
}

export async function evaluate(segmenter: Segmenter, samples: readonly Sample[], options: EvaluateOptions): Promise<Aggregate & { skipped: number }> {
  const size = options.scoreSize;
  if (size !== undefined && (!Number.isInteger(size) || size < 1))
    throw new HrsegError('INVALID_ARGUMENT', `scoreSize must be a positive integer, got ${size}`);
  const previous = await readResults(options.resultsFile);
  const done = new Set(previous.map((r) => r.id));
  const chosen = samples.slice(0, options.limit ?? samples.length);
  const todo = chosen.filter((s) => !done.has(s.id));
  const results: SampleScore[] = previous.filter((r) => chosen.some((s) => s.id === r.id));
  let n = chosen.length - todo.length;
  for (const sample of todo) {
    if (options.signal?.aborted) throw abortError(options.signal);
    const t0 = performance.now();
    const r = await segmenter.segment(sample.image, sample.instruction, {
      form: sample.isSentence ? 'sentence' : 'phrase',
      mode: options.mode ?? segmenter.model.vlm.evalMode,
      proposalMaxSide: options.proposalMaxSide,
      signal: options.signal,
    });
    const gt = await sample.groundTruth();
    if (gt.width !== r.width || gt.height !== r.height)
      throw new Error(`${sample.id}: ground truth is ${gt.width}×${gt.height}, the image ${r.width}×${r.height}`);
    let score;
    if (size === undefined) score = scoreSample(r.mask, gt.mask);
    else {
      const p = r.lowRes ?? { mask: r.mask, width: r.width, height: r.height };
      score = scoreSample(resizeNearest(p.mask, 1, p.height, p.width, size, size), resizeNearest(gt.mask, 1, gt.height, gt.width, size, size));
    }
    const row: SampleResult = { id: sample.id, instruction: sample.instruction, answer: r.answer, chosen: r.chosen, ms: performance.now() - t0, ...score };
    // One line per sample, appended whole: an interruption loses at most the sample in flight.
    await appendFile(options.resultsFile, JSON.stringify(row) + '\n');
    results.push(score);
    options.onProgress?.(++n, chosen.length, row);
  }
  return { ...aggregate(results), skipped: chosen.length - todo.length };
}
