/**
 * Stage 3, reasoning: the VLM continues the image's prefix with the instruction and answers,
 * token by token; each [SEG] it writes leaves its hidden state h_seg for the mask step.
 */
import type { ModelPackage } from '../package/manifest.js';
import type { VlmAnswer, VlmContext, VlmRunner } from '../vlm/runner.js';
import type { SegmentEvent, SegmentOptions } from './types.js';

export async function* reasoningStage(
  vlm: VlmRunner,
  prefix: VlmContext,
  instruction: string,
  pkg: ModelPackage,
  options: SegmentOptions,
): AsyncGenerator<Extract<SegmentEvent, { type: 'token' }>, VlmAnswer> {
  const stream = vlm.stream(prefix, instruction, {
    form: options.form ?? pkg.vlm.queryForm,
    mode: options.mode ?? pkg.vlm.mode,
    maxNewTokens: options.maxNewTokens,
    signal: options.signal,
  });
  for (;;) {
    const n = await stream.next();
    if (n.done) return n.value;
    yield { type: 'token', id: n.value.id, text: n.value.text };
  }
}
