/**
 * An independent float64 reference of a LLaMA decoder step (transformers modeling_llama.py, as
 * LISA runs it), written for the tests: RMSNorm, rotate_half RoPE from the position ids, causal
 * attention over a cache of positions 0 … P−1 plus this step's, SiLU-gated MLP, final norm and
 * lm_head. Keys in Hugging Face names under `prefix` (`lm_head.weight` beside it).
 */
import type { Checkpoint } from '../../lib/checkpoint/index.js';

type V = Float64Array;
const f64 = (ck: Checkpoint, name: string): V => Float64Array.from(ck.get(name).float32());

function matvecRows(x: V, rows: number, inDim: number, w: V, out: number): V {
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < inDim; i++) s += x[r * inDim + i] * w[o * inDim + i];
      y[r * out + o] = s;
    }
  return y;
}

function rmsNorm(x: V, rows: number, H: number, w: V, eps: number): V {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let ms = 0;
    for (let i = 0; i < H; i++) ms += x[r * H + i] ** 2;
    const inv = 1 / Math.sqrt(ms / H + eps);
    for (let i = 0; i < H; i++) y[r * H + i] = x[r * H + i] * inv * w[i];
  }
  return y;
}

export interface LlamaCache {
  /** Per layer: [heads, P, hd] keys (after RoPE) and values. */
  keys: V[];
  values: V[];
  length: number;
}

export function llamaReference(ck: Checkpoint, prefix: string, embeds: ArrayLike<number>, positions: number[], heads: number, eps: number, cache?: LlamaCache, theta = 10000) {
  const H = ck.get(prefix + 'embed_tokens.weight').shape[1], S = positions.length, hd = H / heads, P = cache?.length ?? 0;
  let layers = 0;
  while (ck.has(`${prefix}layers.${layers}.self_attn.q_proj.weight`)) layers++;
  let h: V = Float64Array.from(embeds);
  const out: LlamaCache = { keys: [], values: [], length: P + S };
  const rope = (v: V) => {
    // v [S, heads·hd] → rotated in place per head: x·cos + rotate_half(x)·sin
    const r = new Float64Array(v.length);
    for (let s = 0; s < S; s++)
      for (let hh = 0; hh < heads; hh++)
        for (let i = 0; i < hd; i++) {
          const f = Math.fround(positions[s] * Math.fround(1 / theta ** ((2 * (i % (hd / 2))) / hd)));
          const x = v[s * H + hh * hd + i];
          const rot = i < hd / 2 ? -v[s * H + hh * hd + i + hd / 2] : v[s * H + hh * hd + i - hd / 2];
          r[s * H + hh * hd + i] = x * Math.cos(f) + rot * Math.sin(f);
        }
    return r;
  };
  for (let l = 0; l < layers; l++) {
    const p = `${prefix}layers.${l}.`;
    const y = rmsNorm(h, S, H, f64(ck, p + 'input_layernorm.weight'), eps);
    const q = rope(matvecRows(y, S, H, f64(ck, p + 'self_attn.q_proj.weight'), H));
    const k = rope(matvecRows(y, S, H, f64(ck, p + 'self_attn.k_proj.weight'), H));
    const v = matvecRows(y, S, H, f64(ck, p + 'self_attn.v_proj.weight'), H);
    // The cache grows by this step's keys and values: [heads, P + S, hd].
    const K = new Float64Array(heads * (P + S) * hd), Vv = new Float64Array(heads * (P + S) * hd);
    for (let hh = 0; hh < heads; hh++) {
      for (let j = 0; j < P; j++)
        for (let e = 0; e < hd; e++) {
          K[(hh * (P + S) + j) * hd + e] = cache!.keys[l][(hh * P + j) * hd + e];
          Vv[(hh * (P + S) + j) * hd + e] = cache!.values[l][(hh * P + j) * hd + e];
        }
      for (let s = 0; s < S; s++)
        for (let e = 0; e < hd; e++) {
          K[(hh * (P + S) + P + s) * hd + e] = k[s * H + hh * hd + e];
          Vv[(hh * (P + S) + P + s) * hd + e] = v[s * H + hh * hd + e];
        }
    }
    out.keys.push(K);
    out.values.push(Vv);
    const ctx = new Float64Array(S * H);
    for (let hh = 0; hh < heads; hh++)
      for (let s = 0; s < S; s++) {
        const sc: number[] = [];
        for (let j = 0; j <= positions[s] && j < P + S; j++) {
          let d = 0;
          for (let e = 0; e < hd; e++) d += q[s * H + hh * hd + e] * K[(hh * (P + S) + j) * hd + e];
          sc.push(d / Math.sqrt(hd));
        }
        const m = Math.max(...sc);
        const ex = sc.map((x) => Math.exp(x - m)), z = ex.reduce((a, b) => a + b, 0);
        for (let e = 0; e < hd; e++) {
          let acc = 0;
          ex.forEach((w, j) => (acc += (w / z) * Vv[(hh * (P + S) + j) * hd + e]));
          ctx[s * H + hh * hd + e] = acc;
        }
      }
    const o = matvecRows(ctx, S, H, f64(ck, p + 'self_attn.o_proj.weight'), H);
    for (let i = 0; i < h.length; i++) h[i] += o[i];
    const z = rmsNorm(h, S, H, f64(ck, p + 'post_attention_layernorm.weight'), eps);
    const I = ck.get(p + 'mlp.gate_proj.weight').shape[0];
    const gate = matvecRows(z, S, H, f64(ck, p + 'mlp.gate_proj.weight'), I), up = matvecRows(z, S, H, f64(ck, p + 'mlp.up_proj.weight'), I);
    const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
    const d = matvecRows(act, S, I, f64(ck, p + 'mlp.down_proj.weight'), H);
    const next = new Float64Array(h.length);
    for (let i = 0; i < h.length; i++) next[i] = h[i] + d[i];
    h = next;
  }
  const hidden = rmsNorm(h, S, H, f64(ck, prefix + 'norm.weight'), eps);
  const lm = ck.get(prefix.replace(/model\.$/, '') + 'lm_head.weight');
  const logits = matvecRows(hidden, S, H, Float64Array.from(lm.float32()), lm.shape[0]);
  return { hidden, logits, cache: out };
}
