/**
 * The model's forward pass over host arrays: the one contract that generation, scoring,
 * validation and the inference batcher run on, with two implementations, picked once per
 * model (engine.ts): oneDNN's primitives (host-forward.ts) where the native engine is in use,
 * tfjs ops otherwise (tfjs-forward.ts: the fallback, and the GPU path).
 */
import type { ModelConfig } from '../config.js';

export interface Forward {
  /** What computes it: oneDNN's primitives, or tfjs ops. */
  readonly engine: 'onednn' | 'tfjs';
  /**
   * Feeds `steps` tokens to each of `batch` rows (`ids` time-major, [steps * batch]) from the
   * states `h` and `c` (per layer, [batch * hiddenSize]; `c` read for LSTM only), which are
   * overwritten with the final states. Returns the logits of every position
   * [steps * batch, vocabSize], or with `lastOnly` those after the last step [batch, vocabSize].
   */
  run(
    ids: Int32Array,
    steps: number,
    batch: number,
    h: readonly Float32Array[],
    c: readonly Float32Array[],
    lastOnly: boolean,
  ): Float32Array;
}

/** Zero states of `batch` rows: h and c per layer (c empty but for LSTM). */
export function zeroHostState(config: ModelConfig, batch: number): { h: Float32Array[]; c: Float32Array[] } {
  const n = batch * config.hiddenSize;
  return {
    h: Array.from({ length: config.layers }, () => new Float32Array(n)),
    c: Array.from({ length: config.layers }, () => new Float32Array(config.cell === 'lstm' ? n : 0)),
  };
}
