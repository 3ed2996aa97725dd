/**
 * A recurrent model's whole context is its layers' state: a request can hand it back, and a
 * later one continue from it instead of reading the history again.
 *
 * The rule that makes a continuation exact: the state is the layers' state after every token
 * the request read and sampled except the last, and that last token is kept apart
 * (`pending`). A continuation feeds `pending` first, then the tokens of its own text, which is
 * tokenized on its own. So prompt A, then B from A's state, reads the tokens
 * `encode(A) ++ encode(B)` (after A's sampled tokens, if it generated), one token at a time in
 * the same order as one request would, and sees the same logits at every position. That is
 * one request of the text A + B wherever `encode(A + B) = encode(A) ++ encode(B)`: always for
 * character models; for word and bpe models when A ends where a token ends (a word model:
 * after whitespace or punctuation; bpe: where its merges would not join across).
 */

/** Where a request leaves the text, besides the layers: what a continuation must know. */
export interface Resume {
  /** The last token read or sampled, not yet fed: a continuation feeds it first. */
  pending: number;
  /**
   * The end of the text read so far (at most {@link TAIL_LENGTH} code units): word output
   * after it is spaced from it as one request's output is spaced from its prompt.
   */
  tail: string;
}

/** The layers' state after some tokens, and where the text stands. */
export interface RecurrentState extends Resume {
  /** Per layer, [hiddenSize]. */
  h: Float32Array[];
  /** Per layer, [hiddenSize]; read by LSTM layers only (zeros for the other cells). */
  c: Float32Array[];
  /** Tokens read and sampled since the zero state, over every request that led here. */
  tokens: number;
}

/** What a generation or scoring may be asked besides its options: where to start, what to keep. */
export interface StateOptions {
  /** Start from this state (see {@link RecurrentState}) instead of a line break. */
  state?: RecurrentState | undefined;
  /** Hand back the state after the request's text and output, as `state` in the result. */
  keepState?: boolean | undefined;
}

/** The state a request with `keepState` ends in. */
export interface StateResult {
  state?: RecurrentState | undefined;
}

/** Code units of the text a state keeps ({@link Resume.tail}). */
export const TAIL_LENGTH = 64;

/** The last {@link TAIL_LENGTH} code units of `text`, never starting inside a surrogate pair. */
export function tailOf(text: string): string {
  if (text.length <= TAIL_LENGTH) return text;
  let start = text.length - TAIL_LENGTH;
  const code = text.charCodeAt(start);
  if (code >= 0xdc00 && code <= 0xdfff) start++;
  return text.slice(start);
}
