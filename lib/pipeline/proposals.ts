/**
 * Stage 1, proposals: SAM's automatic masks over the image, or over a copy shrunk to a longest
 * side (OpenCV's INTER_AREA) as LLM-Seg made its proposals.
 */
import type { Engine } from '../engines/types.js';
import type { RgbImage } from '../image.js';
import type { MaskGeneratorConfig } from '../proposals/config.js';
import { generateProposals, type Proposals } from '../proposals/mask-generator.js';
import type { ImageStepContext } from './method.js';
import { areaDownscale, downscaledSize } from './resize.js';

export interface ProposalStage {
  proposals: Proposals;
  /** The image SAM saw: the input itself, or its shrunk copy. */
  samImage: RgbImage;
}

export async function proposalStage(
  image: RgbImage,
  sam: { encoder: Engine; decoder: Engine },
  config: MaskGeneratorConfig,
  compute: 'cpu' | 'cuda',
  context: ImageStepContext,
): Promise<ProposalStage> {
  const { time, signal, proposalMaxSide } = context;
  const small = proposalMaxSide === undefined ? undefined : downscaledSize(image.width, image.height, proposalMaxSide);
  const samImage = small ? await time('downscale', async () => areaDownscale(image, small.width, small.height)) : image;
  const proposals = await time('proposals', () =>
    generateProposals(samImage, sam, {
      config,
      device: compute,
      signal,
      onProgress: (done, total) => context.onProgress?.('proposals', done, total),
    }),
  );
  return { proposals, samImage };
}
