/**
 * Decoding building blocks for one position's logits: small composable processors (in the
 * manner of transformers.js' logits_process.js) and a sampler. Everything is plain JS over a
 * Float32Array of length V so it runs the same on every tfjs backend and draws only from the
 * seeded {@link Rng}, which keeps a generation reproducible from its seed.
 */
import { errors } from '../../errors.js';
import { maxLogit, weight } from '../logprobs.js';
import type { Rng } from '../rng.js';

/** How one token is chosen from a position's logits. */
export interface SamplingOptions {
  /** 0 means greedy (argmax). Default 1. Must be >= 0. */
  temperature?: number | undefined;
  /** Keep only the k most likely tokens (0 or undefined = off). */
  topK?: number | undefined;
  /**
   * Nucleus sampling: keep the smallest set of most likely tokens whose probability sum >= topP
   * (1 or undefined = off), always at least one token.
   */
  topP?: number | undefined;
  /** Token ids never to emit (e.g. <unk>). Ids outside the vocabulary are ignored. */
  suppressIds?: readonly number[] | undefined;
  /**
   * Added to the logits of these token ids (keys, as OpenAI's `logit_bias`) before anything
   * else: -100 all but rules a token out, +100 all but forces it. Each in [-100, 100].
   */
  logitBias?: Readonly<Record<string, number>> | undefined;
}

/** The largest bias {@link SamplingOptions.logitBias} may add or take away. */
export const MAX_LOGIT_BIAS = 100;

/** A logits processor mutates logits in place (setting excluded entries to -Infinity). */
export type LogitsProcessor = (logits: Float32Array) => void;

function isTemperature(t: number): boolean {
  return Number.isFinite(t) && t >= 0;
}

function isTopK(k: number): boolean {
  return Number.isInteger(k) && k >= 0;
}

function isTopP(p: number): boolean {
  return Number.isFinite(p) && p > 0 && p <= 1;
}

/**
 * Checks sampling options before any token is generated.
 *
 * @throws RnnlmError `RNNLM_INVALID_CONFIG` whose message and `details.field` name the bad field:
 * temperature negative or non-finite, topK negative or not an integer, topP outside (0, 1],
 * a suppressId that is not a non-negative integer, a logitBias key that is not a token id
 * (below `vocabSize` where given) or a bias outside [-100, 100].
 */
export function validateSamplingOptions(options: SamplingOptions, vocabSize = Infinity): void {
  const { temperature: t, topK: k, topP: p, suppressIds, logitBias } = options;
  if (t !== undefined && !isTemperature(t))
    throw errors.outOfRange('temperature', 'must be a finite number >= 0', t);
  if (k !== undefined && !isTopK(k)) throw errors.outOfRange('topK', 'must be an integer >= 0', k);
  if (p !== undefined && !isTopP(p)) throw errors.outOfRange('topP', 'must be a number in (0, 1]', p);
  for (const id of suppressIds ?? []) {
    if (!Number.isInteger(id) || id < 0)
      throw errors.outOfRange('suppressIds', 'must hold integers >= 0', id);
  }
  for (const [key, bias] of Object.entries(logitBias ?? {})) {
    const id = Number(key);
    if (!/^\d+$/.test(key) || id >= vocabSize) {
      throw errors.outOfRange(
        'logitBias',
        `keys must be token ids below the vocabulary size ${vocabSize}`,
        key,
      );
    }
    if (!(Math.abs(bias) <= MAX_LOGIT_BIAS)) {
      throw errors.outOfRange(
        'logitBias',
        `values must be numbers in [-${MAX_LOGIT_BIAS}, ${MAX_LOGIT_BIAS}]`,
        bias,
      );
    }
  }
}

/** Adds `bias[id]` to the logit of each id (ids beyond the vocabulary are ignored). */
export function biasLogits(bias: Readonly<Record<string, number>>): LogitsProcessor {
  const entries = Object.entries(bias).map(([id, b]) => [Number(id), b] as const);
  return (logits) => {
    for (const [id, b] of entries) if (id < logits.length) logits[id] = (logits[id] as number) + b;
  };
}

/** Never emit `ids`; ids beyond the vocabulary are ignored since they cannot be emitted anyway. */
export function suppressTokens(ids: readonly number[]): LogitsProcessor {
  return (logits) => {
    for (const id of ids) if (id < logits.length) logits[id] = -Infinity;
  };
}

/** Divides logits by `t` (> 0): below 1 sharpens the distribution, above 1 flattens it. */
export function temperature(t: number): LogitsProcessor {
  if (!isTemperature(t) || t === 0) throw errors.outOfRange('temperature', 'must be a finite number > 0', t);
  return (logits) => {
    const max = maxLogit(logits);
    // Softmax ignores a shift, and shifting the max to 0 first means dividing by a tiny t can
    // only push losers towards -Infinity (probability 0 anyway), never overflow to +Infinity.
    const shift = Number.isFinite(max) ? max : 0;
    for (let i = 0; i < logits.length; i++) logits[i] = (logits[i]! - shift) / t;
  };
}

/** Keeps the `k` (integer >= 1) highest logits, lower ids first among equals; k >= V is a no-op. */
export function topK(k: number): LogitsProcessor {
  if (!isTopK(k) || k === 0) throw errors.outOfRange('topK', 'must be an integer >= 1', k);
  return (logits) => {
    if (k >= logits.length) return;
    const values = candidates(logits);
    if (values.length <= k) return;
    keepHighest(logits, kthLargest(values, k), k);
  };
}

/**
 * Nucleus filter on the softmax of the current logits: ranks tokens by probability (lower id
 * first among equals) and keeps the shortest prefix whose mass reaches `p`, including the token
 * that crosses it, so at least one token always survives. p = 1 is a no-op.
 */
export function topP(p: number): LogitsProcessor {
  if (!isTopP(p)) throw errors.outOfRange('topP', 'must be a number in (0, 1]', p);
  return (logits) => {
    if (p === 1) return;
    const max = maxLogit(logits);
    let total = 0;
    for (const v of logits) total += weight(v, max);
    if (total === 0) return;
    // Each token below this floor has probability under (1 - p) / 2V, so together they hold
    // under (1 - p) / 2 and the nucleus is reached above it: only the few tokens above need
    // sorting. Sorting logits rather than probabilities keeps the exact order where exp would
    // round nearly equal logits to the same float64.
    const sorted = candidates(logits, max + Math.log((1 - p) / (2 * logits.length))).sort();
    let mass = 0;
    let first = sorted.length - 1;
    for (; first > 0; first--) {
      mass += weight(sorted[first]!, max) / total;
      if (mass >= p) break;
    }
    keepHighest(logits, sorted[first]!, sorted.length - first);
  };
}

/** A copy of the logits that can still be emitted (not -Infinity or NaN) and are >= `floor`. */
function candidates(logits: Float32Array, floor = -Infinity): Float32Array {
  // A hand loop: TypedArray.prototype.filter is many times slower on large vocabularies.
  const out = new Float32Array(logits.length);
  let n = 0;
  for (const v of logits) if (v > -Infinity && v >= floor) out[n++] = v;
  return out.subarray(0, n);
}

/**
 * The k-th largest of `values` (k from 1), reordering them in place: Hoare's quickselect,
 * linear on average, so top-k with a small k need not sort the whole vocabulary.
 */
function kthLargest(values: Float32Array, k: number): number {
  const target = values.length - k;
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const tmp = values[i]!;
        values[i++] = values[j]!;
        values[j--] = tmp;
      }
    }
    // Now values[lo..j] <= pivot <= values[i..hi], and anything between equals the pivot.
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return values[target]!;
}

/**
 * Keeps the `n` highest logits, given that the n-th highest is `threshold`, and sets the rest to
 * -Infinity. Logits equal to the threshold fill the remaining places lower ids first.
 */
function keepHighest(logits: Float32Array, threshold: number, n: number): void {
  let ties = n;
  for (const v of logits) if (v > threshold) ties--;
  for (let id = 0; id < logits.length; id++) {
    const v = logits[id]!;
    if (v > threshold) continue;
    if (v === threshold && ties > 0) {
      ties--;
      continue;
    }
    logits[id] = -Infinity;
  }
}

/**
 * The processors for `options`, validated, in the order bias, suppress, temperature, topK,
 * topP. Off settings contribute nothing. With temperature 0 (greedy) only bias and suppression
 * are returned: the argmax always survives top-k and top-p, so they would be wasted work.
 *
 * @throws RnnlmError `RNNLM_INVALID_CONFIG` as {@link validateSamplingOptions}.
 */
export function buildProcessors(options: SamplingOptions): LogitsProcessor[] {
  validateSamplingOptions(options);
  const processors: LogitsProcessor[] = [];
  if (options.logitBias !== undefined && Object.keys(options.logitBias).length > 0) {
    processors.push(biasLogits(options.logitBias));
  }
  if (options.suppressIds !== undefined && options.suppressIds.length > 0) {
    processors.push(suppressTokens(options.suppressIds));
  }
  const t = options.temperature ?? 1;
  if (t === 0) return processors;
  if (t !== 1) processors.push(temperature(t));
  if (options.topK !== undefined && options.topK > 0) processors.push(topK(options.topK));
  if (options.topP !== undefined && options.topP < 1) processors.push(topP(options.topP));
  return processors;
}

/**
 * Chooses next token ids for one set of options: the argmax (lowest id on ties) when
 * temperature is 0, otherwise a draw with `rng` from the softmax of the processed logits. The
 * options are validated and their processors built once, not once a token. `masks` (a row's
 * token guard, see token-guard.ts) run first, so top-k and top-p choose among the tokens that
 * may follow. Works on a copy; `logits` is left as is.
 */
export class Sampler {
  private readonly processors: LogitsProcessor[];
  private readonly greedy: boolean;

  /** @throws RnnlmError `RNNLM_INVALID_CONFIG` as {@link validateSamplingOptions}. */
  constructor(options: SamplingOptions) {
    this.processors = buildProcessors(options);
    this.greedy = options.temperature === 0;
  }

  /** @throws RnnlmError `RNNLM_INVALID_CONFIG` when no token is left (every logit -Infinity or NaN, e.g. all suppressed). */
  sample(logits: Float32Array, rng: Rng, masks: readonly LogitsProcessor[] = []): number {
    const work = logits.slice();
    for (const mask of masks) mask(work);
    for (const processor of this.processors) processor(work);
    return this.greedy ? argmax(work) : draw(work, rng);
  }
}

/** One token with {@link Sampler}: for a single draw; a loop keeps its Sampler. */
export function sampleToken(
  logits: Float32Array,
  options: SamplingOptions,
  rng: Rng,
  masks: readonly LogitsProcessor[] = [],
): number {
  return new Sampler(options).sample(logits, rng, masks);
}

function argmax(logits: Float32Array): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let id = 0; id < logits.length; id++) {
    if (logits[id]! > bestValue) {
      best = id;
      bestValue = logits[id]!;
    }
  }
  if (best < 0) throw errors.nothingToEmit();
  return best;
}

function draw(logits: Float32Array, rng: Rng): number {
  const { weights, total } = softmaxWeights(logits);
  if (total === 0) throw errors.nothingToEmit();
  let u = rng.float() * total;
  let last = -1;
  for (let id = 0; id < weights.length; id++) {
    const w = weights[id]!;
    if (w === 0) continue;
    last = id;
    u -= w;
    if (u < 0) return id;
  }
  // Rounding in the running subtraction can leave u a hair above 0 after the final token.
  return last;
}

/** Unnormalised softmax weights (see {@link weight}) in float64, with their sum. */
function softmaxWeights(logits: Float32Array): { weights: Float64Array; total: number } {
  const max = maxLogit(logits);
  const weights = new Float64Array(logits.length);
  let total = 0;
  for (let id = 0; id < logits.length; id++) {
    const w = weight(logits[id]!, max);
    weights[id] = w;
    total += w;
  }
  return { weights, total };
}
