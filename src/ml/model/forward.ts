/**
 * The model's forward pass over host arrays: the one contract that generation, scoring,
 * validation and the inference batcher run on, with two implementations, picked once per
 * model (engine.ts): the native engine (host-forward.ts, the addon's inference pass) where it
 * is in use, tfjs ops otherwise (tfjs-forward.ts: the fallback, and the GPU path). The
 * dashboard runs a model's tfjs export through it too (export/layers-forward.ts). No runtime
 * import: the browser bundle includes this module.
 */
import type { ModelConfig } from '../config.js';

export interface Forward {
  /** What computes it: the native engine (oneDNN and the addon's own kernels), or tfjs ops. */
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
  /**
   * The negative log-probability of each row's target under the softmax of its logits
   * ([targets.length, vocabSize], as `run` returns them), as logprobs.ts's logProbability.
   */
  nll(logits: Float32Array, targets: Int32Array): Float32Array;
}

/** What the recurrent state's shape depends on. */
export type StateShape = Pick<ModelConfig, 'cell' | 'layers' | 'hiddenSize'>;

/** Zero states of `batch` rows: h and c per layer (c empty but for LSTM). */
export function zeroHostState(config: StateShape, batch: number): { h: Float32Array[]; c: Float32Array[] } {
  const n = batch * config.hiddenSize;
  return {
    h: Array.from({ length: config.layers }, () => new Float32Array(n)),
    c: Array.from({ length: config.layers }, () => new Float32Array(config.cell === 'lstm' ? n : 0)),
  };
}

/**
 * A batch-1 state carried between calls: generation's loop, on whichever {@link Forward}
 * (the engine's, or in the browser the tfjs export's).
 */
export class Stepper {
  private readonly state: { h: Float32Array[]; c: Float32Array[] };

  constructor(
    private readonly forward: Forward,
    shape: StateShape,
  ) {
    this.state = zeroHostState(shape, 1);
  }

  /** Feeds `ids` (at least one) and returns the logits [vocabSize] after the last. */
  advance(ids: Int32Array): Float32Array {
    return this.forward.run(ids, ids.length, 1, this.state.h, this.state.c, true);
  }
}
