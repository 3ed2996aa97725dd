import * as tf from '@tensorflow/tfjs';

import { logProbability } from '../generate/logits.js';
import type { LayerState } from '../model/layer.js';
import { disposeState, keepState, type RnnLm } from '../model/lm.js';
import { HostForward } from '../model/host-forward.js';
import { flatIndices } from '../model/ops.js';
import { nativeKernels } from '../native.js';

/** Validation numbers, all per token except bitsPerChar. */
export interface EvalResult {
  /** Mean negative log-likelihood per predicted token, in nats. */
  loss: number;
  /** exp(loss). */
  perplexity: number;
  /** Total NLL in bits divided by the characters the tokens cover: comparable across tokenizers. */
  bitsPerChar: number;
  tokens: number;
  characters: number;
}

/**
 * Per-position NLL of `targets` under one forward chunk, in float64. The gather only runs
 * forward, so it works on every backend.
 */
export function chunkNll(
  model: RnnLm,
  x: Int32Array,
  y: Int32Array,
  steps: number,
  state: LayerState[],
): { nll: tf.Tensor1D; state: LayerState[] } {
  const kernels = nativeKernels();
  if (kernels !== undefined) return hostChunkNll(new HostForward(kernels, model), model, x, y, steps, state);
  let result: { nll: tf.Tensor1D; state: LayerState[] } | undefined;
  tf.tidy(() => {
    const out = model.logits(x, steps, state);
    const vocab = model.config.vocabSize;
    const logp = tf.reshape(tf.logSoftmax(out.logits), [-1]);
    const picked = tf.gather(logp, tf.tensor1d(flatIndices(y, vocab), 'int32'));
    result = { nll: tf.keep(tf.neg(picked) as tf.Tensor1D), state: keepState(out.state) };
  });
  return result as { nll: tf.Tensor1D; state: LayerState[] };
}

/**
 * `chunkNll` on the native kernels without tfjs ops: the embedding, layers, output projection
 * and log-softmax run on host arrays, and only the results become tensors. Through tfjs the
 * same chunk (bench size, H256 B32 T64) spent ~10 ms in its gathers, log-softmax and copies,
 * and its layers wrote into fresh arrays (`HostForward` reuses its scratch).
 */
function hostChunkNll(
  forward: HostForward,
  model: RnnLm,
  x: Int32Array,
  y: Int32Array,
  steps: number,
  state: LayerState[],
): { nll: tf.Tensor1D; state: LayerState[] } {
  const { vocabSize: vocab, hiddenSize: hidden, cell } = model.config;
  const batch = x.length / steps;
  // Copies: run() overwrites the states it is given.
  const h = state.map((s) => Float32Array.from(s.h.dataSync()));
  const c = state.map((s) => (s.c === undefined ? new Float32Array(0) : Float32Array.from(s.c.dataSync())));
  const logits = forward.run(x, steps, batch, h, c, false);
  const nll = new Float32Array(x.length);
  for (let r = 0; r < x.length; r++) {
    nll[r] = -logProbability(logits.subarray(r * vocab, (r + 1) * vocab), y[r] as number);
  }
  return {
    nll: tf.tensor1d(nll),
    state: h.map((hl, l) => ({
      h: tf.tensor2d(hl, [batch, hidden]),
      c: cell === 'lstm' ? tf.tensor2d(c[l] as Float32Array, [batch, hidden]) : undefined,
    })),
  };
}

export interface EvaluateOptions {
  /** Parallel streams (the forward pass is batched over them). */
  batchSize: number;
  /** Timesteps per forward chunk; the state is carried between chunks. */
  seqLength: number;
  /**
   * Index of the first token that is predicted and counted; the token before it is the first
   * input (streams start from a zero state, so earlier tokens play no part).
   */
  scoredFrom?: number | undefined;
}

/**
 * Mean NLL, perplexity and bits per character of a token stream. The predictions
 * stream[scoredFrom..] are split over `batchSize` contiguous streams that run in parallel
 * with their state carried across chunks; padding past a stream's end is masked out, so
 * every predicted token counts exactly once.
 */
export async function evaluate(
  model: RnnLm,
  stream: Int32Array,
  characters: number,
  options: EvaluateOptions,
): Promise<EvalResult> {
  const first = Math.max(1, options.scoredFrom ?? 1);
  const predictions = stream.length - first;
  if (predictions <= 0)
    return { loss: Number.NaN, perplexity: Number.NaN, bitsPerChar: Number.NaN, tokens: 0, characters };
  const batch = Math.min(options.batchSize, predictions);
  const perStream = Math.ceil(predictions / batch);
  let total = 0;
  let state = model.zeroState(batch);
  try {
    for (let offset = 0; offset < perStream; offset += options.seqLength) {
      const steps = Math.min(options.seqLength, perStream - offset);
      const x = new Int32Array(steps * batch);
      const y = new Int32Array(steps * batch);
      const mask = new Uint8Array(steps * batch);
      for (let t = 0; t < steps; t++) {
        for (let b = 0; b < batch; b++) {
          const j = first + b * perStream + offset + t;
          const end = Math.min(first + (b + 1) * perStream, stream.length);
          if (j < end) {
            const i = t * batch + b;
            x[i] = stream[j - 1] as number;
            y[i] = stream[j] as number;
            mask[i] = 1;
          }
        }
      }
      const out = chunkNll(model, x, y, steps, state);
      disposeState(state);
      state = out.state;
      const nll = await out.nll.data();
      out.nll.dispose();
      for (let i = 0; i < nll.length; i++) if (mask[i] === 1) total += nll[i] as number;
    }
  } finally {
    disposeState(state);
  }
  const loss = total / predictions;
  return {
    loss,
    perplexity: Math.exp(loss),
    bitsPerChar: characters > 0 ? total / Math.LN2 / characters : Number.NaN,
    tokens: predictions,
    characters,
  };
}
