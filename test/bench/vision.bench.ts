/**
 * The vision backbones at their real sizes on this CPU, from random weights in the real key
 * layouts (hrseg convert's random:* checkpoints): SAM ViT-H's image encoder (1024²), its decoder
 * for 64 point prompts (one decoder batch of the automatic mask generator), and DINOv2 ViT-L/14
 * on the global view and the 2² local crops (5 × 518²). For each: time, FLOPs (main terms,
 * counted below), GFLOP/s against this CPU's fp32 FMA peak measured in the same run, and the
 * process's peak RSS. Skipped with HRSEG_BENCH_VISION=0 (it writes 3.6 GB of models to the temp
 * directory and takes a few minutes on 2 cores).
 *
 * ONNX Runtime session options: graphOptimizationLevel 'all' (its LayerNorm/GELU/attention
 * fusions apply to these graphs), intraOpNumThreads = the cores hrseg uses, interOpNumThreads 1
 * (the graphs are one chain; a second pool would only compete), sequential execution.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { it } from 'vitest';

import { convert } from '../../lib/convert/convert.js';
import { runtimeInfo } from '../../lib/runtime.js';
import { measureCpuPeaks } from '../../scripts/bench/cpu-peaks.js';
import { dinoFlops, samDecoderFlops, samEncoderFlops } from '../../scripts/bench/flops.js';
import { makeRng, uniform } from '../helpers/random.js';

const RUNS = Number(process.env.HRSEG_BENCH_VISION_RUNS ?? 2);
const skip = process.env.HRSEG_BENCH_VISION === '0';

it.skipIf(skip)(
  'vision backbones at real sizes (random weights) on this CPU',
  async () => {
    const threads = runtimeInfo().cpuThreads;
    const dir = mkdtempSync(join(tmpdir(), 'hrseg-vision-bench-'));
    const rss = () => process.resourceUsage().maxRSS / 2 ** 20; // GiB (maxRSS is in KiB)
    const rows: [string, string][] = [];
    try {
      const t0 = performance.now();
      await convert({ sam: 'random:sam-vit-h', dino: 'random:dinov2-vitl14', out: join(dir, 'pkg') });
      rows.push([
        'hrseg convert --random sam-vit-h,dinov2-vitl14 (3.6 GB)',
        `${((performance.now() - t0) / 1000).toFixed(1)} s, peak RSS so far ${rss().toFixed(2)} GiB`,
      ]);
      // The fastest fp32 FMA this CPU has (AVX-512 where present: what ONNX Runtime's GEMMs use).
      const peaks = await measureCpuPeaks(0.3, 256 * 2 ** 20);
      const peak = peaks.best.fp32.perSecond;
      const options: ort.InferenceSession.SessionOptions = {
        graphOptimizationLevel: 'all',
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
      };
      const rng = makeRng(3);
      const stage = async (name: string, file: string, feeds: Record<string, ort.Tensor>, flops: number) => {
        const s = await ort.InferenceSession.create(join(dir, 'pkg', file), options);
        await s.run(feeds); // warm-up
        const times: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const t = performance.now();
          await s.run(feeds);
          times.push(performance.now() - t);
        }
        await s.release();
        const ms = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
        const rate = flops / (ms / 1000) / 1e9;
        rows.push([
          name,
          `${(ms / 1000).toFixed(2)} s, ${(flops / 1e12).toFixed(2)} TFLOP, ${rate.toFixed(1)} GFLOP/s = ${((100 * rate * 1e9) / peak).toFixed(1)} % of peak, peak RSS ${rss().toFixed(2)} GiB`,
        ]);
      };
      await stage(
        'SAM ViT-H image encoder, 1024²',
        'sam/encoder.onnx',
        { image: new ort.Tensor('float32', uniform(rng, 3 * 1024 * 1024, 2), [1, 3, 1024, 1024]) },
        samEncoderFlops(1280, 32, 4),
      );
      await stage(
        'SAM decoder, 64 point prompts',
        'sam/decoder.onnx',
        {
          image_embeddings: new ort.Tensor('float32', uniform(rng, 256 * 64 * 64), [1, 256, 64, 64]),
          point_coords: new ort.Tensor(
            'float32',
            uniform(rng, 128, 512).map((v) => v + 512),
            [64, 1, 2],
          ),
          point_labels: new ort.Tensor('float32', new Float32Array(64).fill(1), [64, 1]),
        },
        samDecoderFlops(64),
      );
      await stage(
        'DINOv2 ViT-L/14, 5 views of 518² (global + 2² crops)',
        'dino/encoder.onnx',
        { pixel_values: new ort.Tensor('float32', uniform(rng, 5 * 3 * 518 * 518, 2), [5, 3, 518, 518]) },
        dinoFlops(5, 1370, 1024, 24),
      );
      console.log(
        `\nvision backbones on this CPU: ${threads} threads, ${peaks.best.fp32.name} peak ${(peak / 1e9).toFixed(1)} GFLOP/s, median of ${RUNS} runs after a warm-up`,
      );
      for (const [k, v] of rows) console.log(`  ${k.padEnd(58)} ${v}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  3_600_000,
);
