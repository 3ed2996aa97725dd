import { errors } from '../../errors.js';
import type { Rng } from '../rng.js';

/**
 * How the token stream is cut into segments for truncated backpropagation through time:
 * - `fixed`: every segment is seqLength long (the last one of a stream may be shorter).
 * - `variable`: AWD-LSTM's randomised lengths (Merity et al. 2017), so segment boundaries
 *   fall at different tokens each epoch.
 * - `randomized`: ARTBP (Tallec & Ollivier 2017), random truncation points with gradient
 *   compensation, which makes the gradient an unbiased estimate of the untruncated one.
 * - `none`: no truncation, a whole stream is one segment.
 */
export type TruncationMode = 'fixed' | 'variable' | 'randomized' | 'none';

export interface TruncationConfig {
  mode: TruncationMode;
  /** variable: probability of using seqLength rather than seqLength/2 (default 0.95). */
  p?: number | undefined;
  /** variable: standard deviation of the length draw (default 5). */
  sigma?: number | undefined;
  /** randomized: shortest segment, the span with no truncation (default ceil(seqLength/2)). */
  minLength?: number | undefined;
  /**
   * variable/randomized: longest segment (default: variable seqLength+40, AWD-LSTM's
   * max_seq_len_delta; randomized 4*seqLength). none: the longest allowed whole segment
   * (default 4096); a longer stream is an error rather than a silent truncation.
   */
  maxLength?: number | undefined;
}

export interface Segment {
  /** Number of input tokens (timesteps) in the segment. */
  length: number;
  /** Multiplier on the learning rate for this segment (variable mode: length/seqLength, AWD-LSTM; else 1). */
  lrScale: number;
  /**
   * randomized mode only: backwardScale[t] multiplies the gradient that flows through the
   * hidden state from step t back to step t-1 (index 0 unused, set 0). Undefined for the
   * other modes (meaning all 1).
   */
  backwardScale: Float32Array | undefined;
}

const MODES: readonly TruncationMode[] = ['fixed', 'variable', 'randomized', 'none'];
const DEFAULT_P = 0.95;
const DEFAULT_SIGMA = 5;
/** AWD-LSTM's max_seq_len_delta. */
const VARIABLE_MAX_DELTA = 40;
/** AWD-LSTM never trains on fewer than 5 steps in variable mode. */
const VARIABLE_MIN_LENGTH = 5;
const RANDOMIZED_MAX_FACTOR = 4;
const DEFAULT_UNTRUNCATED_CAP = 4096;

function checkPositiveInteger(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw errors.outOfRange(field, 'must be an integer >= 1', value);
}

/** The cap on an untruncated segment; a config that is not `none` has none. */
function untruncatedCap(config: TruncationConfig): number {
  const cap = config.maxLength ?? DEFAULT_UNTRUNCATED_CAP;
  checkPositiveInteger('training.truncation.maxLength', cap);
  return cap;
}

/**
 * Checks up front, before any training, that untruncated training (`mode: 'none'`) can take
 * a stream of `streamLength` tokens as one segment. Does nothing for the other modes, which
 * cut any stream into bounded segments.
 *
 * @throws RnnlmError RNNLM_SEQUENCE_TOO_LONG when the stream is longer than the cap.
 */
export function assertUntruncatedFits(streamLength: number, config: TruncationConfig): void {
  if (config.mode !== 'none') return;
  const cap = untruncatedCap(config);
  if (streamLength > cap) throw errors.sequenceTooLong(streamLength, cap);
}

/**
 * Draws segment lengths (and, for ARTBP, gradient compensation) for one truncation mode.
 * All randomness comes from the Rng passed to {@link TruncationSchedule.next}, so a plan is
 * reproducible from the Rng state.
 */
export class TruncationSchedule {
  /** Longest segment this schedule can produce (for buffer sizing and memory checks); for 'none', the cap. */
  readonly maxLength: number;
  private readonly mode: TruncationMode;
  private readonly seqLength: number;
  private readonly p: number;
  private readonly sigma: number;
  private readonly minLength: number;
  /** randomized: hazard of truncation at each step from minLength on. */
  private readonly hazard: number;

  /**
   * @throws RnnlmError RNNLM_INVALID_CONFIG naming the offending field.
   */
  constructor(config: TruncationConfig, seqLength: number) {
    checkPositiveInteger('training.seqLength', seqLength);
    if (!MODES.includes(config.mode)) {
      throw errors.outOfRange('training.truncation.mode', `must be one of ${MODES.join(', ')}`, config.mode);
    }
    this.mode = config.mode;
    this.seqLength = seqLength;

    this.p = config.p ?? DEFAULT_P;
    if (!(this.p >= 0 && this.p <= 1))
      throw errors.outOfRange('training.truncation.p', 'must be in [0, 1]', this.p);
    this.sigma = config.sigma ?? DEFAULT_SIGMA;
    if (!(this.sigma >= 0 && Number.isFinite(this.sigma))) {
      throw errors.outOfRange('training.truncation.sigma', 'must be a finite number >= 0', this.sigma);
    }
    this.minLength = config.minLength ?? Math.ceil(seqLength / 2);
    checkPositiveInteger('training.truncation.minLength', this.minLength);
    if (this.mode === 'randomized' && this.minLength > seqLength) {
      throw errors.outOfRange(
        'training.truncation.minLength',
        `must be <= seqLength (${seqLength})`,
        this.minLength,
      );
    }

    switch (this.mode) {
      case 'fixed':
        this.maxLength = seqLength;
        break;
      case 'variable':
        this.maxLength = config.maxLength ?? seqLength + VARIABLE_MAX_DELTA;
        break;
      case 'randomized':
        this.maxLength = config.maxLength ?? RANDOMIZED_MAX_FACTOR * seqLength;
        break;
      case 'none':
        this.maxLength = untruncatedCap(config);
        break;
    }
    checkPositiveInteger('training.truncation.maxLength', this.maxLength);
    // 'fixed' ignores maxLength, but one below seqLength is a mistake to report, not to drop.
    if ((config.maxLength ?? this.maxLength) < seqLength) {
      throw errors.outOfRange(
        'training.truncation.maxLength',
        `must be >= seqLength (${seqLength})`,
        this.maxLength,
      );
    }
    // Mean length minLength + (1-c)/c equals seqLength for this c.
    this.hazard = 1 / (seqLength - this.minLength + 1);
  }

  /**
   * Draws the next segment, never longer than `remaining`.
   *
   * randomized (ARTBP): truncation happens at each step d >= minLength of a segment with
   * probability c = 1/(seqLength - minLength + 1) and never before, so the length is
   * minLength + Geometric(c) with mean seqLength. Every step that survived a possible
   * truncation scales the gradient through it by 1/(1-c), which makes the expected gradient
   * the untruncated one. The one bias left is the maxLength cap: a segment is cut there with
   * probability (1-c)^(maxLength-minLength) without compensation: about 0.1% at the defaults
   * (minLength = ceil(seqLength/2), maxLength = 4*seqLength), at most 0.8% (seqLength 2).
   *
   * @param remaining - tokens left in the stream, >= 1.
   * @throws RnnlmError RNNLM_SEQUENCE_TOO_LONG in mode 'none' when `remaining` is over the cap.
   */
  next(rng: Rng, remaining: number): Segment {
    if (!Number.isInteger(remaining) || remaining < 1) {
      throw new RangeError(`TruncationSchedule.next needs remaining >= 1, got ${remaining}`);
    }
    switch (this.mode) {
      case 'fixed':
        return { length: Math.min(this.seqLength, remaining), lrScale: 1, backwardScale: undefined };
      case 'variable': {
        const base = rng.bernoulli(this.p) ? this.seqLength : this.seqLength / 2;
        const drawn = Math.max(VARIABLE_MIN_LENGTH, Math.round(rng.normal(base, this.sigma)));
        const length = Math.max(1, Math.min(drawn, this.maxLength, remaining));
        // A shorter segment carries fewer loss terms; AWD-LSTM scales the step so each token counts equally.
        return { length, lrScale: length / this.seqLength, backwardScale: undefined };
      }
      case 'randomized':
        return this.nextRandomized(rng, remaining);
      case 'none':
        if (remaining > this.maxLength) throw errors.sequenceTooLong(remaining, this.maxLength);
        return { length: remaining, lrScale: 1, backwardScale: undefined };
    }
  }

  private nextRandomized(rng: Rng, remaining: number): Segment {
    const c = this.hazard;
    let survived = 0;
    if (c < 1) {
      // Inverse-CDF draw of the number of steps survived: P(survived >= k) = (1-c)^k.
      const u = 1 - rng.float();
      survived = Math.floor(Math.log(u) / Math.log1p(-c));
    }
    const length = Math.min(this.minLength + survived, this.maxLength, remaining);
    const backwardScale = new Float32Array(length);
    const compensation = 1 / (1 - c);
    for (let d = 1; d < length; d++) backwardScale[d] = d < this.minLength ? 1 : compensation;
    return { length, lrScale: 1, backwardScale };
  }
}
