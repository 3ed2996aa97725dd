/**
 * OpenAI's `logprobs` object from rnnlm's per-token details: the tokens, their
 * log-probabilities (null where nothing predicts a token), the most likely tokens at each
 * position, and where each token's text starts in the choice's text.
 */
import type { ScoredToken } from '../ml/eval/score.js';
import type { TokenLogprob } from '../ml/logprobs.js';
import type { CompletionLogprobs } from './schemas/openai.js';

/** A token as a completion's logprobs list it: null `logprob` where nothing predicts it. */
export interface ListedToken {
  token: string;
  logprob: number | null;
  top?: TokenLogprob[] | undefined;
}

/** Code units a token's text may start past where the previous one ended (spaces, an unmatched token). */
const MAX_SKIP = 16;

/**
 * Finds each token's text in a choice's text as it grows, left to right, and gives its start
 * in code points (as Python, where most OpenAI clients run, counts a string). Word tokens are
 * found past the spaces between them (and in lowercase for a lowercasing tokenizer); a token
 * whose text is not there (`<unk>`, `<eos>`, a bpe token ending inside a character) is placed
 * where the text stands, and the next token is looked for from there.
 */
export class TextOffsets {
  private text = '';
  private lower = '';
  /** Where the next token is looked for, in code units, and the same in code points. */
  private cursor = 0;
  private cursorPoints = 0;

  /** Appends text of the choice (a streamed piece, or all of it). */
  push(piece: string): void {
    this.text += piece;
    const lower = piece.toLowerCase();
    this.lower += lower.length === piece.length ? lower : piece;
  }

  /** The start of each of `tokens`, in code points, in order. */
  place(tokens: readonly string[]): number[] {
    return tokens.map((token) => {
      if (token.length === 0) return this.cursorPoints;
      let at = this.text.indexOf(token, this.cursor);
      if (at < 0 || at - this.cursor > MAX_SKIP) at = this.lower.indexOf(token.toLowerCase(), this.cursor);
      if (at < 0 || at - this.cursor > MAX_SKIP) return this.cursorPoints;
      const start = this.cursorPoints + codePoints(this.text.slice(this.cursor, at));
      this.cursorPoints = start + codePoints(token);
      this.cursor = at + token.length;
      return start;
    });
  }
}

function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A low surrogate after a high one is the second half of one code point.
    if (c < 0xdc00 || c > 0xdfff || i === 0 || (text.charCodeAt(i - 1) & 0xfc00) !== 0xd800) n++;
  }
  return n;
}

/**
 * The `top_logprobs` entry of one position: the `n` most likely tokens and the token itself
 * (so up to n + 1 entries, as OpenAI); tokens of equal text keep the higher log-probability.
 */
function topEntry(token: ListedToken): Record<string, number> | null {
  if (token.logprob === null) return null;
  const entry: Record<string, number> = {};
  for (const t of [{ token: token.token, logprob: token.logprob }, ...(token.top ?? [])]) {
    const seen = entry[t.token];
    if (seen === undefined || t.logprob > seen) entry[t.token] = t.logprob;
  }
  return entry;
}

/** OpenAI's logprobs of `tokens`, their offsets found by `offsets` (text pushed first). */
export function toLogprobs(tokens: readonly ListedToken[], offsets: TextOffsets): CompletionLogprobs {
  return {
    tokens: tokens.map((t) => t.token),
    token_logprobs: tokens.map((t) => t.logprob),
    top_logprobs: tokens.map(topEntry),
    text_offset: offsets.place(tokens.map((t) => t.token)),
  };
}

/** A prompt's tokens as a scoring lists them: unscored ones first, with no log-probability. */
export function promptTokens(
  scored: readonly ScoredToken[],
  unscored: readonly { token: string }[] = [],
): ListedToken[] {
  return [...unscored.map((t) => ({ token: t.token, logprob: null })), ...scored];
}
