import { CURRENT_NORMALIZATION, normalizeText, type Normalization } from './normalize.js';
import type { CharTokenizerJSON, Tokenizer } from './types.js';

/** Vocabulary entry 0 of a char tokenizer: what unseen code points map to. */
export const CHAR_UNK = '<unk>';

/**
 * Character-level tokenizer over Unicode code points (not UTF-16 units), so an astral-plane
 * emoji is one token and never split into surrogate halves that could not be decoded alone.
 */
export class CharTokenizer implements Tokenizer {
  readonly type = 'char' as const;
  readonly unkId = 0;
  readonly suppressIds: readonly number[] = [this.unkId];
  readonly eosId = undefined;
  readonly vocabSize: number;
  readonly boundaryIds: readonly number[];
  readonly normalization: Normalization | undefined;
  private readonly vocab: readonly string[];
  private readonly ids: ReadonlyMap<string, number>;

  /**
   * @param vocab code points as strings, index = id, entry 0 `<unk>`; trusted as is, so
   *   untrusted JSON goes through `tokenizerFromJSON`, which validates it first.
   */
  constructor(vocab: readonly string[], normalization?: Normalization) {
    this.vocab = [...vocab];
    this.normalization = normalization;
    this.vocabSize = this.vocab.length;
    // Entry 0 is the `<unk>` marker, not a character of the text, so it must never match input.
    this.ids = new Map(this.vocab.map((ch, id) => [ch, id] as const).slice(1));
    const newline = this.ids.get('\n');
    this.boundaryIds = newline === undefined ? [] : [newline];
  }

  /** Vocabulary = `<unk>`, then every distinct code point of the normalised `text` in code point order. */
  static train(text: string): CharTokenizer {
    const distinct = [...new Set(normalizeText(text, CURRENT_NORMALIZATION))];
    // Sort by code point, not by the default UTF-16 string order, which puts astral code
    // points between U+D7FF and U+E000.
    distinct.sort((a, b) => (a.codePointAt(0) ?? 0) - (b.codePointAt(0) ?? 0));
    return new CharTokenizer([CHAR_UNK, ...distinct], CURRENT_NORMALIZATION);
  }

  normalize(text: string): string {
    return normalizeText(text, this.normalization);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const ch of this.normalize(text)) out.push(this.ids.get(ch) ?? this.unkId);
    return out;
  }

  /** Joins the code points; `<unk>` becomes U+FFFD so the result stays plain text. */
  decode(ids: readonly number[]): string {
    let out = '';
    for (const id of ids) out += id === this.unkId ? '\uFFFD' : this.entry(id);
    return out;
  }

  tokenText(id: number): string {
    return this.entry(id);
  }

  toJSON(): CharTokenizerJSON {
    return {
      type: 'char',
      vocab: [...this.vocab],
      ...(this.normalization === undefined ? {} : { normalize: this.normalization }),
    };
  }

  private entry(id: number): string {
    const ch = this.vocab[id];
    if (ch === undefined)
      throw new RangeError(`token id ${id} is outside the vocabulary of ${this.vocabSize}`);
    return ch;
  }
}
