/**
 * DINOv2 features for the head (SPEC.md section 2): the global view and the N² crops of the local
 * view go through the encoder in one batch; the crops' token grids are stitched back into one
 * n_l × n_l grid (n_l = N · n_g), crops in raster order.
 */
import { HrsegError } from '../errors.js';
import type { RgbImage } from '../image.js';
import { tensor, type Tensor } from '../tensor.js';
import { squareView, tiledView, type SquareViewSpec } from '../views.js';
import type { Engine } from '../engines/types.js';

export interface DinoFeatures {
  /** F_g [n_g², C] */
  global: Tensor<'float32'>;
  /** F_l [(N·n_g)², C] */
  local: Tensor<'float32'>;
}

export async function dinoFeatures(
  image: RgbImage,
  encoder: Engine,
  view: SquareViewSpec,
  grid: number,
  magnification: number,
  signal?: AbortSignal,
): Promise<DinoFeatures> {
  const N = magnification, S = view.size;
  const [g, l] = await Promise.all([squareView(image, view, { signal }), tiledView(image, view, N, { signal })]);
  const batch = new Float32Array((1 + N * N) * 3 * S * S);
  batch.set(g.tensor.data);
  batch.set(l.tensor.data, 3 * S * S);
  const out = await encoder.run({ pixel_values: tensor('float32', [1 + N * N, 3, S, S], batch) }, { signal });
  const tokens = (await out.patch_tokens.host()) as Tensor<'float32'>;
  const [V, T, C] = tokens.dims;
  if (V !== 1 + N * N || T !== grid * grid)
    throw new HrsegError('MODEL_FILE', `${encoder.file}: patch_tokens is [${tokens.dims.join(', ')}], expected [${1 + N * N}, ${grid * grid}, C]`);
  const global = tensor('float32', [T, C], tokens.data.slice(0, T * C));
  const nl = N * grid;
  const local = new Float32Array(nl * nl * C);
  for (let r = 0; r < N; r++)
    for (let c = 0; c < N; c++) {
      const crop = tokens.data.subarray((1 + r * N + c) * T * C, (2 + r * N + c) * T * C);
      for (let i = 0; i < grid; i++)
        local.set(crop.subarray(i * grid * C, (i + 1) * grid * C), ((r * grid + i) * nl + c * grid) * C);
    }
  return { global, local: tensor('float32', [nl * nl, C], local) };
}
