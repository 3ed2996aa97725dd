import { z } from 'zod';

import { errors } from '../../errors.js';
import { BPE_MAX_VOCAB_SIZE, BpeTokenizer } from './bpe.js';
import { CHAR_UNK, CharTokenizer } from './char.js';
import type { Tokenizer, TokenizerJSON, TokenizerOptions } from './types.js';
import { UTF8_BOUNDARY, utf8Step, type Utf8State } from './utf8.js';
import { WORD_EOS, WORD_UNK, WordTokenizer } from './word.js';

export type {
  BpeTokenizerJSON,
  CharTokenizerJSON,
  Tokenizer,
  TokenizerJSON,
  TokenizerOptions,
  TokenizerType,
  WordTokenizerJSON,
} from './types.js';
export { BpeTokenizer, CharTokenizer, WordTokenizer };
export { CURRENT_NORMALIZATION, normalizeText, type Normalization } from './normalize.js';
export { UTF8_BOUNDARY, utf8Advance, utf8StateKey, utf8Step, type Utf8State } from './utf8.js';

/** Trains the tokenizer `options.type` names on `text`; options that kind has no use for are ignored. */
export function trainTokenizer(text: string, options: TokenizerOptions): Tokenizer {
  switch (options.type) {
    case 'char':
      return CharTokenizer.train(text);
    case 'word':
      return WordTokenizer.train(text, options);
    case 'bpe':
      return BpeTokenizer.train(text, options);
    default:
      throw errors.unknownTokenizer(options.type);
  }
}

const distinct = (entries: readonly string[]): boolean => new Set(entries).size === entries.length;

const normalizeField = z.literal('nfc-lf').optional();

const charSchema = z.object({
  type: z.literal('char'),
  normalize: normalizeField,
  vocab: z
    .array(z.string())
    .min(1)
    .refine((vocab) => vocab[0] === CHAR_UNK, `entry 0 must be ${CHAR_UNK}`)
    .refine((vocab) => vocab.slice(1).every((ch) => [...ch].length === 1), 'entries must be one code point')
    .refine(distinct, 'entries must be distinct'),
});

const wordSchema = z.object({
  type: z.literal('word'),
  vocab: z
    .array(z.string().min(1))
    .min(2)
    .refine((vocab) => vocab[0] === WORD_UNK && vocab[1] === WORD_EOS, `must start ${WORD_UNK}, ${WORD_EOS}`)
    .refine(distinct, 'entries must be distinct'),
  lowercase: z.boolean(),
  version: z.literal(2).optional(),
  normalize: normalizeField,
});

const tokenId = z.number().int().min(0);
const bpeSchema = z.object({
  type: z.literal('bpe'),
  merges: z
    .array(z.tuple([tokenId, tokenId]))
    .max(BPE_MAX_VOCAB_SIZE - 256)
    // A merge may only join ids that exist before it: bytes and earlier merges.
    .refine((merges) => merges.every(([l, r], i) => l < 256 + i && r < 256 + i), 'merge uses a later id')
    .refine((merges) => distinct(merges.map(([l, r]) => `${l},${r}`)), 'merges must be distinct'),
  seenBytes: z.array(z.number().int().min(0).max(255)).max(256).optional(),
  alphabet: z.string().min(1).optional(),
  normalize: normalizeField,
});

const tokenizerSchema = z.discriminatedUnion('type', [charSchema, wordSchema, bpeSchema]);

/**
 * Restores a tokenizer from its `toJSON()` form, validating it first because it is read back
 * from disk or the network; a malformed one is an RNNLM_INVALID_CONFIG error.
 */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const parsed = tokenizerSchema.safeParse(json);
  if (!parsed.success) {
    throw errors.invalidTokenizerJson(z.prettifyError(parsed.error));
  }
  const data: TokenizerJSON = parsed.data;
  switch (data.type) {
    case 'char':
      return new CharTokenizer(data.vocab, data.normalize);
    case 'word':
      return new WordTokenizer(data.vocab, data.lowercase, {
        version: data.version,
        normalization: data.normalize,
      });
    case 'bpe':
      return new BpeTokenizer(data.merges, data.seenBytes, {
        alphabet: data.alphabet,
        normalization: data.normalize,
      });
  }
}

/** Turns generated ids into text as they arrive, for streaming generation. */
export interface StreamingDecoder {
  /** The text that token `id` completes; may be '' while a character is still partial. */
  push(id: number): string;
  /** Whatever is still held back, at the end of the stream; an unfinished character is dropped. */
  flush(): string;
  /**
   * Where the bytes pushed so far stand in UTF-8: a bpe token that does not continue them
   * validly would decode to U+FFFD (see generate/token-guard.ts). Char and word tokens always
   * end on a character boundary.
   */
  state(): Utf8State;
}

export interface StreamingDecoderOptions {
  /**
   * The text the ids continue (a generation's prompt): version-1 word output after a prompt
   * that does not end in whitespace starts with the space `decode` puts between two words.
   */
  after?: string | undefined;
}

/**
 * A decoder whose `push` outputs, followed by `flush()`, concatenate to `tokenizer.decode` of
 * all the ids, with two differences that matter to text shown to people: an unfinished UTF-8
 * sequence at the end is dropped instead of shown as U+FFFD, and word output continuing
 * `options.after` is spaced from it as `decode` spaces words. Word tokens are spaced as
 * `decode` spaces them; bpe tokens can end inside a UTF-8 sequence (an emoji is often several
 * tokens), so those bytes wait for the rest.
 */
export function createStreamingDecoder(
  tokenizer: Tokenizer,
  options: StreamingDecoderOptions = {},
): StreamingDecoder {
  const boundary = () => UTF8_BOUNDARY;
  switch (tokenizer.type) {
    case 'char':
      return { push: (id) => tokenizer.decode([id]), flush: () => '', state: boundary };
    case 'word': {
      const after = options.after ?? '';
      if (tokenizer instanceof WordTokenizer && tokenizer.version === 2) {
        let before = after.at(-1);
        // The prompt's last space was left out of its ids (WordTokenizer.encodePrompt).
        let heldSpace = before === ' ';
        return {
          push: (id) => {
            let piece = tokenizer.spacedText(id, before);
            if (heldSpace && piece.startsWith(' ')) piece = piece.slice(1);
            heldSpace = false;
            before = piece.at(-1) ?? before;
            return piece;
          },
          flush: () => '',
          state: boundary,
        };
      }
      let lineStart = after === '' || /\s$/u.test(after);
      return {
        push: (id) => {
          const piece = tokenizer.decode([id]);
          const out = lineStart || id === tokenizer.eosId ? piece : ` ${piece}`;
          lineStart = id === tokenizer.eosId;
          return out;
        },
        flush: () => '',
        state: boundary,
      };
    }
    case 'bpe': {
      if (!(tokenizer instanceof BpeTokenizer)) throw new TypeError('bpe streaming needs a BpeTokenizer');
      let decoder = new TextDecoder('utf-8', { ignoreBOM: true });
      let state = UTF8_BOUNDARY;
      let partial = '';
      return {
        push: (id) => {
          const bytes = tokenizer.tokenBytes(id);
          for (const byte of bytes) {
            // Tracks the decoder: a byte that breaks a sequence ends it (as U+FFFD) and is
            // read again as the start of the next.
            const next = utf8Step(state, byte);
            if (next === undefined) partial = '';
            state = next ?? utf8Step(UTF8_BOUNDARY, byte) ?? UTF8_BOUNDARY;
            partial = state.need === 0 ? '' : partial + String.fromCharCode(byte);
          }
          return decoder.decode(bytes, { stream: true });
        },
        flush: () => {
          if (state.need === 0) return decoder.decode();
          decoder = new TextDecoder('utf-8', { ignoreBOM: true });
          state = UTF8_BOUNDARY;
          partial = '';
          return '';
        },
        state: () => (partial === '' ? state : { ...state, partial }),
      };
    }
  }
}
