import * as tf from '@tensorflow/tfjs';

import { forwardOf } from '../model/engine.js';
import type { LayerState } from '../model/layer.js';
import { disposeState, type RnnLm } from '../model/lm.js';

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
 * Per-position NLL of `targets` under one forward chunk, and the state after it (new
 * tensors; the given state is left as it is). The model's forward pass (engine.ts) gives the
 * logits in host memory, where the log-softmax runs: through tfjs the same chunk spent ~10 ms
 * in its gathers, log-softmax and copies (bench size, H256 B32 T64).
 */
export function chunkNll(
  model: RnnLm,
  x: Int32Array,
  y: Int32Array,
  steps: number,
  state: LayerState[],
): { nll: tf.Tensor1D; state: LayerState[] } {
  const { hiddenSize: hidden, cell } = model.config;
  const batch = x.length / steps;
  // Copies: run() overwrites the states it is given.
  const h = state.map((s) => Float32Array.from(s.h.dataSync()));
  const c = state.map((s) => (s.c === undefined ? new Float32Array(0) : Float32Array.from(s.c.dataSync())));
  const forward = forwardOf(model);
  const nll = forward.nll(forward.run(x, steps, batch, h, c, false), y);
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
