import { errors } from '../errors.js';

/**
 * Log-probabilities from a model's logits, in float64: what scoring (src/ml/eval) and the
 * per-token details of generation (src/ml/generate) both compute, in one place both import.
 */

export interface TokenLogprob {
  token: string;
  id: number;
  /** Natural-log probability the model gave this token. */
  logprob: number;
}

/** The largest logit; NaN never compares greater, so it is skipped like -Infinity. */
export function maxLogit(logits: Float32Array): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  return max;
}

/**
 * exp(v - max), softmax's unnormalised weight. -Infinity and NaN get 0; if `max` is +Infinity
 * the +Infinity logits share all the mass, which is softmax's limit.
 */
export function weight(v: number, max: number): number {
  if (max === Infinity) return v === Infinity ? 1 : 0;
  return v > -Infinity ? Math.exp(v - max) : 0;
}

/**
 * log p(id) under the softmax of `logits`, in float64 (exact for logits far from 0): one entry
 * of {@link logSoftmax} without the array, for scoring every position of a text.
 */
export function logProbability(logits: Float32Array, id: number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let total = 0;
  for (const v of logits) total += Math.exp(v - max);
  return (logits[id] as number) - max - Math.log(total);
}

/** −{@link logProbability} of each row's target, rows [targets.length, vocab]: scoring's per-token NLL. */
export function targetNll(logits: Float32Array, targets: Int32Array): Float32Array {
  const vocab = logits.length / targets.length;
  return Float32Array.from(
    targets,
    (id, r) => -logProbability(logits.subarray(r * vocab, (r + 1) * vocab), id),
  );
}

/**
 * Log-softmax of `logits` in float64, for scoring and per-token details. Computed as
 * (v - max) - log(sum exp(v - max)), which stays finite and exact for huge logits (1e30) where
 * a naive exp would overflow. -Infinity and NaN entries map to -Infinity.
 *
 * @throws RnnlmError `RNNLM_INVALID_CONFIG` when every logit is -Infinity or NaN (no distribution).
 */
export function logSoftmax(logits: Float32Array): Float64Array {
  const max = maxLogit(logits);
  let total = 0;
  for (const v of logits) total += weight(v, max);
  if (total === 0) throw errors.nothingToEmit();
  const logTotal = Math.log(total);
  return Float64Array.from(logits, (v) => {
    // Under +Infinity logits the weights are exact 0/1 shares, so their logs are the answer.
    if (max === Infinity) return Math.log(weight(v, max)) - logTotal;
    return v > -Infinity ? v - max - logTotal : -Infinity;
  });
}

/** The ids of the `n` largest values, largest first (lower id first among equals). */
export function topIds(values: Float64Array, n: number): number[] {
  const top: number[] = [];
  for (let id = 0; id < values.length; id++) {
    const v = values[id] as number;
    if (top.length === n && v <= (values[top[n - 1] as number] as number)) continue;
    let at = top.length;
    while (at > 0 && v > (values[top[at - 1] as number] as number)) at--;
    top.splice(at, 0, id);
    if (top.length > n) top.pop();
  }
  return top;
}
