/**
 * Pillow's 8-bit resize (libImaging/Resample.c, the 8bpc path Image.resize takes for RGB), exactly:
 * per-axis coefficients in double, normalised, converted to 22-bit fixed point; the horizontal pass
 * first (over the rows the vertical pass needs), rounded and clipped to 8 bits, then the vertical
 * pass, rounded and clipped again. torchvision's resize of a PIL image and Hugging Face's image
 * processors resize this way (LISA's ResizeLongestSide, CLIP's processor). A test reference: the
 * runtime's views resize in float (native/core/include/hrseg/views.h says so).
 */
type Filter = 'bilinear' | 'bicubic';
const PRECISION_BITS = 32 - 8 - 2;

const filters: Record<Filter, { support: number; f: (x: number) => number }> = {
  bilinear: { support: 1, f: (x) => ((x = Math.abs(x)), x < 1 ? 1 - x : 0) },
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

function coefficients(inSize: number, outSize: number, filter: Filter): { ksize: number; bounds: number[]; kk: number[] } {
  const { support: s, f } = filters[filter];
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = s * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds: number[] = [],
    kk = new Array<number>(outSize * ksize).fill(0);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale,
      ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) ww += kk[xx * ksize + x] = f((x + xmin - center + 0.5) * ss);
    for (let x = 0; x < xmax; x++) if (ww !== 0) kk[xx * ksize + x] /= ww;
    bounds.push(xmin, xmax);
  }
  // normalize_coeffs_8bpc: to fixed point, rounding away from zero.
  for (let i = 0; i < kk.length; i++) kk[i] = kk[i] < 0 ? Math.trunc(-0.5 + kk[i] * 2 ** PRECISION_BITS) : Math.trunc(0.5 + kk[i] * 2 ** PRECISION_BITS);
  return { ksize, bounds, kk };
}

const clip8 = (v: number) => (v >= 256 * 2 ** PRECISION_BITS ? 255 : v <= 0 ? 0 : Math.floor(v / 2 ** PRECISION_BITS));

/** RGB uint8 [h, w, 3] → [H, W, 3], as Pillow's Image.resize((W, H), filter). */
export function pillowResize(src: Uint8Array, h: number, w: number, H: number, W: number, filter: Filter): Uint8Array {
  const horiz = coefficients(w, W, filter),
    vert = coefficients(h, H, filter);
  const needH = W !== w,
    needV = H !== h;
  let img = src,
    rows = h,
    first = 0;
  if (needH) {
    first = vert.bounds[0];
    const last = vert.bounds[2 * H - 2] + vert.bounds[2 * H - 1];
    rows = needV ? last - first : h;
    if (!needV) first = 0;
    const tmp = new Uint8Array(rows * W * 3);
    for (let y = 0; y < rows; y++)
      for (let x = 0; x < W; x++) {
        const xmin = horiz.bounds[2 * x],
          n = horiz.bounds[2 * x + 1];
        for (let c = 0; c < 3; c++) {
          let ss = 2 ** (PRECISION_BITS - 1);
          for (let k = 0; k < n; k++) ss += src[((y + first) * w + xmin + k) * 3 + c] * horiz.kk[x * horiz.ksize + k];
          tmp[(y * W + x) * 3 + c] = clip8(ss);
        }
      }
    img = tmp;
  }
  if (!needV) return needH ? img : Uint8Array.from(src);
  const width = needH ? W : w,
    out = new Uint8Array(H * width * 3);
  for (let y = 0; y < H; y++) {
    const ymin = vert.bounds[2 * y] - (needH ? first : 0),
      n = vert.bounds[2 * y + 1];
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let ss = 2 ** (PRECISION_BITS - 1);
        for (let k = 0; k < n; k++) ss += img[((ymin + k) * width + x) * 3 + c] * vert.kk[y * vert.ksize + k];
        out[(y * width + x) * 3 + c] = clip8(ss);
      }
  }
  return out;
}
