/**
 * The package's tokenizer.json through @huggingface/tokenizers (tokenizers.js): the pure-JS port of
 * Hugging Face's tokenizers that Transformers.js itself uses. It reads the same tokenizer.json as
 * the Python/Rust library (BPE with byte fallback for LLaMA, WordPiece, Unigram), has no native
 * code and no dependencies, and is maintained by Hugging Face; writing our own would only repeat it
 * with more bugs.
 */
import { readFile } from 'node:fs/promises';

import { Tokenizer } from '@huggingface/tokenizers';

import { HrsegError } from '../errors.js';

export class VlmTokenizer {
  private constructor(
    private readonly tok: Tokenizer,
    readonly file: string,
  ) {}

  static async load(file: string, configFile?: string): Promise<VlmTokenizer> {
    const read = async (path: string) => {
      const text = await readFile(path, 'utf8').catch((cause: unknown) => {
        throw new HrsegError('MODEL_FILE', `tokenizer file not readable: ${path} (${(cause as Error).message})`, { cause });
      });
      try {
        return JSON.parse(text) as object;
      } catch (cause) {
        throw new HrsegError('MODEL_FILE', `${path} is not valid JSON: ${(cause as Error).message}`, { cause });
      }
    };
    const json = await read(file);
    const config = configFile ? await read(configFile) : {};
    try {
      return new VlmTokenizer(new Tokenizer(json, config), file);
    } catch (cause) {
      throw new HrsegError('MODEL_FILE', `${file}: not a tokenizer this runtime can read: ${(cause as Error).message}`, { cause });
    }
  }

  /** Ids of `text` without special tokens added (BOS is placed by the prompt builder). */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], skipSpecial = false): string {
    if (ids.length === 0) return '';
    return this.tok.decode([...ids], { skip_special_tokens: skipSpecial });
  }

  /** The id of a token that must exist and must encode as itself, alone (e.g. "[SEG]"). */
  singleToken(token: string): number {
    const id = this.tok.token_to_id(token);
    if (id === undefined) throw new HrsegError('MODEL_FILE', `${this.file}: the tokenizer has no token '${token}'`);
    const ids = this.encode(token);
    if (ids.length !== 1 || ids[0] !== id)
      throw new HrsegError('MODEL_FILE', `${this.file}: '${token}' does not encode as one token (got [${ids.join(', ')}]); add it as an added/special token`);
    return id;
  }

  get vocabSize(): number {
    return this.tok.get_vocab(true).size;
  }
}
