/**
 * DINOv2 features for the head (SPEC.md section 2): the global view and the N² crops of the local
 * view go through the encoder in one batch; the crops' token grids are stitched back into one
 * n_l × n_l grid (n_l = N · n_g), crops in raster order. Without HRP (the llm-seg preset) only the
 * global view is made and encoded: the local crops are never computed.
 */
import { HrsegError } from '../errors.js';
import type { RgbImage } from '../image.js';
import { tensor, type Tensor } from '../tensor.js';
import { squareView, tiledView, type SquareViewSpec } from '../views.js';
import type { Engine } from '../engines/types.js';

export interface DinoFeatures {
  /** F_g [n_g², C]; absent when the tokens stayed on the device (`deviceTokens`). */
  global?: Tensor<'float32'>;
  /**
   * The encoder's patch tokens [views, n_g², C] left on the GPU by a TensorRT engine, when asked
   * for (`onDevice`): the GPU head takes them as they are, and nothing comes to the host.
   */
  deviceTokens?: unknown;
  /** Frees deviceTokens' device memory once the head has read them. */
  release?: () => void;
  /** F_l [(N·n_g)², C]; absent when the local view was not asked for. */
  local?: Tensor<'float32'>;
  /** How many views went through the encoder (1 + N², or 1). */
  views: number;
}

export async function dinoFeatures(
  image: RgbImage,
  encoder: Engine,
  view: SquareViewSpec,
  grid: number,
  magnification: number,
  signal?: AbortSignal,
  withLocal = true,
  onDevice = false,
): Promise<DinoFeatures> {
  const N = magnification,
    S = view.size;
  const views = withLocal ? 1 + N * N : 1;
  const g = await squareView(image, view, { signal });
  let batch = g.tensor.data;
  if (withLocal) {
    const l = await tiledView(image, view, N, { signal });
    batch = new Float32Array(views * 3 * S * S);
    batch.set(g.tensor.data);
    batch.set(l.tensor.data, 3 * S * S);
  }
  const out = await encoder.run({ pixel_values: tensor('float32', [views, 3, S, S], batch) }, { signal });
  const [V, T, C] = out.patch_tokens.dims;
  if (V !== views || T !== grid * grid)
    throw new HrsegError('MODEL_FILE', `${encoder.file}: patch_tokens is [${out.patch_tokens.dims.join(', ')}], expected [${views}, ${grid * grid}, C]`);
  if (onDevice && out.patch_tokens.deviceTensor !== undefined)
    return { deviceTokens: out.patch_tokens.deviceTensor, views, release: () => out.patch_tokens.release?.() };
  const tokens = (await out.patch_tokens.host()) as Tensor<'float32'>;
  const global = tensor('float32', [T, C], views === 1 ? tokens.data : tokens.data.slice(0, T * C));
  if (!withLocal) return { global, views };
  const nl = N * grid;
  const local = new Float32Array(nl * nl * C);
  for (let r = 0; r < N; r++)
    for (let c = 0; c < N; c++) {
      const crop = tokens.data.subarray((1 + r * N + c) * T * C, (2 + r * N + c) * T * C);
      for (let i = 0; i < grid; i++) local.set(crop.subarray(i * grid * C, (i + 1) * grid * C), ((r * grid + i) * nl + c * grid) * C);
    }
  return { global, local: tensor('float32', [nl * nl, C], local), views };
}
