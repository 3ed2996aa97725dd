import type { Normalization } from './normalize.js';

/** The tokenizer kinds a model can be trained with. */
export type TokenizerType = 'char' | 'word' | 'bpe';

/**
 * Turns text into token ids and back. Every tokenizer is trained on the training text only
 * and serialises to JSON so it is saved beside the model and restored exactly.
 */
export interface Tokenizer {
  readonly type: TokenizerType;
  /** Number of distinct ids; ids are 0..vocabSize-1. */
  readonly vocabSize: number;
  /** Id that out-of-vocabulary pieces map to; undefined for bpe, which has none by construction. */
  readonly unkId: number | undefined;
  /** Id of the end-of-line token for word tokenizers (`<eos>`); undefined elsewhere. */
  readonly eosId: number | undefined;
  /**
   * Ids a model is primed with before a text that has no context, so that the first token
   * of a text is predicted as if it started a line: '\n' for char (if in the vocabulary),
   * `<eos>` for word, the bytes of '\n' for bpe. Empty when the vocabulary has no such token.
   */
  readonly boundaryIds: readonly number[];
  /**
   * Ids generation must never emit: `<unk>` for char and word; for bpe the bytes the training
   * text never contained (control characters, bytes of scripts it never saw), whose
   * embeddings the model never learned.
   */
  readonly suppressIds: readonly number[];
  /** The text as {@link encode} reads it (see normalize.ts); unchanged for tokenizers saved before. */
  normalize(text: string): string;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** Human-readable form of one token, for per-token score details. */
  tokenText(id: number): string;
  toJSON(): TokenizerJSON;
}

export interface CharTokenizerJSON {
  type: 'char';
  /** Code points as strings, index = id; entry 0 is `<unk>`. */
  vocab: string[];
  /** How text is normalised before it is read; absent from tokenizers saved before: none. */
  normalize?: Normalization | undefined;
}

export interface WordTokenizerJSON {
  type: 'word';
  vocab: string[];
  lowercase: boolean;
  /** 2: tokens carry their spacing (reversible); absent: version 1, whitespace dropped. */
  version?: 2 | undefined;
  normalize?: Normalization | undefined;
}

export interface BpeTokenizerJSON {
  type: 'bpe';
  /** Merge rules in order; merge i creates id 256 + i from the pair [left, right]. */
  merges: [number, number][];
  /**
   * The byte values the training text contained, ascending; generation never emits the others.
   * Absent from tokenizers saved before it was recorded: then every byte may be emitted.
   */
  seenBytes?: number[] | undefined;
  /**
   * The distinct characters of the training text, in code point order: generation never emits
   * another. Absent from tokenizers saved before it was recorded: `seenBytes` alone rules.
   */
  alphabet?: string | undefined;
  normalize?: Normalization | undefined;
}

export type TokenizerJSON = CharTokenizerJSON | WordTokenizerJSON | BpeTokenizerJSON;

/** Options for training a tokenizer on a corpus. */
export interface TokenizerOptions {
  type: TokenizerType;
  /** bpe: target vocabulary size (>= 256 + 1). word: cap on vocabulary size incl. specials. */
  vocabSize?: number | undefined;
  /** word: words seen fewer times map to `<unk>`. */
  minFrequency?: number | undefined;
  /** word: lowercase before splitting. */
  lowercase?: boolean | undefined;
}
