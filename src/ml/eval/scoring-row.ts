import { logSoftmax, topIds, type TokenLogprob } from '../logprobs.js';
import { tailOf, type Resume } from '../state.js';
import type { Tokenizer } from '../tokenizers/index.js';
import { scoreResult, scoringStream, type ScoreOptions, type ScoreResult } from './score.js';

/**
 * One scoring's own state between batched forwards: its tokens (the context or a line break,
 * then the text), how far the model has read, and the log-probabilities so far. It scores
 * what `score()` in src/ml/eval scores: every token of the text, each predicted from
 * everything before it. After a {@link Resume} it reads on from an earlier request's text.
 *
 * @throws RnnlmError `RNNLM_INVALID_CONFIG` from the constructor when the text has no tokens
 * (see {@link scoringStream}).
 */
export class ScoringRow {
  private readonly stream: Int32Array;
  /** Index in `stream` of the first scored token. */
  private readonly first: number;
  /** Tokens in `stream` before the text's. */
  private readonly prefix: number;
  private readonly logprobs: Float64Array;
  /** With `topN`: the most likely tokens at each scored position. */
  private readonly top: TokenLogprob[][] | undefined;
  /** Inputs fed so far (the input at position p predicts stream[p + 1]). */
  private fed = 0;

  /**
   * @param topN with `details`, the most likely tokens at each scored position too (0 = none).
   * @param resume continue where an earlier request left the text (see src/ml/state.ts).
   */
  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly text: string,
    private readonly options: ScoreOptions,
    private readonly topN = 0,
    private readonly resume?: Resume,
  ) {
    ({
      stream: this.stream,
      first: this.first,
      prefix: this.prefix,
    } = scoringStream(tokenizer, text, options, resume));
    this.logprobs = new Float64Array(this.stream.length - this.first);
    this.top = options.details === true && topN > 0 ? [] : undefined;
  }

  /** Inputs still to feed. */
  get remaining(): number {
    return this.stream.length - 1 - this.fed;
  }

  /** The last token of the stream: it is never fed (nothing reads the logits after it). */
  get pending(): number {
    return this.stream[this.stream.length - 1] as number;
  }

  /** Tokens this row read that no earlier request had (a resumed pending token was read before). */
  get read(): number {
    return this.stream.length - (this.resume === undefined ? 0 : 1);
  }

  /** The end of the text read: the context and the text (see {@link Resume.tail}). */
  tail(): string {
    return tailOf((this.resume?.tail ?? '') + (this.options.context ?? '') + this.text);
  }

  /** The next `steps` inputs, padded with id 0 past the end. */
  inputs(steps: number): Int32Array {
    return this.window(this.fed, steps, this.stream.length - 1);
  }

  /** What the next `steps` inputs predict (the token after each), padded with id 0 past the end. */
  targets(steps: number): Int32Array {
    return this.window(this.fed + 1, steps, this.stream.length);
  }

  /** `steps` ids of the stream from `from`, none from `end` on (zeros instead). */
  private window(from: number, steps: number, end: number): Int32Array {
    const out = new Int32Array(steps);
    out.set(this.stream.subarray(from, Math.min(from + steps, end)));
    return out;
  }

  /**
   * Reads what the model gave after each of the `steps` inputs just fed, padding ignored: the
   * targets' NLL `nllAt(t)`, and with top tokens to rank the logits `logitsAt(t)`.
   */
  consume(steps: number, logitsAt: (t: number) => Float32Array, nllAt: (t: number) => number): void {
    const n = Math.min(steps, this.remaining);
    for (let t = 0; t < n; t++) {
      const j = this.fed + t + 1;
      if (j < this.first) continue;
      const target = this.stream[j] as number;
      if (this.top === undefined) {
        this.logprobs[j - this.first] = -nllAt(t);
        continue;
      }
      const all = logSoftmax(logitsAt(t));
      this.logprobs[j - this.first] = all[target] as number;
      this.top.push(
        topIds(all, this.topN).map((id) => ({
          token: this.tokenizer.tokenText(id),
          id,
          logprob: all[id] as number,
        })),
      );
    }
    this.fed += n;
  }

  result(): ScoreResult {
    return scoreResult(
      this.tokenizer,
      this.text,
      this.options,
      this.stream,
      this.first,
      this.logprobs,
      this.top,
      this.prefix,
    );
  }
}
