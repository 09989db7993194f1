/**
 * A sentencepiece `tokenizer.model` (LLaMA's) → a Hugging Face tokenizer.json, as transformers'
 * LlamaConverter writes it (convert_slow_tokenizer.py, legacy): BPE over the model's pieces in id
 * order, merges from generate_merges (every split of a piece into two pieces, ordered by the
 * merged piece's id, then the halves' lengths), byte fallback, unk fused; normaliser Prepend("▁")
 * (the dummy prefix) then Replace(" ", "▁"); no pre-tokenizer; decoder ▁ → space, byte fallback,
 * fuse, strip the first space. Control and unknown pieces become special added tokens, user-defined
 * pieces plain added tokens.
 *
 * The file is a protobuf ModelProto (sentencepiece_model.proto); read here by a small reader of
 * the few fields this needs (pieces 1 {piece 1, score 2, type 3}, trainer_spec 2 {model_type 3,
 * byte_fallback 35}, normalizer_spec 3 {name 1, add_dummy_prefix 3, remove_extra_whitespaces 4}).
 * What LlamaConverter would not reproduce exactly is refused: unigram models, normalisers other
 * than identity, collapsing extra whitespace.
 */
import { HrsegError } from '../errors.js';

export interface SentencePiece {
  piece: string;
  score: number;
  /** 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  type: number;
}

export interface SentencePieceModel {
  pieces: SentencePiece[];
  /** 1 unigram, 2 BPE, 3 word, 4 char. */
  modelType: number;
  byteFallback: boolean;
  normalizer: string;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
}

/** The protobuf wire format, as far as ModelProto needs it. */
class Reader {
  #pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}

  get done(): boolean {
    return this.#pos >= this.buf.length;
  }

  fail(why: string): never {
    throw new HrsegError('MODEL_FILE', `${this.what}: not a sentencepiece model (${why} at byte ${this.#pos})`);
  }

  varint(): number {
    let result = 0,
      shift = 0;
    for (;;) {
      if (this.#pos >= this.buf.length) this.fail('truncated varint');
      const b = this.buf[this.#pos++];
      if (shift < 49) result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
      shift += 7;
      if (shift > 63) this.fail('varint too long');
    }
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (this.#pos + n > this.buf.length) this.fail('truncated field');
    const out = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  float(): number {
    if (this.#pos + 4 > this.buf.length) this.fail('truncated float');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.#pos, 4).getFloat32(0, true);
    this.#pos += 4;
    return v;
  }

  /** Calls `on(field, wire)` for each field; `on` must consume the value or return false to skip it. */
  fields(on: (field: number, wire: number) => boolean): void {
    while (!this.done) {
      const key = this.varint();
      const field = Math.floor(key / 8),
        wire = key & 7;
      if (field === 0) this.fail('field number 0');
      if (on(field, wire)) continue;
      if (wire === 0) this.varint();
      else if (wire === 1) this.skip(8);
      else if (wire === 2) this.bytes();
      else if (wire === 5) this.skip(4);
      else this.fail(`wire type ${wire}`);
    }
  }

  private skip(n: number): void {
    if (this.#pos + n > this.buf.length) this.fail('truncated field');
    this.#pos += n;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function readSentencePieceModel(bytes: Uint8Array, what = 'tokenizer.model'): SentencePieceModel {
  const m: SentencePieceModel = { pieces: [], modelType: 1, byteFallback: false, normalizer: 'nmt_nfkc', addDummyPrefix: true, removeExtraWhitespaces: true };
  const r = new Reader(bytes, what);
  const text = (b: Uint8Array) => {
    try {
      return utf8.decode(b);
    } catch {
      return r.fail('a piece that is not UTF-8');
    }
  };
  r.fields((field, wire) => {
    if (wire !== 2) return false;
    const sub = new Reader(r.bytes(), what);
    if (field === 1) {
      const p: SentencePiece = { piece: '', score: 0, type: 1 };
      sub.fields((f, w) => {
        if (f === 1 && w === 2) p.piece = text(sub.bytes());
        else if (f === 2 && w === 5) p.score = sub.float();
        else if (f === 3 && w === 0) p.type = sub.varint();
        else return false;
        return true;
      });
      m.pieces.push(p);
    } else if (field === 2) {
      sub.fields((f, w) => {
        if (f === 3 && w === 0) m.modelType = sub.varint();
        else if (f === 35 && w === 0) m.byteFallback = sub.varint() !== 0;
        else return false;
        return true;
      });
    } else if (field === 3) {
      sub.fields((f, w) => {
        if (f === 1 && w === 2) m.normalizer = text(sub.bytes());
        else if (f === 3 && w === 0) m.addDummyPrefix = sub.varint() !== 0;
        else if (f === 4 && w === 0) m.removeExtraWhitespaces = sub.varint() !== 0;
        else return false;
        return true;
      });
    }
    return true;
  });
  if (m.pieces.length === 0) r.fail('no pieces');
  return m;
}

/** transformers' generate_merges for a BPE vocabulary without scores (tokenization_utils_base.py). */
export function sentencePieceMerges(pieces: readonly string[]): [string, string][] {
  const vocab = new Map(pieces.map((p, i) => [p, i] as [string, number]));
  const merges: { l: string; r: string; id: number; ll: number; lr: number }[] = [];
  pieces.forEach((merged, id) => {
    const chars = [...merged]; // splits fall between code points, as Python's str slicing
    const local: { l: string; r: string }[] = [];
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join(''),
        r = chars.slice(k).join('');
      if (vocab.has(l) && vocab.has(r)) local.push({ l, r });
    }
    local.sort((a, b) => vocab.get(a.l)! - vocab.get(b.l)! || vocab.get(a.r)! - vocab.get(b.r)!);
    for (const { l, r } of local) merges.push({ l, r, id, ll: [...l].length, lr: [...r].length });
  });
  // Python's sort is stable, as is Array.prototype.sort.
  merges.sort((a, b) => a.id - b.id || a.ll - b.ll || a.lr - b.lr);
  return merges.map((m) => [m.l, m.r]);
}

/** The tokenizer.json transformers' LlamaConverter (legacy) makes of this model. */
export function sentencePieceToTokenizerJson(m: SentencePieceModel, what = 'tokenizer.model'): object {
  const refuse = (why: string): never => {
    throw new HrsegError('INVALID_ARGUMENT', `${what}: ${why}; give the base model's tokenizer.json instead`);
  };
  if (m.modelType !== 2)
    refuse(`a ${({ 1: 'unigram', 3: 'word', 4: 'char' } as Record<number, string>)[m.modelType] ?? `type ${m.modelType}`} model, not BPE (LLaMA's)`);
  if (m.normalizer !== 'identity') refuse(`its normaliser is '${m.normalizer}', not LLaMA's 'identity'`);
  if (m.removeExtraWhitespaces) refuse('it collapses extra whitespace, which a tokenizer.json does not reproduce');
  const pieces = m.pieces.map((p) => p.piece);
  const unk = m.pieces.findIndex((p) => p.type === 2);
  if (unk < 0) refuse('it has no unknown piece');
  const added = m.pieces.flatMap((p, id) =>
    p.type === 2 || p.type === 3 || p.type === 4
      ? [{ id, content: p.piece, single_word: false, lstrip: false, rstrip: false, normalized: p.type === 4, special: p.type !== 4 }]
      : [],
  );
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: 'Sequence',
      normalizers: [...(m.addDummyPrefix ? [{ type: 'Prepend', prepend: '▁' }] : []), { type: 'Replace', pattern: { String: ' ' }, content: '▁' }],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        ...(m.byteFallback ? [{ type: 'ByteFallback' }] : []),
        { type: 'Fuse' },
        ...(m.addDummyPrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: pieces[unk],
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: m.byteFallback,
      ignore_merges: false,
      vocab: Object.fromEntries(pieces.map((p, i) => [p, i])),
      merges: sentencePieceMerges(pieces).map(([l, r]) => `${l} ${r}`),
    },
  };
}
