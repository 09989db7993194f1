/**
 * LISA's method (the lisa preset): SAM's encoder on its view once per image; per [SEG], its
 * projected state prompts LISA's SAM decoder (head.ts) and LISA's postprocess gives the mask at
 * the image's size. No proposals, no DINOv2, no selection.
 */
import type { Engine } from '../engines/types.js';
import { HrsegError } from '../errors.js';
import type { ModelPackage } from '../package/manifest.js';
import type { Method } from '../pipeline/method.js';
import type { SegmentPart } from '../pipeline/types.js';
import { emptyProposals } from '../proposals/mask-generator.js';
import type { Tensor } from '../tensor.js';
import { squareView } from '../views.js';
import type { LisaHead } from './head.js';

export const noProposals = () =>
  new HrsegError('INVALID_ARGUMENT', 'proposalMaxSide: the lisa preset makes no proposals (its SAM sees the image resized to 1024)');

export function lisaMethod(pkg: ModelPackage, samEncoder: Engine, lisa: LisaHead): Method {
  return {
    maskStage: 'masks',
    engines: [samEncoder, lisa.decoder],
    async imageStep(image, { time, signal, proposalMaxSide }) {
      if (proposalMaxSide !== undefined) throw noProposals();
      const samEmbedding = await time('sam', async () => {
        const view = await squareView(image, pkg.views.sam, { signal });
        const out = await samEncoder.run({ image: view.tensor }, { signal });
        try {
          return (await out.image_embeddings.host()) as Tensor<'float32'>;
        } finally {
          for (const v of Object.values(out)) v.release?.();
        }
      });
      return {
        proposals: emptyProposals(image.width, image.height),
        proposalSize: { width: image.width, height: image.height },
        dinoViews: 0,
        samEmbedding,
        release: () => undefined,
      };
    },
    async *maskStep(prepared, seg, { signal }) {
      const S = seg.dims[0];
      if (S === 0) return { segments: [] };
      const { width: W, height: H } = prepared;
      // One mask per [SEG] from LISA's decoder, at the image's size already.
      const r = await lisa.masks(prepared.samEmbedding!, seg, { width: W, height: H }, signal);
      const none = new Float32Array(0);
      const segments: SegmentPart[] = [];
      for (let s = 0; s < S; s++) {
        const at = [s * W * H, (s + 1) * W * H] as const;
        segments.push({ mask: r.masks.data.subarray(...at), logits: r.logits.data.subarray(...at), chosen: [], fallback: false, similarity: none, iop: none });
        yield { type: 'scores', segment: s, similarity: none, iop: none, chosen: [], fallback: false };
      }
      return { segments };
    },
    async dispose() {
      await Promise.all([samEncoder.dispose(), lisa.dispose()]);
    },
  };
}
