import { errors } from '../../errors.js';
import type { Rng } from '../rng.js';
import { TruncationSchedule } from './truncation.js';
import type { Segment, TruncationConfig } from './truncation.js';

/**
 * How an epoch's minibatches are cut from the token array:
 * - `sequential`: batchSize parallel streams read in order, the hidden state carried across
 *   minibatches (Zaremba et al., char-rnn, d2l.ai "sequential partitioning").
 * - `random`: non-overlapping pieces scattered over the corpus, each minibatch from a zero
 *   state (d2l.ai "random sampling").
 */
export type PartitionMode = 'sequential' | 'random';

export interface Minibatch {
  /** Timesteps in this minibatch. */
  length: number;
  /** batchSize offsets into the token array: row b's inputs are tokens[starts[b] .. starts[b]+length-1], targets the same shifted by one. */
  starts: Int32Array;
  /** Multiplier on the learning rate (see {@link Segment.lrScale}). */
  lrScale: number;
  /** Per-step gradient compensation through the hidden state (see {@link Segment.backwardScale}). */
  backwardScale: Float32Array | undefined;
  /** True when the hidden state must be zeroed before this minibatch (every minibatch in random mode; the first of each epoch in sequential mode). */
  resetState: boolean;
}

export interface PartitionOptions {
  numTokens: number;
  batchSize: number;
  seqLength: number;
  partition: PartitionMode;
  truncation: TruncationConfig;
}

const PARTITIONS: readonly PartitionMode[] = ['sequential', 'random'];

/** Validates everything but numTokens and builds the schedule the options describe. */
function scheduleFor(options: Omit<PartitionOptions, 'numTokens'>): TruncationSchedule {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw errors.outOfRange('training.batchSize', 'must be an integer >= 1', options.batchSize);
  }
  if (!PARTITIONS.includes(options.partition)) {
    throw errors.outOfRange(
      'training.partition',
      `must be one of ${PARTITIONS.join(', ')}`,
      options.partition,
    );
  }
  return new TruncationSchedule(options.truncation, options.seqLength);
}

/**
 * Tokens one row of the first minibatch may need. Sequential streams and untruncated random
 * pieces shrink to what is there; other random pieces are drawn first and must then fit, so
 * the guarantee has to cover the longest draw.
 */
function minRowLength(options: Omit<PartitionOptions, 'numTokens'>, schedule: TruncationSchedule): number {
  return options.partition === 'random' && options.truncation.mode !== 'none' ? schedule.maxLength : 1;
}

/**
 * Smallest token count that yields at least one minibatch whatever the rng draws; used to
 * reject corpora that are too small with a clear message. {@link planEpoch} throws exactly
 * when numTokens is below it. Sequential: batchSize + 1 (one step per stream plus its
 * target). Random: batchSize * maxLength + 1 where maxLength is the schedule's longest
 * segment (seqLength for 'fixed'), or batchSize + 1 for 'none'.
 *
 * @throws RnnlmError RNNLM_INVALID_CONFIG for invalid options.
 */
export function minTokensForOneBatch(options: Omit<PartitionOptions, 'numTokens'>): number {
  return options.batchSize * minRowLength(options, scheduleFor(options)) + 1;
}

/**
 * Longest minibatch any epoch plan of these options can contain, for sizing the x/y buffers
 * and memory checks. For truncation 'none' this is the untruncated stream length, which
 * {@link assertUntruncatedFits} checks against the cap before training starts.
 *
 * @throws RnnlmError RNNLM_INVALID_CONFIG for invalid options.
 */
export function maxSegmentLength(options: PartitionOptions): number {
  const schedule = scheduleFor(options);
  const rowTokens = Math.max(0, Math.floor((options.numTokens - 1) / options.batchSize));
  return options.truncation.mode === 'none' ? rowTokens : Math.min(schedule.maxLength, rowTokens);
}

function minibatch(segment: Segment, starts: Int32Array, resetState: boolean): Minibatch {
  return {
    length: segment.length,
    starts,
    lrScale: segment.lrScale,
    backwardScale: segment.backwardScale,
    resetState,
  };
}

function planSequential(
  offset: number,
  usable: number,
  batchSize: number,
  schedule: TruncationSchedule,
  rng: Rng,
): Minibatch[] {
  const streamLength = Math.floor(usable / batchSize);
  const plan: Minibatch[] = [];
  for (let position = 0; position < streamLength;) {
    const segment = schedule.next(rng, streamLength - position);
    const starts = new Int32Array(batchSize);
    for (let b = 0; b < batchSize; b++) starts[b] = offset + b * streamLength + position;
    plan.push(minibatch(segment, starts, position === 0));
    position += segment.length;
  }
  return plan;
}

/** Fisher–Yates like {@link Rng.shuffle}, on a typed array so a large corpus needs 4 bytes a piece. */
function shuffleInt32(items: Int32Array, rng: Rng): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = items[i] as number;
    items[i] = items[j] as number;
    items[j] = tmp;
  }
}

function planRandom(
  offset: number,
  usable: number,
  batchSize: number,
  untruncated: boolean,
  schedule: TruncationSchedule,
  rng: Rng,
): Minibatch[] {
  const segments: Segment[] = [];
  if (untruncated) {
    segments.push(schedule.next(rng, Math.floor(usable / batchSize)));
  } else {
    // Lengths are drawn from the schedule's own distribution, not squeezed into what is
    // left, so the tail never skews them; the leftover tokens go unused this epoch.
    for (let left = usable; ;) {
      const segment = schedule.next(rng, schedule.maxLength);
      if (segment.length * batchSize > left) break;
      segments.push(segment);
      left -= segment.length * batchSize;
    }
  }

  // Laying the pieces out in a shuffled minibatch order spreads each minibatch's rows over
  // the corpus instead of taking batchSize neighbouring pieces.
  const order = new Int32Array(segments.length * batchSize);
  for (let i = 0; i < order.length; i++) order[i] = i % segments.length;
  shuffleInt32(order, rng);

  const starts = segments.map(() => new Int32Array(batchSize));
  const rowsFilled = new Int32Array(segments.length);
  let position = offset;
  for (const k of order) {
    const row = rowsFilled[k] as number;
    (starts[k] as Int32Array)[row] = position;
    rowsFilled[k] = row + 1;
    position += (segments[k] as Segment).length;
  }
  return segments.map((segment, k) => minibatch(segment, starts[k] as Int32Array, true));
}

/**
 * The whole plan of one epoch, drawn from rng (so an epoch is reproducible from the rng state
 * at its start). Each epoch starts at a random offset in [0, seqLength) (0 when that would
 * leave too few tokens) so segment boundaries move between epochs.
 *
 * sequential: the tokens after the offset form batchSize streams of equal length, each read
 * in order once, in segments drawn from the truncation schedule; only the first minibatch
 * resets the state. random: pieces with lengths from the schedule are cut from the corpus
 * without overlap, every minibatch resets the state; truncation 'none' makes one minibatch
 * of the longest pieces that fit.
 *
 * @throws RnnlmError RNNLM_CORPUS_TOO_SMALL when numTokens < {@link minTokensForOneBatch}.
 * @throws RnnlmError RNNLM_SEQUENCE_TOO_LONG for truncation 'none' over its cap.
 * @throws RnnlmError RNNLM_INVALID_CONFIG for invalid options.
 */
export function planEpoch(options: PartitionOptions, rng: Rng): Minibatch[] {
  const schedule = scheduleFor(options);
  const { numTokens, batchSize, seqLength } = options;
  if (!Number.isInteger(numTokens) || numTokens < 0) {
    throw new RangeError(`planEpoch needs a token count >= 0, got ${numTokens}`);
  }
  const needed = batchSize * minRowLength(options, schedule) + 1;
  if (numTokens < needed) {
    throw errors.minibatchTooLarge({
      numTokens,
      minTokens: needed,
      batchSize,
      seqLength,
      partition: options.partition,
      truncation: options.truncation.mode,
    });
  }
  const drawn = rng.int(seqLength);
  const offset = numTokens - drawn >= needed ? drawn : 0;
  // The last token is only ever a target.
  const usable = numTokens - offset - 1;
  return options.partition === 'sequential'
    ? planSequential(offset, usable, batchSize, schedule, rng)
    : planRandom(offset, usable, batchSize, options.truncation.mode === 'none', schedule, rng);
}

/**
 * Writes a minibatch time-major into x and y, index t*batchSize+b, the layout an RNN unrolled
 * over time reads step by step: x holds the inputs, y the next-token targets. Buffers may be
 * longer than length*batchSize (sized for {@link maxSegmentLength}); only that prefix is written.
 *
 * @throws RangeError when a buffer is too short or a row runs past the tokens.
 */
export function fillBatch(tokens: Int32Array, mb: Minibatch, x: Int32Array, y: Int32Array): void {
  const batchSize = mb.starts.length;
  const size = mb.length * batchSize;
  if (x.length < size || y.length < size) {
    throw new RangeError(
      `fillBatch needs x and y of at least ${size} entries, got ${x.length} and ${y.length}`,
    );
  }
  for (let b = 0; b < batchSize; b++) {
    const start = mb.starts[b] as number;
    if (start < 0 || start + mb.length >= tokens.length) {
      throw new RangeError(
        `minibatch row ${b} (tokens ${start}..${start + mb.length}) runs past ${tokens.length} tokens`,
      );
    }
    for (let t = 0; t < mb.length; t++) {
      x[t * batchSize + b] = tokens[start + t] as number;
      y[t * batchSize + b] = tokens[start + t + 1] as number;
    }
  }
}
