import { scoreResult, scoringStream, type ScoreOptions, type ScoreResult } from '../ml/eval/score.js';
import { logProbability } from '../ml/generate/logits.js';
import type { Tokenizer } from '../ml/tokenizers/index.js';

/**
 * One scoring's own state between batched forwards: its tokens (the context or a line break,
 * then the text), how far the model has read, and the log-probabilities so far. It scores
 * what `score()` in src/ml/eval scores: every token of the text, each predicted from
 * everything before it.
 *
 * @throws RnnlmError `RNNLM_INVALID_CONFIG` from the constructor when the text has no tokens
 * (see {@link scoringStream}).
 */
export class ScoringRow {
  private readonly stream: Int32Array;
  /** Index in `stream` of the first scored token. */
  private readonly first: number;
  private readonly logprobs: Float64Array;
  /** Inputs fed so far (the input at position p predicts stream[p + 1]). */
  private fed = 0;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly text: string,
    private readonly options: ScoreOptions,
  ) {
    ({ stream: this.stream, first: this.first } = scoringStream(tokenizer, text, options));
    this.logprobs = new Float64Array(this.stream.length - this.first);
  }

  /** Inputs still to feed. */
  get remaining(): number {
    return this.stream.length - 1 - this.fed;
  }

  /** The next `steps` inputs, padded with id 0 past the end. */
  inputs(steps: number): Int32Array {
    const out = new Int32Array(steps);
    out.set(this.stream.subarray(this.fed, Math.min(this.fed + steps, this.stream.length - 1)));
    return out;
  }

  /** Reads the logits after each of the `steps` inputs just fed (`logitsAt(t)`), padding ignored. */
  consume(steps: number, logitsAt: (t: number) => Float32Array): void {
    const n = Math.min(steps, this.remaining);
    for (let t = 0; t < n; t++) {
      const j = this.fed + t + 1;
      if (j >= this.first)
        this.logprobs[j - this.first] = logProbability(logitsAt(t), this.stream[j] as number);
    }
    this.fed += n;
  }

  result(): ScoreResult {
    return scoreResult(this.tokenizer, this.text, this.options, this.stream, this.first, this.logprobs);
  }
}
