/**
 * The main FLOP terms of the real-size networks, for the benchmarks to state their speed as a
 * share of this CPU's peaks (scripts/bench/cpu-peaks.ts). Counted from the architectures, not
 * measured: the elementwise work (norms, softmax, GELU) is left out.
 */

/** SAM image encoder FLOPs (ViT: D, depth, 14² windows on a 64² grid padded to 70², global blocks). */
export function samEncoderFlops(D: number, depth: number, globals: number): number {
  const G = 64,
    w = 14,
    Gp = 70,
    nw = (Gp / w) ** 2,
    T = w * w;
  const dense = (N: number) => 2 * N * D * (3 * D + D + 8 * D); // qkv, proj, MLP 4×
  let f = 2 * G * G * D * 3 * 256; // patch embedding
  for (let i = 0; i < depth; i++)
    if (i < globals) f += dense(G * G) + 4 * (G * G) ** 2 * D + 4 * G * G * G * D;
    else f += dense(nw * T) + 4 * nw * T * T * D + 4 * nw * T * w * D;
  return f + 2 * G * G * D * 256 + 2 * G * G * 256 * 256 * 9;
}

/**
 * SAM decoder FLOPs for B prompts as hrseg's graph executes them (main terms): the first layer's
 * image-side projections once; per prompt, the cross-attentions between the image rows and the
 * heads × tokens matrices (8 × 7 for a point prompt: lib/convert/sam-decoder.ts moves the
 * projections to the tokens' side), the upscaling and the masks.
 */
export function samDecoderFlops(B: number): number {
  const HW = 4096,
    C = 256,
    I = 128,
    HT = 8 * 7;
  const shared = 2 * HW * C * I * 3; // layer 0: token→image k, v; image→token q
  const layer0 = 2 * B * HW * HT * C; // image→token: probabilities × (values·Wo)
  const layer1 = 2 * 2 * B * HT * C * HW + 2 * 2 * B * HW * C * HT; // token→image, image→token
  const final = 2 * 2 * B * HT * C * HW;
  const up = 2 * B * HW * C * 64 * 4 + 2 * B * 4 * HW * 64 * 32 * 4;
  const masks = 2 * B * 4 * 32 * 16 * HW;
  return shared + layer0 + layer1 + final + up + masks;
}

/** DINOv2 FLOPs for V views of T tokens (D wide, depth blocks, MLP 4×). */
export function dinoFlops(V: number, T: number, D: number, depth: number): number {
  return V * (2 * (T - 1) * D * 588 + depth * (2 * T * D * 12 * D + 4 * T * T * D));
}

/** A LLaMA-7B-shaped decoder over `tokens` positions: 2 FLOP per weight per token (6.74 G weights), attention's products aside. */
export function llama7bFlops(tokens: number): number {
  return 2 * 6.74e9 * tokens;
}

/** CLIP ViT-L/14 at 224² (257 tokens, width 1024, 24 blocks, MLP 4×). */
export function clipL14Flops(): number {
  const T = 257,
    D = 1024;
  return 2 * 256 * D * 588 + 24 * (2 * T * D * 12 * D + 4 * T * T * D);
}
