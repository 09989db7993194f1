/**
 * An independent float64 reference of DINOv2's forward pass, written for the tests from the
 * official code's definition (dinov2 models/vision_transformer.py, layers/block.py) as plain
 * loops over a checkpoint's tensors (official key names): nothing shared with the graph builder.
 * The position table is resampled with PyTorch's bicubic written out in 2-D (aten upsample_bicubic2d:
 * A = −0.75, source (o + ½)/s − ½, border-clamped taps).
 */
import type { Checkpoint } from '../../lib/checkpoint/index.js';

type V = Float64Array;
const f64 = (ck: Checkpoint, name: string): V => Float64Array.from(ck.get(name).float32());

/** erf to ~1e-12 (series for small |x|, continued fraction for the tail). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = ax, term = ax;
    for (let n = 1; n < 100; n++) {
      term *= (-ax * ax) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc by Lentz's continued fraction
  let f = ax, C = ax, D = 0;
  for (let n = 1; n < 200; n++) {
    const a = n / 2;
    D = ax + a * D;
    D = 1 / D;
    C = ax + a / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

function layerNorm(x: V, rows: number, C: number, w: V, b: V, eps: number): V {
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0, vr = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c];
    mean /= C;
    for (let c = 0; c < C; c++) vr += (x[r * C + c] - mean) ** 2;
    vr /= C;
    for (let c = 0; c < C; c++) out[r * C + c] = ((x[r * C + c] - mean) / Math.sqrt(vr + eps)) * w[c] + b[c];
  }
  return out;
}

function linear(x: V, rows: number, inDim: number, w: V, b: V | undefined, out: number): V {
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inDim; i++) s += x[r * inDim + i] * w[o * inDim + i];
      y[r * out + o] = s;
    }
  return y;
}

function cubic(t: number): number {
  const A = -0.75, x = Math.abs(t);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0;
}

/** F.interpolate(mode="bicubic", align_corners=False, scale_factor=s) of an [M, M, C] grid, in 2-D. */
function bicubic2d(grid: V, M: number, C: number, s: number): { out: V; n: number } {
  const n = Math.floor(M * s);
  const out = new Float64Array(n * n * C);
  const clamp = (i: number) => Math.min(Math.max(i, 0), M - 1);
  for (let oy = 0; oy < n; oy++)
    for (let ox = 0; ox < n; ox++) {
      const sy = (oy + 0.5) / s - 0.5, sx = (ox + 0.5) / s - 0.5;
      const iy = Math.floor(sy), ix = Math.floor(sx);
      for (let dy = -1; dy <= 2; dy++)
        for (let dx = -1; dx <= 2; dx++) {
          const w = cubic(sy - (iy + dy)) * cubic(sx - (ix + dx));
          const src = (clamp(iy + dy) * M + clamp(ix + dx)) * C;
          for (let c = 0; c < C; c++) out[(oy * n + ox) * C + c] += w * grid[src + c];
        }
    }
  return { out, n };
}

/**
 * x_norm_patchtokens of a no-register DINOv2 (official keys) for one image [3, D, D]:
 * heads given, patch 14, LayerNorm eps 1e-6, GELU MLP, layer scale.
 */
export function dinov2Reference(ck: Checkpoint, image: Float32Array, D: number, heads: number): V {
  const P = 14, n = D / P;
  const cls = f64(ck, 'cls_token'), pos = f64(ck, 'pos_embed');
  const C = cls.length, M = Math.round(Math.sqrt(pos.length / C - 1));
  let table = pos.subarray(C);
  if (n !== M) table = bicubic2d(pos.subarray(C), M, C, (n + 0.1) / M).out;
  const pw = f64(ck, 'patch_embed.proj.weight'), pb = f64(ck, 'patch_embed.proj.bias');
  const T = 1 + n * n;
  let h = new Float64Array(T * C);
  for (let c = 0; c < C; c++) h[c] = cls[c] + pos[c];
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      for (let c = 0; c < C; c++) {
        let s = pb[c];
        for (let ch = 0; ch < 3; ch++)
          for (let ky = 0; ky < P; ky++)
            for (let kx = 0; kx < P; kx++) s += pw[((c * 3 + ch) * P + ky) * P + kx] * image[(ch * D + i * P + ky) * D + j * P + kx];
        h[(1 + i * n + j) * C + c] = s + table[(i * n + j) * C + c];
      }
  const hd = C / heads;
  for (let b = 0; ck.has(`blocks.${b}.norm1.weight`); b++) {
    const p = `blocks.${b}.`;
    const y = layerNorm(h, T, C, f64(ck, `${p}norm1.weight`), f64(ck, `${p}norm1.bias`), 1e-6);
    const qkv = linear(y, T, C, f64(ck, `${p}attn.qkv.weight`), f64(ck, `${p}attn.qkv.bias`), 3 * C);
    const ctx = new Float64Array(T * C);
    for (let hh = 0; hh < heads; hh++)
      for (let i = 0; i < T; i++) {
        const scores = new Float64Array(T);
        let max = -Infinity;
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let e = 0; e < hd; e++) s += qkv[i * 3 * C + hh * hd + e] * qkv[j * 3 * C + C + hh * hd + e];
          scores[j] = s / Math.sqrt(hd);
          max = Math.max(max, scores[j]);
        }
        let z = 0;
        for (let j = 0; j < T; j++) z += (scores[j] = Math.exp(scores[j] - max));
        for (let e = 0; e < hd; e++) {
          let s = 0;
          for (let j = 0; j < T; j++) s += (scores[j] / z) * qkv[j * 3 * C + 2 * C + hh * hd + e];
          ctx[i * C + hh * hd + e] = s;
        }
      }
    const o = linear(ctx, T, C, f64(ck, `${p}attn.proj.weight`), f64(ck, `${p}attn.proj.bias`), C);
    const g1 = f64(ck, `${p}ls1.gamma`), g2 = f64(ck, `${p}ls2.gamma`);
    for (let i = 0; i < T * C; i++) h[i] += g1[i % C] * o[i];
    const z2 = layerNorm(h, T, C, f64(ck, `${p}norm2.weight`), f64(ck, `${p}norm2.bias`), 1e-6);
    const hidden = ck.get(`${p}mlp.fc1.weight`).shape[0];
    const m = linear(z2, T, C, f64(ck, `${p}mlp.fc1.weight`), f64(ck, `${p}mlp.fc1.bias`), hidden).map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
    const f = linear(m, T, hidden, f64(ck, `${p}mlp.fc2.weight`), f64(ck, `${p}mlp.fc2.bias`), C);
    const hNew = new Float64Array(h.length);
    for (let i = 0; i < T * C; i++) hNew[i] = h[i] + g2[i % C] * f[i];
    h = hNew;
  }
  return layerNorm(h, T, C, f64(ck, 'norm.weight'), f64(ck, 'norm.bias'), 1e-6).subarray(C);
}

/**
 * SAM's image encoder (segment-anything modeling/image_encoder.py), official keys under
 * `image_encoder.`, for one image [3, S, S]: windows of `windows[i]` (0 = global) with zero
 * padding after norm1, decomposed relative positions from the unscaled q, the LayerNorm2d neck.
 * Returns [O, G, G].
 */
export function samEncoderReference(ck: Checkpoint, image: Float32Array, S: number, heads: number, windows: number[]): V {
  const t = (n: string) => f64(ck, `image_encoder.${n}`);
  const pos = t('pos_embed'), pw = t('patch_embed.proj.weight'), pb = t('patch_embed.proj.bias');
  const P = 16, G = S / P, D = pb.length, hd = D / heads;
  let h = new Float64Array(G * G * D);
  for (let i = 0; i < G; i++)
    for (let j = 0; j < G; j++)
      for (let c = 0; c < D; c++) {
        let s = pb[c];
        for (let ch = 0; ch < 3; ch++)
          for (let ky = 0; ky < P; ky++) for (let kx = 0; kx < P; kx++) s += pw[((c * 3 + ch) * P + ky) * P + kx] * image[(ch * S + i * P + ky) * S + j * P + kx];
        h[(i * G + j) * D + c] = s + pos[(i * G + j) * D + c];
      }
  windows.forEach((win, b) => {
    const p = `blocks.${b}.`;
    const w = win || G, Gp = Math.ceil(G / w) * w;
    const y = layerNorm(h, G * G, D, t(`${p}norm1.weight`), t(`${p}norm1.bias`), 1e-6);
    const qkvW = t(`${p}attn.qkv.weight`), qkvB = t(`${p}attn.qkv.bias`), rh = t(`${p}attn.rel_pos_h`), rw = t(`${p}attn.rel_pos_w`);
    const attnOut = new Float64Array(G * G * D);
    for (let wy = 0; wy < Gp; wy += w)
      for (let wx = 0; wx < Gp; wx += w) {
        // The window's tokens (zero where it overhangs the grid), then q, k, v.
        const T = w * w, tok = new Float64Array(T * D);
        for (let i = 0; i < w; i++)
          for (let j = 0; j < w; j++)
            if (wy + i < G && wx + j < G) tok.set(y.subarray(((wy + i) * G + wx + j) * D, ((wy + i) * G + wx + j + 1) * D), (i * w + j) * D);
        const qkv = linear(tok, T, D, qkvW, qkvB, 3 * D);
        const ctx = new Float64Array(T * D);
        for (let hh = 0; hh < heads; hh++)
          for (let a = 0; a < T; a++) {
            const ai = Math.floor(a / w), aj = a % w;
            const q = (e: number) => qkv[a * 3 * D + hh * hd + e];
            const sc = new Float64Array(T);
            let max = -Infinity;
            for (let k = 0; k < T; k++) {
              const ki = Math.floor(k / w), kj = k % w;
              let s = 0, relH = 0, relW = 0;
              for (let e = 0; e < hd; e++) {
                s += q(e) * qkv[k * 3 * D + D + hh * hd + e];
                relH += q(e) * rh[(ai - ki + w - 1) * hd + e];
                relW += q(e) * rw[(aj - kj + w - 1) * hd + e];
              }
              sc[k] = s / Math.sqrt(hd) + relH + relW;
              max = Math.max(max, sc[k]);
            }
            let z = 0;
            for (let k = 0; k < T; k++) z += (sc[k] = Math.exp(sc[k] - max));
            for (let e = 0; e < hd; e++) {
              let s = 0;
              for (let k = 0; k < T; k++) s += (sc[k] / z) * qkv[k * 3 * D + 2 * D + hh * hd + e];
              ctx[a * D + hh * hd + e] = s;
            }
          }
        const o = linear(ctx, T, D, t(`${p}attn.proj.weight`), t(`${p}attn.proj.bias`), D);
        for (let i = 0; i < w; i++)
          for (let j = 0; j < w; j++)
            if (wy + i < G && wx + j < G) attnOut.set(o.subarray((i * w + j) * D, (i * w + j + 1) * D), ((wy + i) * G + wx + j) * D);
      }
    for (let i = 0; i < h.length; i++) h[i] += attnOut[i];
    const z = layerNorm(h, G * G, D, t(`${p}norm2.weight`), t(`${p}norm2.bias`), 1e-6);
    const hidden = ck.get(`image_encoder.${p}mlp.lin1.weight`).shape[0];
    const m = linear(z, G * G, D, t(`${p}mlp.lin1.weight`), t(`${p}mlp.lin1.bias`), hidden).map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
    const f = linear(m, G * G, hidden, t(`${p}mlp.lin2.weight`), t(`${p}mlp.lin2.bias`), D);
    const next = new Float64Array(h.length);
    for (let i = 0; i < h.length; i++) next[i] = h[i] + f[i];
    h = next;
  });
  // Neck, channel-last: 1×1 conv, LayerNorm2d, 3×3 conv (zero padding 1), LayerNorm2d.
  const c1 = t('neck.0.weight'), O = c1.length / D;
  let x = linear(h, G * G, D, c1, undefined, O);
  x = layerNorm(x, G * G, O, t('neck.1.weight'), t('neck.1.bias'), 1e-6);
  const c2 = t('neck.2.weight'), y2 = new Float64Array(G * G * O);
  for (let i = 0; i < G; i++)
    for (let j = 0; j < G; j++)
      for (let o = 0; o < O; o++) {
        let s = 0;
        for (let di = -1; di <= 1; di++)
          for (let dj = -1; dj <= 1; dj++) {
            const ii = i + di, jj = j + dj;
            if (ii < 0 || jj < 0 || ii >= G || jj >= G) continue;
            for (let c = 0; c < O; c++) s += c2[((o * O + c) * 3 + di + 1) * 3 + dj + 1] * x[(ii * G + jj) * O + c];
          }
        y2[(i * G + j) * O + o] = s;
      }
  const n2 = layerNorm(y2, G * G, O, t('neck.3.weight'), t('neck.3.bias'), 1e-6);
  const out = new Float64Array(O * G * G); // channel-first, as image_embeddings
  for (let p = 0; p < G * G; p++) for (let o = 0; o < O; o++) out[o * G * G + p] = n2[p * O + o];
  return out;
}

/**
 * SAM's prompt encoder and mask decoder (segment-anything prompt_encoder.py, mask_decoder.py,
 * transformer.py), official keys, for B single-point prompts on one image embedding [C, G, G]
 * (frame 16·G): multimask low-res masks [B, 3, 4G, 4G] and IoU predictions [B, 3]. With
 * `given`, the sparse prompt of each of the B is given as n embeddings instead (LISA's [SEG]
 * prompt), and `multimask: false` gives mask 0 alone [B, 1, 4G, 4G] and its IoU [B, 1].
 */
export function samDecoderReference(
  ck: Checkpoint,
  emb: Float32Array,
  G: number,
  coords: Float32Array,
  labels: Float32Array,
  heads: number,
  given?: { sparse: Float32Array; n: number; multimask: boolean },
): { masks: V; iou: V } {
  const pe = (n: string) => f64(ck, `prompt_encoder.${n}`), md = (n: string) => f64(ck, `mask_decoder.${n}`);
  const gm = pe('pe_layer.positional_encoding_gaussian_matrix'), half = gm.length / 2, C = 2 * half, S = 16 * G, HW = G * G;
  const encode = (x: number, y: number): V => {
    const out = new Float64Array(C), vx = 2 * x - 1, vy = 2 * y - 1;
    for (let f = 0; f < half; f++) {
      const v = 2 * Math.PI * (vx * gm[f] + vy * gm[half + f]);
      out[f] = Math.sin(v);
      out[half + f] = Math.cos(v);
    }
    return out;
  };
  const keyPe = new Float64Array(HW * C);
  for (let y = 0; y < G; y++) for (let x = 0; x < G; x++) keyPe.set(encode((x + 0.5) / G, (y + 0.5) / G), (y * G + x) * C);
  const noMask = pe('no_mask_embed.weight'), notAPoint = pe('not_a_point_embed.weight');
  const attention = (prefix: string, q: V, nq: number, k: V, v: V, nk: number): V => {
    const wq = md(`${prefix}.q_proj.weight`), I = wq.length / C, hd = I / heads;
    const Q = linear(q, nq, C, wq, md(`${prefix}.q_proj.bias`), I);
    const K = linear(k, nk, C, md(`${prefix}.k_proj.weight`), md(`${prefix}.k_proj.bias`), I);
    const Vv = linear(v, nk, C, md(`${prefix}.v_proj.weight`), md(`${prefix}.v_proj.bias`), I);
    const ctx = new Float64Array(nq * I);
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < nq; i++) {
        const sc = new Float64Array(nk);
        let max = -Infinity;
        for (let j = 0; j < nk; j++) {
          let s = 0;
          for (let e = 0; e < hd; e++) s += Q[i * I + h * hd + e] * K[j * I + h * hd + e];
          sc[j] = s / Math.sqrt(hd);
          max = Math.max(max, sc[j]);
        }
        let z = 0;
        for (let j = 0; j < nk; j++) z += (sc[j] = Math.exp(sc[j] - max));
        for (let e = 0; e < hd; e++) {
          let s = 0;
          for (let j = 0; j < nk; j++) s += (sc[j] / z) * Vv[j * I + h * hd + e];
          ctx[i * I + h * hd + e] = s;
        }
      }
    return linear(ctx, nq, I, md(`${prefix}.out_proj.weight`), md(`${prefix}.out_proj.bias`), C);
  };
  const add = (a: V, b: V) => a.map((x, i) => x + b[i % b.length]);
  const norm = (x: V, rows: number, name: string) => layerNorm(x, rows, C, md(`${name}.weight`), md(`${name}.bias`), 1e-5);
  const mlp = (x: V, name: string, dims: number[]) => {
    let h = x;
    for (let l = 0; l < dims.length - 1; l++) {
      h = linear(h, 1, dims[l], md(`${name}.layers.${l}.weight`), md(`${name}.layers.${l}.bias`), dims[l + 1]);
      if (l < dims.length - 2) h = h.map((v) => Math.max(v, 0));
    }
    return h;
  };
  const B = given ? given.sparse.length / (given.n * C) : labels.length, tokens = md('mask_tokens.weight').length / C, T = tokens + 1 + (given ? given.n : 2);
  const C4 = C / 4, C8 = C / 8, R = 4 * G;
  const [first, last] = given?.multimask === false ? [0, 1] : [1, tokens];
  const nOut = last - first;
  const masks = new Float64Array(B * nOut * R * R), iou = new Float64Array(B * nOut);
  const embFlat = new Float64Array(HW * C);
  for (let p = 0; p < HW; p++) for (let c = 0; c < C; c++) embFlat[p * C + c] = emb[c * HW + p] + noMask[c];
  for (let b = 0; b < B; b++) {
    // Sparse prompt: the point (shifted to the pixel centre) and the padding point.
    const label = given ? 1 : labels[b];
    let point = given ? new Float64Array(C) : encode((coords[2 * b] + 0.5) / S, (coords[2 * b + 1] + 0.5) / S);
    if (label === -1) point = Float64Array.from(notAPoint);
    else if (label === 0) point = add(point, pe('point_embeddings.0.weight'));
    else if (label === 1) point = add(point, pe('point_embeddings.1.weight'));
    const qpe = new Float64Array(T * C);
    qpe.set(md('iou_token.weight'), 0);
    qpe.set(md('mask_tokens.weight'), C);
    if (given) qpe.set(given.sparse.subarray(b * given.n * C, (b + 1) * given.n * C), (tokens + 1) * C);
    else {
      qpe.set(point, (tokens + 1) * C);
      qpe.set(notAPoint, (tokens + 2) * C);
    }
    let queries: V = Float64Array.from(qpe), keys: V = Float64Array.from(embFlat);
    for (let l = 0; ck.has(`mask_decoder.transformer.layers.${l}.norm1.weight`); l++) {
      const L = `transformer.layers.${l}`;
      if (l === 0) queries = attention(`${L}.self_attn`, queries, T, queries, queries, T);
      else {
        const q = add(queries, qpe);
        queries = add(queries, attention(`${L}.self_attn`, q, T, q, queries, T));
      }
      queries = norm(queries, T, `${L}.norm1`);
      queries = norm(add(queries, attention(`${L}.cross_attn_token_to_image`, add(queries, qpe), T, add(keys, keyPe), keys, HW)), T, `${L}.norm2`);
      const hidden = md(`${L}.mlp.lin1.bias`).length;
      const m = linear(linear(queries, T, C, md(`${L}.mlp.lin1.weight`), md(`${L}.mlp.lin1.bias`), hidden).map((v) => Math.max(v, 0)), T, hidden, md(`${L}.mlp.lin2.weight`), md(`${L}.mlp.lin2.bias`), C);
      queries = norm(add(queries, m), T, `${L}.norm3`);
      keys = norm(add(keys, attention(`${L}.cross_attn_image_to_token`, add(keys, keyPe), HW, add(queries, qpe), queries, T)), HW, `${L}.norm4`);
    }
    queries = norm(add(queries, attention('transformer.final_attn_token_to_image', add(queries, qpe), T, add(keys, keyPe), keys, HW)), T, 'transformer.norm_final_attn');
    // Upscaling: ConvTranspose 2×2/2, LayerNorm2d, GELU, ConvTranspose 2×2/2, GELU (channel-last here).
    const convT = (x: V, n: number, cin: number, cout: number, w: V, bias: V): V => {
      const out = new Float64Array(4 * n * n * cout);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++)
          for (let di = 0; di < 2; di++)
            for (let dj = 0; dj < 2; dj++)
              for (let o = 0; o < cout; o++) {
                let s = bias[o];
                for (let c = 0; c < cin; c++) s += x[(i * n + j) * cin + c] * w[((c * cout + o) * 2 + di) * 2 + dj];
                out[((2 * i + di) * 2 * n + 2 * j + dj) * cout + o] = s;
              }
      return out;
    };
    const g = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
    let up = convT(keys, G, C, C4, md('output_upscaling.0.weight'), md('output_upscaling.0.bias'));
    up = layerNorm(up, 4 * HW, C4, md('output_upscaling.1.weight'), md('output_upscaling.1.bias'), 1e-6).map(g);
    up = convT(up, 2 * G, C4, C8, md('output_upscaling.3.weight'), md('output_upscaling.3.bias')).map(g);
    for (let t = first; t < last; t++) {
      const hyper = mlp(queries.subarray((1 + t) * C, (2 + t) * C), `output_hypernetworks_mlps.${t}`, [C, C, C, C8]);
      for (let p = 0; p < R * R; p++) {
        let s = 0;
        for (let c = 0; c < C8; c++) s += hyper[c] * up[p * C8 + c];
        masks[(b * nOut + t - first) * R * R + p] = s;
      }
    }
    const iouHidden = md('iou_prediction_head.layers.0.bias').length;
    const pred = mlp(queries.subarray(0, C), 'iou_prediction_head', [C, iouHidden, iouHidden, tokens]);
    for (let t = first; t < last; t++) iou[b * nOut + t - first] = pred[t];
  }
  return { masks, iou };
}

/**
 * LLaVA's image features from a CLIP vision tower (transformers modeling_clip.py + LLaVA's
 * clip_encoder.py): hidden_states[select] without the class token, through the projector
 * (`linear`, or `mlp2x_gelu` with exact GELU). Keys under `prefix`; projector keys under `proj`.
 */
export function clipReference(ck: Checkpoint, prefix: string, proj: string, image: Float32Array, heads: number, select = -2): V {
  const t = (n: string) => f64(ck, prefix + n);
  const cls = t('embeddings.class_embedding'), pw = t('embeddings.patch_embedding.weight'), pos = t('embeddings.position_embedding.weight');
  const D = cls.length, P = ck.get(prefix + 'embeddings.patch_embedding.weight').shape[2], g = Math.round(Math.sqrt(pos.length / D - 1)), S = g * P, T = 1 + g * g;
  let h: V = new Float64Array(T * D);
  for (let c = 0; c < D; c++) h[c] = cls[c] + pos[c];
  for (let i = 0; i < g; i++)
    for (let j = 0; j < g; j++)
      for (let c = 0; c < D; c++) {
        let s = 0;
        for (let ch = 0; ch < 3; ch++)
          for (let ky = 0; ky < P; ky++) for (let kx = 0; kx < P; kx++) s += pw[((c * 3 + ch) * P + ky) * P + kx] * image[(ch * S + i * P + ky) * S + j * P + kx];
        h[(1 + i * g + j) * D + c] = s + pos[(1 + i * g + j) * D + c];
      }
  h = layerNorm(h, T, D, t('pre_layrnorm.weight'), t('pre_layrnorm.bias'), 1e-5);
  let depth = 0;
  while (ck.has(`${prefix}encoder.layers.${depth}.layer_norm1.weight`)) depth++;
  const run = select < 0 ? depth + 1 + select : select, hd = D / heads;
  for (let l = 0; l < run; l++) {
    const p = `encoder.layers.${l}.`;
    const y = layerNorm(h, T, D, t(p + 'layer_norm1.weight'), t(p + 'layer_norm1.bias'), 1e-5);
    const q = linear(y, T, D, t(p + 'self_attn.q_proj.weight'), t(p + 'self_attn.q_proj.bias'), D);
    const k = linear(y, T, D, t(p + 'self_attn.k_proj.weight'), t(p + 'self_attn.k_proj.bias'), D);
    const v = linear(y, T, D, t(p + 'self_attn.v_proj.weight'), t(p + 'self_attn.v_proj.bias'), D);
    const ctx = new Float64Array(T * D);
    for (let hh = 0; hh < heads; hh++)
      for (let i = 0; i < T; i++) {
        const sc = new Float64Array(T);
        let max = -Infinity;
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let e = 0; e < hd; e++) s += q[i * D + hh * hd + e] * k[j * D + hh * hd + e];
          sc[j] = s / Math.sqrt(hd);
          max = Math.max(max, sc[j]);
        }
        let z = 0;
        for (let j = 0; j < T; j++) z += (sc[j] = Math.exp(sc[j] - max));
        for (let e = 0; e < hd; e++) {
          let s = 0;
          for (let j = 0; j < T; j++) s += (sc[j] / z) * v[j * D + hh * hd + e];
          ctx[i * D + hh * hd + e] = s;
        }
      }
    const o = linear(ctx, T, D, t(p + 'self_attn.out_proj.weight'), t(p + 'self_attn.out_proj.bias'), D);
    for (let i = 0; i < h.length; i++) h[i] += o[i];
    const z = layerNorm(h, T, D, t(p + 'layer_norm2.weight'), t(p + 'layer_norm2.bias'), 1e-5);
    const inner = ck.get(prefix + p + 'mlp.fc1.weight').shape[0];
    const a = linear(z, T, D, t(p + 'mlp.fc1.weight'), t(p + 'mlp.fc1.bias'), inner).map((x) => x / (1 + Math.exp(-1.702 * x)));
    const f = linear(a, T, inner, t(p + 'mlp.fc2.weight'), t(p + 'mlp.fc2.bias'), D);
    const next = new Float64Array(h.length);
    for (let i = 0; i < h.length; i++) next[i] = h[i] + f[i];
    h = next;
  }
  const feats = h.subarray(D);
  if (ck.has(`${proj}.weight`)) return linear(feats, T - 1, D, f64(ck, `${proj}.weight`), f64(ck, `${proj}.bias`), ck.get(`${proj}.weight`).shape[0]);
  const H = ck.get(`${proj}.0.weight`).shape[0];
  const m = linear(feats, T - 1, D, f64(ck, `${proj}.0.weight`), f64(ck, `${proj}.0.bias`), H).map((x) => 0.5 * x * (1 + erf(x / Math.SQRT2)));
  return linear(m, T - 1, H, f64(ck, `${proj}.2.weight`), f64(ck, `${proj}.2.bias`), H);
}
