/**
 * The VLM's tokenizer files for a package: a Hugging Face tokenizer.json (+ tokenizer_config.json)
 * with the tokens LISA-style models add: LLaVA's <im_patch>, <im_start>, <im_end>, then LISA's
 * [SEG] (LISA-7B-v1 and LLM-Seg: 32000…32003), each appended when the file lacks it, and the
 * table's size checked against the checkpoint's embedding rows (a mismatch means another order:
 * the error says so). The prompt's image placeholder "<image>" is added past the table: the
 * runner splits the prompt there and never embeds it.
 *
 * LISA and LLM-Seg tokenized with transformers 4.29's slow LlamaTokenizer, which strips the
 * whitespace on both sides of tokens added as plain strings (the newline after <im_end> goes). A
 * tokenizer.json does that when those tokens say lstrip and rstrip, so the four are marked so, also
 * when the given file already holds them (test/tokenizer-llama.test.ts checks the ids on LLaMA's
 * real vocabulary). A sentencepiece tokenizer.model is converted first (sentencepiece.ts);
 * test/hf-goldens.test.ts checks both forms against transformers 4.31's slow LlamaTokenizer.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { HrsegError } from '../errors.js';
import { randomTokenizerJson } from './random.js';
import { readSentencePieceModel, sentencePieceToTokenizerJson } from './sentencepiece.js';

export const ADDED_TOKENS = ['<im_patch>', '<im_start>', '<im_end>', '[SEG]'] as const;

interface TokenizerJson {
  added_tokens?: { id: number; content: string; special?: boolean; single_word?: boolean; lstrip?: boolean; rstrip?: boolean; normalized?: boolean }[];
  model?: { vocab?: Record<string, number> | [string, number][] };
}

export function prepareTokenizer(source: string, rows: number): { json: TokenizerJson; config: Record<string, unknown>; added: string[] } {
  if (source === RANDOM_TOKENIZER)
    return withAddedTokens(randomTokenizerJson() as TokenizerJson, { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' }, rows, source);
  const dir = existsSync(source) && statSync(source).isDirectory() ? source : undefined;
  // A folder: its tokenizer.json, else its sentencepiece tokenizer.model.
  const file = dir
    ? existsSync(join(dir, 'tokenizer.json')) || !existsSync(join(dir, 'tokenizer.model'))
      ? join(dir, 'tokenizer.json')
      : join(dir, 'tokenizer.model')
    : source;
  let json: TokenizerJson;
  if (/\.model$/.test(file)) {
    // A sentencepiece model: converted as transformers' LlamaConverter would (sentencepiece.ts).
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new HrsegError('MODEL_FILE', `${file}: cannot read the tokenizer (${(e as Error).message})`);
    }
    json = sentencePieceToTokenizerJson(readSentencePieceModel(bytes, file), file) as TokenizerJson;
  } else {
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new HrsegError('MODEL_FILE', `${file}: cannot read the tokenizer (${(e as Error).message})`);
    }
  }
  const configFile = join(dir ?? join(file, '..'), 'tokenizer_config.json');
  const config = existsSync(configFile)
    ? (JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>)
    : { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' };
  return withAddedTokens(json, config, rows, file);
}

/** The tokenizer random packages get (`hrseg convert --random llm-seg-7b`): random.ts's WordPiece stand-in. */
export const RANDOM_TOKENIZER = 'random:wordpiece-32000';

function withAddedTokens(
  json: TokenizerJson,
  config: Record<string, unknown>,
  rows: number,
  file: string,
): { json: TokenizerJson; config: Record<string, unknown>; added: string[] } {
  const vocab = json.model?.vocab;
  const ids = new Map<string, number>(Array.isArray(vocab) ? vocab.map(([t], i) => [t, i] as [string, number]) : Object.entries(vocab ?? {}));
  json.added_tokens ??= [];
  for (const a of json.added_tokens) ids.set(a.content, a.id);
  let size = Math.max(-1, ...ids.values()) + 1;
  const added: string[] = [];
  const add = (content: string) => {
    json.added_tokens!.push({ id: size, content, special: true, single_word: false, lstrip: true, rstrip: true, normalized: false });
    ids.set(content, size++);
    added.push(content);
  };
  for (const a of json.added_tokens) if ((ADDED_TOKENS as readonly string[]).includes(a.content)) Object.assign(a, { lstrip: true, rstrip: true });
  // The slow tokenizer splits special tokens (<s>, </s>, <unk>) out of the raw text; a fast file
  // that marks them normalized (transformers 4.31's) looks for them after the ▁ prefix and misses
  // "<s>" at the start of a piece of text.
  for (const a of json.added_tokens) if (a.special) a.normalized = false;
  for (const t of ADDED_TOKENS) if (!ids.has(t)) add(t);
  if (size !== rows)
    throw new HrsegError(
      'MODEL_FILE',
      `${file}: the tokenizer has ${size} tokens with ${ADDED_TOKENS.join(', ')}, but the checkpoint's embedding table has ${rows} rows: ` +
        `the added tokens are in another order (LISA-13B-llama2 puts [SEG] first); give a tokenizer.json that already holds them with the checkpoint's ids`,
    );
  if (!ids.has('<image>')) add('<image>');
  return { json, config, added };
}
