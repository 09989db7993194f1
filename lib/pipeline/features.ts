/**
 * Stage 2, features: DINOv2 over the global view (and with HRP the local crops), then the head's
 * image step over the proposals: HRP (region attention, mask pooling) and HRE (cross-attention)
 * give every proposal its feature M_HRE, kept for every instruction on this image.
 */
import type { Engine } from '../engines/types.js';
import type { Head, ImageFeatures } from '../head.js';
import type { RgbImage } from '../image.js';
import type { ModelPackage } from '../package/manifest.js';
import type { Tensor } from '../tensor.js';
import { dinoFeatures, type DinoFeatures } from './dino.js';
import type { ImageStepContext } from './method.js';

export interface FeatureStage {
  features: ImageFeatures;
  /** Views DINOv2 encoded: 1 + N² with HRP, 1 without. */
  views: number;
}

export async function featureStage(
  image: RgbImage,
  parts: { dino: Engine; head: Head },
  pkg: ModelPackage,
  proposals: Tensor<'uint8'>,
  /** Leave DINOv2's tokens on the device for a GPU head (TensorRT engines). */
  onDevice: boolean,
  { time, signal }: ImageStepContext,
): Promise<FeatureStage> {
  const h = pkg.head;
  // Without HRP no local view is made: one DINOv2 view instead of 1 + N² (timings.dino shows it).
  const feats = await time('dino', () => dinoFeatures(image, parts.dino, pkg.views.dino, h.globalGrid, h.magnification, signal, h.hrp, onDevice));
  const features = await time('head-image', () => headImageStep(parts.head, feats, proposals, signal));
  return { features, views: feats.views };
}

/** The head's image step; DINOv2 tokens left on the device are read there and then freed. */
async function headImageStep(head: Head, feats: DinoFeatures, proposals: Tensor<'uint8'>, signal?: AbortSignal): Promise<ImageFeatures> {
  if (feats.deviceTokens === undefined) return head.imageStep({ globalFeatures: feats.global!, localFeatures: feats.local, proposals }, { signal });
  try {
    return await head.imageStep({ deviceTokens: feats.deviceTokens, proposals }, { signal });
  } finally {
    feats.release?.();
  }
}
