/**
 * Loading a package's parts from an engine source: SAM's encoder and the VLM for every preset,
 * then the method's own (the head's SAM decoder, DINOv2 and head; or LISA's decoder and
 * text_hidden_fcs). Everything loads at once, the widths that must agree across files are checked,
 * and every problem is reported in one error; whatever did load is closed again when any failed.
 */
import { abortError } from '../abort.js';
import type { EngineSource } from '../engines/provider.js';
import type { Engine } from '../engines/types.js';
import { HrsegError } from '../errors.js';
import { Head } from '../head.js';
import { LisaHead, TextProjection } from '../lisa/head.js';
import { lisaMethod } from '../lisa/method.js';
import type { ModelPackage } from '../package/manifest.js';
import { usesProposals } from '../package/presets.js';
import { VlmRunner } from '../vlm/runner.js';
import { headMethod } from './head-method.js';
import type { Method } from './method.js';

export interface LoadedParts {
  method: Method;
  vlm: VlmRunner;
}

export async function loadParts(pkg: ModelPackage, source: EngineSource, signal?: AbortSignal): Promise<LoadedParts> {
  const f = pkg.files;
  const lisa = !usesProposals(pkg.preset);
  // A provider's open may throw before it returns a promise: made a rejection here, so that
  // whatever else was already opening is still collected and closed below.
  const open: EngineSource['open'] = (component, options) => Promise.resolve().then(() => source.open(component, options));
  const encoder = open('sam/encoder');
  const vlmLoad = VlmRunner.load(
    { vision: f.vlmVision, decoder: f.vlmDecoder, embeddings: f.vlmEmbeddings, tokenizer: f.tokenizer, tokenizerConfig: f.tokenizerConfig },
    pkg.vlm,
    // A device-resident decoder keeps its key/value cache at the size its engines were built for.
    { open: (component, bindings) => open(component, { bindings }), ...(source.kvContext !== undefined ? { context: source.kvContext } : {}) },
  );
  const parts: Promise<unknown>[] = lisa
    ? [open('sam/prompt-decoder'), (async () => TextProjection.load(f.head))()]
    : [open('sam/decoder'), open('dino/encoder'), Head.load(f.head, pkg.head, { device: source.compute })];
  const results = await Promise.allSettled([encoder, vlmLoad, ...parts]);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
  const problems = failures.map((e) => e.message);
  // Out of memory is this machine's state, and a remote server that is gone (UNAVAILABLE) or serves
  // something else (ENGINE_MISMATCH) is the server's: not the package's fault, so their code is kept.
  const code =
    (['OUT_OF_MEMORY', 'UNAVAILABLE', 'ENGINE_MISMATCH'] as const).find((c) => failures.some((e) => e instanceof HrsegError && e.code === c)) ?? 'MODEL_FILE';
  const ok = results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
  const [samEncoder, vlm] = ok as [Engine?, VlmRunner?];
  const [a, b, head] = ok.slice(2) as [Engine | undefined, unknown, Head | undefined];
  problems.push(...widthProblems(pkg, vlm, lisa ? (b as TextProjection | undefined) : undefined));
  if (problems.length > 0 || signal?.aborted) {
    await Promise.all([samEncoder?.dispose(), vlm?.dispose(), a?.dispose(), lisa ? undefined : (b as Engine | undefined)?.dispose()]);
    head?.dispose();
    if (signal?.aborted && problems.length === 0) throw abortError(signal);
    throw new HrsegError(code, `model package ${pkg.dir} could not be loaded:\n  - ${problems.join('\n  - ')}`);
  }
  const method = lisa
    ? lisaMethod(pkg, samEncoder!, new LisaHead(b as TextProjection, a!, pkg.views.sam.size))
    : headMethod(pkg, { samEncoder: samEncoder!, samDecoder: a!, dino: b as Engine, head: head! }, source.compute, source.outputsOnDevice);
  return { method, vlm: vlm! };
}

/** The hidden and prompt widths that the VLM, the head (or text_hidden_fcs) and LISA's decoder must share. */
function widthProblems(pkg: ModelPackage, vlm: VlmRunner | undefined, projection: TextProjection | undefined): string[] {
  const problems: string[] = [];
  const f = pkg.files;
  const lisa = !usesProposals(pkg.preset);
  const hidden = lisa ? projection?.hiddenSize : pkg.head.hiddenSize;
  if (projection && projection.outSize !== 256)
    problems.push(`${f.head}: text_hidden_fcs gives ${projection.outSize}-wide prompts, but LISA's SAM decoder takes 256-wide ones`);
  if (vlm && hidden !== undefined && vlm.hiddenSize !== hidden)
    problems.push(
      lisa
        ? `${f.head}: text_hidden_fcs takes ${hidden}-wide states, but the VLM's hidden size is ${vlm.hiddenSize}`
        : `hrseg.json /head/hiddenSize: ${pkg.head.hiddenSize}, but the VLM's hidden size is ${vlm.hiddenSize}`,
    );
  return problems;
}
