/** Writes the tiny VLM package of scripts/models/tiny-vlm.ts into a directory. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { tinyDecoder, tinyEmbeddingsFile, tinyTokenizerConfig, tinyTokenizerJson, tinyVision } from '../../scripts/models/tiny-vlm.js';
import type { VlmFiles } from '../../lib/vlm/index.js';

export function writeTinyVlm(dir: string, options: { emitSeg?: boolean; endless?: boolean } = {}): VlmFiles {
  mkdirSync(dir, { recursive: true });
  const files: VlmFiles = {
    vision: join(dir, 'vision.onnx'),
    decoder: join(dir, 'decoder.onnx'),
    embeddings: join(dir, 'embed_tokens.safetensors'),
    tokenizer: join(dir, 'tokenizer.json'),
    tokenizerConfig: join(dir, 'tokenizer_config.json'),
  };
  writeFileSync(files.vision, tinyVision());
  writeFileSync(files.decoder, tinyDecoder(options));
  writeFileSync(files.embeddings, tinyEmbeddingsFile());
  writeFileSync(files.tokenizer, JSON.stringify(tinyTokenizerJson()));
  writeFileSync(files.tokenizerConfig!, JSON.stringify(tinyTokenizerConfig()));
  return files;
}
