/**
 * The shapes one recurrent layer is handed and hands back, shared by the tfjs layers
 * (cells.ts) and the oneDNN ones (onednn.ts) so neither imports the other's module for them.
 */
import type * as tf from '@tensorflow/tfjs';

export interface LayerParams {
  /** [input, gates*hidden]; LSTM gate order i, f, o, g; GRU r, u, n. */
  kernel: tf.Tensor2D;
  /** [hidden, gates*hidden]. */
  recurrent: tf.Tensor2D;
  /** [gates*hidden], added on the input side. */
  bias: tf.Tensor1D;
  /** GRU only: [hidden] bias of the recurrent part of the candidate, applied inside r ⊙ (·). */
  recurrentBias?: tf.Tensor1D | undefined;
}

/** Hidden state of one layer: h, plus the cell state c for LSTM. */
export interface LayerState {
  h: tf.Tensor2D;
  c?: tf.Tensor2D | undefined;
}

export interface LayerRun {
  /** Outputs of every step, time-major [T*B, H]. */
  outputs: tf.Tensor2D;
  final: LayerState;
}
