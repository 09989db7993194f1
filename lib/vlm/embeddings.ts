/**
 * The token-embedding table (vlm/embed_tokens.safetensors), memory-mapped by the native core:
 * rows are gathered (and widened from f16/bf16) on demand, the table is never copied.
 */
import { callNative } from '../errors.js';
import { native } from '../native.js';
import type { Tensor } from '../tensor.js';

interface NativeEmbeddingsApi {
  openEmbeddings(path: string, name?: string): { handle: unknown; vocab: number; dim: number };
  embeddingsGather(handle: unknown, ids: number[]): Tensor<'float32'>;
}
const api = () => native() as unknown as NativeEmbeddingsApi;

export class EmbeddingTable {
  private constructor(
    private readonly handle: unknown,
    readonly vocab: number,
    readonly dim: number,
    readonly file: string,
  ) {}

  /** `name`: the tensor; by default the file's only 2-D tensor. */
  static open(file: string, name?: string): EmbeddingTable {
    const t = callNative(() => api().openEmbeddings(file, name));
    return new EmbeddingTable(t.handle, t.vocab, t.dim, file);
  }

  /** ids → float32 [1, n, dim]. */
  gather(ids: readonly number[]): Tensor<'float32'> {
    return callNative(() => api().embeddingsGather(this.handle, [...ids]));
  }
}
