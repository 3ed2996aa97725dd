import { errors } from '../../errors.js';
import type { Tokenizer, WordTokenizerJSON } from './types.js';

/** Vocabulary entry 0 of a word tokenizer: what out-of-vocabulary words map to. */
export const WORD_UNK = '<unk>';
/** Vocabulary entry 1 of a word tokenizer: the end of a line. */
export const WORD_EOS = '<eos>';

/**
 * A word is a run of letters, digits and combining marks, with apostrophes allowed only
 * between such runs ("don't" stays whole, "'tis" is "'" + "tis"); every other non-space code
 * point is a token of its own. Marks belong to words so that scripts written with combining
 * vowel signs (Devanagari, Arabic diacritics) are not cut apart.
 */
const WORD_PATTERN = /[\p{L}\p{N}\p{M}]+(?:['’][\p{L}\p{N}\p{M}]+)*|[^\s\p{L}\p{N}\p{M}]/gu;

/** Options of {@link WordTokenizer.train}. */
export interface WordTrainOptions {
  /** Cap on the vocabulary size including `<unk>` and `<eos>`; no cap when absent. */
  vocabSize?: number | undefined;
  /** Words seen fewer times than this are left out of the vocabulary. Default 1. */
  minFrequency?: number | undefined;
  /** Lowercase the text before splitting, at training and at encoding time. Default false. */
  lowercase?: boolean | undefined;
}

/**
 * Splits text into its tokens: words, punctuation, and `<eos>` after every line that ends in
 * '\n', as the WikiText / PyTorch word_language_model pipeline does. A last line without
 * '\n' gets no `<eos>`, so a prompt that stops mid-line is continued on the same line.
 */
function splitWords(text: string): string[] {
  const lines = text.split('\n');
  const out: string[] = [];
  lines.forEach((line, i) => {
    for (const match of line.matchAll(WORD_PATTERN)) out.push(match[0]);
    if (i < lines.length - 1) out.push(WORD_EOS);
  });
  return out;
}

/**
 * Word-level tokenizer. Whitespace only separates tokens, so decoding puts single spaces
 * between tokens and the round trip is exact up to whitespace.
 */
export class WordTokenizer implements Tokenizer {
  readonly type = 'word' as const;
  readonly unkId = 0;
  readonly eosId = 1;
  readonly boundaryIds: readonly number[] = [this.eosId];
  readonly suppressIds: readonly number[] = [this.unkId];
  readonly vocabSize: number;
  readonly lowercase: boolean;
  private readonly vocab: readonly string[];
  private readonly ids: ReadonlyMap<string, number>;

  /**
   * @param vocab words, index = id, entries 0 and 1 `<unk>` and `<eos>`; trusted as is, so
   *   untrusted JSON goes through `tokenizerFromJSON`, which validates it first.
   */
  constructor(vocab: readonly string[], lowercase: boolean) {
    this.vocab = [...vocab];
    this.vocabSize = this.vocab.length;
    this.lowercase = lowercase;
    this.ids = new Map(this.vocab.map((word, id) => [word, id] as const));
  }

  /**
   * Vocabulary = `<unk>`, `<eos>`, then the words seen at least `minFrequency` times, most
   * frequent first with ties in order of first occurrence, cut to `vocabSize` entries.
   */
  static train(text: string, options: WordTrainOptions = {}): WordTokenizer {
    const { vocabSize, minFrequency = 1, lowercase = false } = options;
    if (vocabSize !== undefined && !(Number.isInteger(vocabSize) && vocabSize >= 2)) {
      throw errors.outOfRange('vocabSize', 'of a word tokenizer must be an integer >= 2', vocabSize);
    }
    if (!(Number.isInteger(minFrequency) && minFrequency >= 1)) {
      throw errors.outOfRange('minFrequency', 'must be an integer >= 1', minFrequency);
    }
    const counts = new Map<string, number>();
    for (const token of splitWords(lowercase ? text.toLowerCase() : text)) {
      if (token !== WORD_EOS) counts.set(token, (counts.get(token) ?? 0) + 1);
    }
    // Map order is first occurrence and Array#sort is stable, so equal counts keep it.
    const words = [...counts]
      .filter(([, count]) => count >= minFrequency)
      .sort((a, b) => b[1] - a[1])
      .map(([word]) => word);
    const kept = vocabSize === undefined ? words : words.slice(0, vocabSize - 2);
    return new WordTokenizer([WORD_UNK, WORD_EOS, ...kept], lowercase);
  }

  encode(text: string): number[] {
    return splitWords(this.lowercase ? text.toLowerCase() : text).map(
      (token) => this.ids.get(token) ?? this.unkId,
    );
  }

  /** Single spaces between tokens, `<eos>` as '\n' with no space on either side. */
  decode(ids: readonly number[]): string {
    let out = '';
    let lineStart = true;
    for (const id of ids) {
      if (id === this.eosId) {
        out += '\n';
        lineStart = true;
      } else {
        out += lineStart ? this.tokenText(id) : ` ${this.tokenText(id)}`;
        lineStart = false;
      }
    }
    return out;
  }

  tokenText(id: number): string {
    const word = this.vocab[id];
    if (word === undefined)
      throw new RangeError(`token id ${id} is outside the vocabulary of ${this.vocabSize}`);
    return word;
  }

  toJSON(): WordTokenizerJSON {
    return { type: 'word', vocab: [...this.vocab], lowercase: this.lowercase };
  }
}
