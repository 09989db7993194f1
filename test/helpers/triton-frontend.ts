/**
 * One front-end process for test/triton.test.ts's many-front-ends test (run with node --import
 * tsx): connects a triton segmenter, says "ready" on stdout, waits for "go" on stdin so that all
 * front ends start together, then prepares each of its images once, asks both instructions of it
 * and prints one JSON line of summaries: { results: [{ image, instruction, summary }] }.
 *
 *   node --import tsx test/helpers/triton-frontend.ts <package> <grpc url> <image index>...
 */
import { createInterface } from 'node:readline';

import { createSegmenter } from '../../lib/segmenter.js';
import { FRONT_END_INSTRUCTIONS, frontEndScene, summarize } from './triton.js';

const [model, url, ...images] = process.argv.slice(2) as [string, string, ...string[]];
const seg = await createSegmenter({ model, device: 'triton', triton: { url } });
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line.trim() === 'go') break;
lines.close();
const results = [];
for (const k of images.map(Number)) {
  // One prefix per image, on the server: both instructions fork from it.
  const prepared = await seg.prepare(frontEndScene(k));
  for (const [instruction, form] of FRONT_END_INSTRUCTIONS)
    results.push({ image: k, instruction, summary: summarize(await seg.segment(prepared, instruction, { form })) });
  prepared.release();
}
await seg.dispose();
process.stdout.write(JSON.stringify({ results }) + '\n');
