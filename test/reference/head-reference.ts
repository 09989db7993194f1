/**
 * An independent float64 reference of the HRSeg head, written from SPEC.md sections 4, 5, 7 and 8
 * for the tests (plain loops over the definitions; nothing shared with the C++ code).
 * Weights use PyTorch's Linear layout: W is [out, in], y = x·Wᵀ + b.
 */
export type Vec = Float64Array<ArrayBufferLike>;
export type Weights = Record<string, { shape: number[]; data: Float32Array }>;

export interface RefConfig {
  featureDim: number;
  dim: number;
  globalGrid: number;
  magnification: number;
  hrp: boolean;
  gamma: number;
  poolSource: 'hybrid' | 'region';
  poolSize: number;
  maskResize: 'bilinear-antialias' | 'area';
  hreLayers: number;
  hreHeads: number;
  hiddenSize: number;
  fusionBlocks: number;
  fusionHeads: number;
  selection: { strategy: string; k: number; tau: number; fallback: 'top1-sim' | 'none' };
}

export function linear(x: ArrayLike<number>, rows: number, w: Weights, name: string): Vec {
  const W = w[`${name}.weight`];
  const b = w[`${name}.bias`];
  const out = W.shape[0];
  const inDim = W.data.length / out;
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = b ? b.data[o] : 0;
      for (let i = 0; i < inDim; i++) s += x[r * inDim + i] * W.data[o * inDim + i];
      y[r * out + o] = s;
    }
  return y;
}

const relu = (v: Vec): Vec => v.map((x) => (x > 0 ? x : 0));

function softmax(s: number[]): number[] {
  const m = Math.max(...s);
  const e = s.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

/** SPEC 4.2: cell (i,j) of the global grid attends over local cells (N·i+a, N·j+b). */
export function regionAttention(xg: Vec, xl: Vec, c: RefConfig, w: Weights): Vec {
  const { globalGrid: ng, magnification: N, dim: d } = c;
  const nl = N * ng;
  const q = linear(xg, ng * ng, w, 'hrp.region_attn.q_proj');
  const k = linear(xl, nl * nl, w, 'hrp.region_attn.k_proj');
  const v = linear(xl, nl * nl, w, 'hrp.region_attn.v_proj');
  const fr = new Float64Array(ng * ng * d);
  for (let i = 0; i < ng; i++)
    for (let j = 0; j < ng; j++) {
      const cells: number[] = [];
      for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) cells.push((N * i + a) * nl + (N * j + b));
      const scores = cells.map((cell) => {
        let s = 0;
        for (let e = 0; e < d; e++) s += q[(i * ng + j) * d + e] * k[cell * d + e];
        return s / Math.sqrt(d);
      });
      const p = softmax(scores);
      for (let e = 0; e < d; e++) {
        let s = 0;
        cells.forEach((cell, n) => (s += p[n] * v[cell * d + e]));
        fr[(i * ng + j) * d + e] = s;
      }
    }
  return fr;
}

/**
 * The resize of one axis of the zero-padded square frame (side S) to P samples, as a dense [P, S]
 * matrix, from PyTorch's definitions: 'area' = adaptive average pooling, bin o averages
 * [floor(o·S/P), ceil((o+1)·S/P)); 'bilinear-antialias' = F.interpolate(bilinear,
 * align_corners=False, antialias=True): the triangle filter max(0, 1 − |t|) at
 * t = (j + ½ − s·(o + ½)) / max(s, 1), s = S/P, normalised over the frame's samples.
 */
export function resizeMatrix(mode: 'bilinear-antialias' | 'area', S: number, P: number): Vec {
  const a = new Float64Array(P * S);
  const s = S / P;
  for (let o = 0; o < P; o++) {
    let total = 0;
    for (let j = 0; j < S; j++) {
      const v =
        mode === 'area'
          ? j >= Math.floor((o * S) / P) && j < Math.ceil(((o + 1) * S) / P) ? 1 : 0
          : Math.max(0, 1 - Math.abs((j + 0.5 - s * (o + 0.5)) / Math.max(s, 1)));
      a[o * S + j] = v;
      total += v;
    }
    for (let j = 0; j < S; j++) a[o * S + j] /= total;
  }
  return a;
}

/** A proposal's P×P pooling weights: A·M_pad·Aᵀ over the zero-padded square frame (SPEC 4.4). */
export function poolWeights(mask: ArrayLike<number>, H: number, W: number, P: number, mode: 'bilinear-antialias' | 'area'): Vec {
  const S = Math.max(H, W);
  const a = resizeMatrix(mode, S, P);
  const rows = new Float64Array(S * P); // M_pad·Aᵀ
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      if (!mask[y * W + x]) continue;
      for (let ox = 0; ox < P; ox++) rows[y * P + ox] += a[ox * S + x];
    }
  const w = new Float64Array(P * P);
  for (let oy = 0; oy < P; oy++)
    for (let y = 0; y < H; y++) {
      const ay = a[oy * S + y];
      if (ay === 0) continue;
      for (let ox = 0; ox < P; ox++) w[oy * P + ox] += ay * rows[y * P + ox];
    }
  return w;
}

/** Bilinear upsampling, align_corners = false, of an n×n×d map to P×P×d. */
export function upsample(src: Vec, n: number, d: number, P: number): Vec {
  const coord = (p: number) => {
    const s = Math.max(0, ((p + 0.5) * n) / P - 0.5);
    const i0 = Math.min(Math.floor(s), n - 1);
    return { i0, i1: Math.min(i0 + 1, n - 1), l1: s - i0 };
  };
  const up = new Float64Array(P * P * d);
  for (let y = 0; y < P; y++)
    for (let x = 0; x < P; x++) {
      const cy = coord(y), cx = coord(x);
      for (let e = 0; e < d; e++) {
        const at = (a: number, b: number) => src[(a * n + b) * d + e];
        up[(y * P + x) * d + e] =
          (1 - cy.l1) * ((1 - cx.l1) * at(cy.i0, cx.i0) + cx.l1 * at(cy.i0, cx.i1)) +
          cy.l1 * ((1 - cx.l1) * at(cy.i1, cx.i0) + cx.l1 * at(cy.i1, cx.i1));
      }
    }
  return up;
}

/** SPEC 4.4, the definition: M[k] = Σ_p w_kp·F_up[p] / (Σ_p w_kp + 1e-8). */
export function maskPool(masks: Uint8Array, K: number, H: number, W: number, src: Vec, c: RefConfig): Vec {
  const { globalGrid: ng, dim: d, poolSize: P } = c;
  const up = upsample(src, ng, d, P);
  const out = new Float64Array(K * d);
  for (let k = 0; k < K; k++) {
    const w = poolWeights(masks.subarray(k * H * W, (k + 1) * H * W), H, W, P, c.maskResize);
    const total = w.reduce((a, b) => a + b, 0);
    for (let e = 0; e < d; e++) {
      let s = 0;
      for (let p = 0; p < P * P; p++) s += w[p] * up[p * d + e];
      out[k * d + e] = s / (total + 1e-8);
    }
  }
  return out;
}

/** Multi-head attention with q/k/v (and optional out) projections under `name`. */
export function attention(xq: Vec, m: number, xk: Vec, xv: Vec, n: number, heads: number, w: Weights, name: string): Vec {
  const q = linear(xq, m, w, `${name}.q_proj`);
  const k = linear(xk, n, w, `${name}.k_proj`);
  const v = linear(xv, n, w, `${name}.v_proj`);
  const D = q.length / m, Dv = v.length / Math.max(n, 1);
  const dh = D / heads, dvh = Dv / heads;
  const ctx = new Float64Array(m * Dv);
  for (let i = 0; i < m; i++)
    for (let h = 0; h < heads; h++) {
      const scores: number[] = [];
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let e = 0; e < dh; e++) s += q[i * D + h * dh + e] * k[j * D + h * dh + e];
        scores.push(s / Math.sqrt(dh));
      }
      const p = softmax(scores);
      for (let e = 0; e < dvh; e++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += p[j] * v[j * Dv + h * dvh + e];
        ctx[i * Dv + h * dvh + e] = s;
      }
    }
  return w[`${name}.out_proj.weight`] ? linear(ctx, m, w, `${name}.out_proj`) : ctx;
}

/** LayerNorm(x + a) per row, eps 1e-5 (PyTorch's default). */
export function addNorm(x: Vec, a: Vec, d: number, w: Weights, name: string): Vec {
  const out = new Float64Array(x.length);
  const g = w[`${name}.weight`].data, b = w[`${name}.bias`].data;
  for (let r = 0; r < x.length / d; r++) {
    const row = Array.from({ length: d }, (_, e) => x[r * d + e] + a[r * d + e]);
    const mean = row.reduce((s, v) => s + v, 0) / d;
    const vr = row.reduce((s, v) => s + (v - mean) ** 2, 0) / d;
    for (let e = 0; e < d; e++) out[r * d + e] = ((row[e] - mean) / Math.sqrt(vr + 1e-5)) * g[e] + b[e];
  }
  return out;
}

export interface RefImage {
  region: Vec;
  hybrid: Vec;
  mHrp: Vec;
  mHre: Vec;
}

/** SPEC 4-5; without HRP (LLM-Seg) F_h = X_g and the local features are not used. */
export function imageStep(fg: Float32Array, fl: Float32Array | undefined, masks: Uint8Array, K: number, H: number, W: number, c: RefConfig, w: Weights): RefImage {
  const { globalGrid: ng, magnification: N, dim: d } = c;
  const xg = linear(fg, ng * ng, w, 'hrp.input_proj');
  let region: Vec = new Float64Array(0);
  let hybrid = xg;
  if (c.hrp) {
    const xl = linear(fl!, N * ng * N * ng, w, 'hrp.input_proj');
    region = regionAttention(xg, xl, c, w);
    hybrid = xg.map((v, i) => c.gamma * v + (1 - c.gamma) * region[i]);
  }
  const mHrp = maskPool(masks, K, H, W, c.poolSource === 'hybrid' ? hybrid : region, c);
  let m = mHrp;
  for (let l = 0; l < c.hreLayers && K > 0; l++) {
    const a = attention(m, K, hybrid, hybrid, ng * ng, c.hreHeads, w, `hre.layers.${l}.attn`);
    m = addNorm(m, a, d, w, `hre.layers.${l}.norm`);
  }
  return { region, hybrid, mHrp, mHre: m };
}

export interface RefInstruction {
  text: Vec;
  embeddings: Vec;
  similarity: Vec;
  iop: Vec;
}

/** SPEC 6 (text projection) and 7 (fusion and heads), for one [SEG] embedding. */
export function instructionStep(mHre: ArrayLike<number>, K: number, hSeg: ArrayLike<number>, c: RefConfig, w: Weights): RefInstruction {
  const d = c.dim;
  const t = linear(relu(linear(hSeg, 1, w, 'text_hidden_fcs.0.0')), 1, w, 'text_hidden_fcs.0.2');
  let q: Vec = Float64Array.from(mHre);
  let token: Vec = Float64Array.from(t);
  for (let b = 0; b < c.fusionBlocks; b++) {
    const p = `fusion.layers.${b}`;
    q = addNorm(q, attention(q, K, q, q, K, c.fusionHeads, w, `${p}.self_attn`), d, w, `${p}.norm1`);
    q = addNorm(q, attention(q, K, token, token, 1, c.fusionHeads, w, `${p}.cross_attn_token_to_image`), d, w, `${p}.norm2`);
    q = addNorm(q, linear(relu(linear(q, K, w, `${p}.mlp.lin1`)), K, w, `${p}.mlp.lin2`), d, w, `${p}.norm3`);
    token = addNorm(token, attention(token, 1, q, q, K, c.fusionHeads, w, `${p}.cross_attn_image_to_token`), d, w, `${p}.norm4`);
  }
  q = addNorm(q, attention(q, K, token, token, 1, c.fusionHeads, w, 'fusion.final_attn_token_to_image'), d, w, 'fusion.norm_final_attn');
  const iopLogit = linear(relu(linear(q, K, w, 'iop_head.layers.0')), K, w, 'iop_head.layers.1');
  const iop = iopLogit.map((x) => 1 / (1 + Math.exp(-x)));
  const e = linear(relu(linear(q, K, w, 'embed_head.layers.0')), K, w, 'embed_head.layers.1');
  return { text: t, embeddings: e, similarity: cosineSimilarity(t, e, K, d), iop };
}

/** SPEC 7: S_sim[k] = cos(t, e_k), with torch.cosine_similarity's 1e-8 floor on the norms. */
export function cosineSimilarity(t: ArrayLike<number>, e: ArrayLike<number>, K: number, d: number): Vec {
  const similarity = new Float64Array(K);
  const tn = Math.max(Math.hypot(...Array.from(t)), 1e-8);
  for (let k = 0; k < K; k++) {
    let dot = 0, ee = 0;
    for (let i = 0; i < d; i++) {
      dot += t[i] * e[k * d + i];
      ee += e[k * d + i] * e[k * d + i];
    }
    similarity[k] = dot / (tn * Math.max(Math.sqrt(ee), 1e-8));
  }
  return similarity;
}

/** SPEC 8. Ties rank the lower index first; τ is strict; fallback 'none' keeps an empty choice. */
export function select(
  sim: ArrayLike<number>,
  iop: ArrayLike<number>,
  K: number,
  s: { strategy: string; k: number; tau: number; fallback?: 'top1-sim' | 'none' },
): { chosen: number[]; fallback: boolean } {
  if (K === 0) return { chosen: [], fallback: false };
  const bySim = [...Array(K).keys()].sort((a, b) => sim[b] - sim[a] || a - b);
  const byIop = [...Array(K).keys()].sort((a, b) => iop[b] - iop[a] || a - b);
  const k = Math.min(s.k, K);
  let chosen: number[];
  switch (s.strategy) {
    case 'top1-sim': chosen = [bySim[0]]; break;
    case 'top1-iop': chosen = [byIop[0]]; break;
    case 'iop-threshold': chosen = [...Array(K).keys()].filter((i) => iop[i] > s.tau); break;
    case 'topk-sim': chosen = bySim.slice(0, k); break;
    case 'topk-sim-iop': chosen = bySim.slice(0, k).filter((i) => iop[i] > s.tau); break;
    default: throw new Error(`unknown strategy ${s.strategy}`);
  }
  if (chosen.length === 0) return s.fallback === 'none' ? { chosen: [], fallback: false } : { chosen: [bySim[0]], fallback: true };
  return { chosen: chosen.sort((a, b) => a - b), fallback: false };
}

export function union(masks: Uint8Array, H: number, W: number, chosen: number[]): Uint8Array {
  const out = new Uint8Array(H * W);
  for (const k of chosen) for (let i = 0; i < H * W; i++) if (masks[k * H * W + i]) out[i] = 1;
  return out;
}
