import { errors } from '../../errors.js';
import { countCodePoints } from '../data/split.js';
import { disposeState, type RnnLm } from '../model/lm.js';
import type { Resume } from '../state.js';
import type { TokenLogprob } from '../logprobs.js';
import type { Tokenizer } from '../tokenizers/index.js';
import { chunkNll } from './evaluate.js';

export interface ScoreOptions {
  /** Text the model is conditioned on before `text`; it is not scored. */
  context?: string | undefined;
  /** Include each scored token with its log-probability. */
  details?: boolean | undefined;
  /** Timesteps per forward chunk; the state is carried between chunks. */
  chunkLength?: number | undefined;
}

/** A scored token and, when asked for, the most likely tokens at its position. */
export interface ScoredToken extends TokenLogprob {
  top?: TokenLogprob[] | undefined;
}

export interface ScoreResult {
  /** Tokens of `text` that were scored. */
  tokens: number;
  /** Code points of `text` (normalised as the tokenizer reads it). */
  characters: number;
  /** Tokens of `text` outside the vocabulary (`<unk>`): scored, but not as the text they stand for. */
  unknownTokens: number;
  /** Total negative log-likelihood in nats. */
  nll: number;
  meanNll: number;
  /** exp(meanNll). */
  perplexity: number;
  /** nll in bits divided by characters. */
  bitsPerChar: number;
  tokenLogprobs?: ScoredToken[] | undefined;
  /**
   * With `details`: the text's first token when nothing precedes it to predict it (a model
   * without a line-break token, scoring without a context or state); it is not counted.
   */
  unscored?: { token: string; id: number }[] | undefined;
}

/**
 * The tokens a scoring reads: the context (or a line break when there is none), then the
 * text; `first` is the index of the first scored token, so every token of the text is
 * predicted and counted. After a {@link Resume} the stream starts with its pending token
 * instead of the line break, and the context (if any) follows it.
 *
 * @throws RnnlmError `RNNLM_INVALID_CONFIG` when the text has no tokens.
 */
export function scoringStream(
  tokenizer: Tokenizer,
  text: string,
  options: ScoreOptions,
  resume?: Resume,
): { stream: Int32Array; first: number; prefix: number } {
  const target = tokenizer.encode(text);
  const hasContext = options.context !== undefined && options.context.length > 0;
  const context = hasContext ? tokenizer.encode(options.context ?? '') : [];
  const prefix =
    resume !== undefined ? [resume.pending, ...context] : hasContext ? context : [...tokenizer.boundaryIds];
  const stream = Int32Array.from([...prefix, ...target]);
  const first = Math.max(1, prefix.length);
  if (stream.length - first <= 0) {
    throw errors.noTokensToScore();
  }
  return { stream, first, prefix: prefix.length };
}

/**
 * The result from the log-probabilities of the scored tokens (`stream` from `first` on) and,
 * where given, the most likely tokens at each of their positions (`top`, ids and logprobs).
 * `prefix` is the number of tokens before the text's.
 */
export function scoreResult(
  tokenizer: Tokenizer,
  text: string,
  options: ScoreOptions,
  stream: Int32Array,
  first: number,
  logprobs: Float64Array,
  top?: readonly TokenLogprob[][],
  prefix = first,
): ScoreResult {
  let nll = 0;
  for (const lp of logprobs) nll -= lp;
  const characters = countCodePoints(tokenizer.normalize(text));
  const meanNll = nll / logprobs.length;
  let unknownTokens = 0;
  if (tokenizer.unkId !== undefined) {
    for (const id of stream.subarray(prefix)) if (id === tokenizer.unkId) unknownTokens++;
  }
  return {
    tokens: logprobs.length,
    characters,
    unknownTokens,
    nll,
    meanNll,
    perplexity: Math.exp(meanNll),
    bitsPerChar: characters > 0 ? nll / Math.LN2 / characters : Number.NaN,
    tokenLogprobs:
      options.details === true
        ? Array.from(logprobs, (logprob, k): ScoredToken => {
            const id = stream[first + k] as number;
            const token = { token: tokenizer.tokenText(id), id, logprob };
            const alternatives = top?.[k];
            return alternatives === undefined ? token : { ...token, top: alternatives };
          })
        : undefined,
    unscored:
      options.details === true && first > prefix
        ? Array.from(stream.subarray(prefix, first), (id) => ({ token: tokenizer.tokenText(id), id }))
        : undefined,
  };
}

/**
 * Scores `text` under the model. The state is primed on the context, or on a line break when
 * there is none, so every token of the text is predicted and counted; long inputs run in
 * chunks with the state carried, so the result does not depend on the chunk length.
 */
export async function score(
  model: RnnLm,
  tokenizer: Tokenizer,
  text: string,
  options: ScoreOptions = {},
): Promise<ScoreResult> {
  const { stream, first, prefix } = scoringStream(tokenizer, text, options);
  const scored = stream.length - first;
  const chunk = options.chunkLength ?? 256;
  const logprobs = new Float64Array(scored);
  let state = model.zeroState(1);
  try {
    // Everything before the token that predicts the first scored one only conditions the state.
    for (let j = 0; j < first - 1; j += chunk) {
      const steps = Math.min(chunk, first - 1 - j);
      const out = chunkNll(
        model,
        stream.subarray(j, j + steps),
        stream.subarray(j + 1, j + 1 + steps),
        steps,
        state,
      );
      disposeState(state);
      out.nll.dispose();
      state = out.state;
    }
    for (let j = first; j < stream.length; j += chunk) {
      const steps = Math.min(chunk, stream.length - j);
      const x = stream.subarray(j - 1, j - 1 + steps);
      const y = stream.subarray(j, j + steps);
      const out = chunkNll(model, x, y, steps, state);
      disposeState(state);
      state = out.state;
      const nll = await out.nll.data();
      out.nll.dispose();
      for (let t = 0; t < steps; t++) logprobs[j - first + t] = -(nll[t] as number);
      // A long text is many chunks: let a server answer other requests between them.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    disposeState(state);
  }
  return scoreResult(tokenizer, text, options, stream, first, logprobs, undefined, prefix);
}
