import { errors } from '../../errors.js';
import { CURRENT_NORMALIZATION, normalizeText, type Normalization } from './normalize.js';
import type { Tokenizer, WordTokenizerJSON } from './types.js';
import { splitSpaced } from './word-split.js';

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
 * Version 1 (tokenizers saved without a `version`): splits text into words, punctuation, and
 * `<eos>` after every line that ends in '\n', as the WikiText / PyTorch word_language_model
 * pipeline does; whitespace is dropped. A last line without '\n' gets no `<eos>`, so a prompt
 * that stops mid-line is continued on the same line.
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

/** How a word tokenizer cuts and spaces text: 1 drops whitespace, 2 keeps it in the tokens. */
export type WordVersion = 1 | 2;

/** What a word tokenizer records besides its vocabulary. */
export interface WordTokenizerOptions {
  /** 2 for tokenizers trained now; absent (1) for those saved before tokens carried spacing. */
  version?: WordVersion | undefined;
  normalization?: Normalization | undefined;
}

/**
 * Word-level tokenizer. Version 2 (trained now) is reversible: a token carries the space
 * before it (" the", as byte-level BPE's tokens do), punctuation and other whitespace are
 * tokens as written, and words are cut on grapheme clusters, so `decode(encode(text))` gives
 * back the normalised text whenever the vocabulary covers it. Version 1 (models saved before)
 * drops whitespace and decodes with single spaces between tokens, as it always did.
 */
export class WordTokenizer implements Tokenizer {
  readonly type = 'word' as const;
  readonly unkId = 0;
  readonly eosId = 1;
  readonly boundaryIds: readonly number[] = [this.eosId];
  readonly suppressIds: readonly number[] = [this.unkId];
  readonly vocabSize: number;
  readonly lowercase: boolean;
  readonly version: WordVersion;
  readonly normalization: Normalization | undefined;
  private readonly vocab: readonly string[];
  private readonly ids: ReadonlyMap<string, number>;

  /**
   * @param vocab words, index = id, entries 0 and 1 `<unk>` and `<eos>`; trusted as is, so
   *   untrusted JSON goes through `tokenizerFromJSON`, which validates it first.
   */
  constructor(vocab: readonly string[], lowercase: boolean, options: WordTokenizerOptions = {}) {
    this.vocab = [...vocab];
    this.vocabSize = this.vocab.length;
    this.lowercase = lowercase;
    this.version = options.version ?? 1;
    this.normalization = options.normalization;
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
    const normalized = normalizeText(text, CURRENT_NORMALIZATION);
    for (const token of splitSpaced(lowercase ? normalized.toLowerCase() : normalized)) {
      if (token !== WORD_EOS && token !== WORD_UNK) counts.set(token, (counts.get(token) ?? 0) + 1);
    }
    // Map order is first occurrence and Array#sort is stable, so equal counts keep it.
    const words = [...counts]
      .filter(([, count]) => count >= minFrequency)
      .sort((a, b) => b[1] - a[1])
      .map(([word]) => word);
    const kept = vocabSize === undefined ? words : words.slice(0, vocabSize - 2);
    return new WordTokenizer([WORD_UNK, WORD_EOS, ...kept], lowercase, {
      version: 2,
      normalization: CURRENT_NORMALIZATION,
    });
  }

  normalize(text: string): string {
    return normalizeText(text, this.normalization);
  }

  encode(text: string): number[] {
    const normalized = this.normalize(text);
    const cased = this.lowercase ? normalized.toLowerCase() : normalized;
    const tokens = this.version === 2 ? splitSpaced(cased) : splitWords(cased);
    return tokens.map((token) => this.ids.get(token) ?? this.unkId);
  }

  /**
   * The ids a generation's prompt is read as. A version-2 prompt's last space is left out: it
   * belongs to the next word (" the"), which the model is to choose, and the streaming decoder
   * drops the space that word brings (see `createStreamingDecoder`).
   */
  encodePrompt(text: string): number[] {
    const normalized = this.normalize(text);
    return this.encode(this.version === 2 && normalized.endsWith(' ') ? normalized.slice(0, -1) : normalized);
  }

  /**
   * Version 2: the tokens' text as they carry it, `<eos>` as '\n', and `<unk>` as itself,
   * spaced from a word before it (its own space was not kept). Version 1: single spaces
   * between tokens, `<eos>` as '\n' with no space on either side.
   */
  decode(ids: readonly number[]): string {
    if (this.version === 2) {
      let out = '';
      for (const id of ids) out += this.spacedText(id, out.at(-1));
      return out;
    }
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

  /**
   * Version 2: the text token `id` adds after a text whose last character is `before`
   * (undefined: nothing before it). Only `<unk>` depends on it.
   */
  spacedText(id: number, before: string | undefined): string {
    if (id === this.eosId) return '\n';
    if (id !== this.unkId) return this.tokenText(id);
    return before === undefined || /\s/u.test(before) ? WORD_UNK : ` ${WORD_UNK}`;
  }

  tokenText(id: number): string {
    const word = this.vocab[id];
    if (word === undefined)
      throw new RangeError(`token id ${id} is outside the vocabulary of ${this.vocabSize}`);
    return word;
  }

  toJSON(): WordTokenizerJSON {
    return {
      type: 'word',
      vocab: [...this.vocab],
      lowercase: this.lowercase,
      ...(this.version === 2 ? { version: 2 as const } : {}),
      ...(this.normalization === undefined ? {} : { normalize: this.normalization }),
    };
  }
}
