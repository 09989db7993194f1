/**
 * HRSeg's method (and LLM-Seg's, its presets differing only in values): SAM's proposals, DINOv2's
 * features through HRP and HRE into one feature per proposal, and per [SEG] the head's selection.
 */
import type { Engine } from '../engines/types.js';
import type { Head } from '../head.js';
import type { ModelPackage } from '../package/manifest.js';
import { featureStage } from './features.js';
import type { Method } from './method.js';
import { proposalStage } from './proposals.js';
import { selectionStage } from './selection.js';

export interface HeadParts {
  samEncoder: Engine;
  samDecoder: Engine;
  dino: Engine;
  head: Head;
}

export function headMethod(pkg: ModelPackage, parts: HeadParts, compute: 'cpu' | 'cuda', dinoOnDevice: boolean): Method {
  const { samEncoder, samDecoder, dino, head } = parts;
  return {
    maskStage: 'selection',
    engines: [samEncoder, samDecoder, dino],
    async imageStep(image, context) {
      const { proposals, samImage } = await proposalStage(image, { encoder: samEncoder, decoder: samDecoder }, pkg.proposals, compute, context);
      const { features, views } = await featureStage(image, { dino, head }, pkg, proposals.masks, dinoOnDevice, context);
      return {
        proposals,
        proposalSize: { width: samImage.width, height: samImage.height },
        dinoViews: views,
        features,
        // A CUDA head's image state (M_HRE, proposals), freed now rather than when collected.
        release: () => head.releaseImage(features),
      };
    },
    maskStep: (prepared, seg, options) => selectionStage(head, prepared, seg, options),
    async dispose() {
      await Promise.all([samEncoder.dispose(), samDecoder.dispose(), dino.dispose()]);
      head.dispose();
    },
  };
}
