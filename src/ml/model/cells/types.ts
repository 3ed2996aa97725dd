import type * as tf from '@tensorflow/tfjs';

import type { LayerParams, LayerState } from '../layer.js';
import type { CellType } from '../layout.js';

/** One step on tfjs ops: the new state, and with `keep` what the backward step reads. */
export interface StepResult {
  h: tf.Tensor2D;
  c?: tf.Tensor2D | undefined;
  saved: tf.Tensor[];
}

/** What a backward step hands on: the gate gradients and the gradients of the previous state. */
export interface BackwardStep {
  /** Gradient of the gates' input-side pre-activations [B, G·H]. */
  dzX: tf.Tensor;
  /** Gradient of the recurrent products [B, G·H] (dzX but for GRU's candidate). */
  dzH: tf.Tensor;
  /** Gradient of h_{t-1}. */
  dh: tf.Tensor;
  /** Gradient of c_{t-1} (LSTM). */
  dc?: tf.Tensor | undefined;
}

/** Arguments of a backward step at time t (tensors owned by the enclosing tidy/gradient). */
export interface BackwardInput {
  /** Gradient of h_t: the output's plus what flowed back from t + 1. */
  dht: tf.Tensor;
  /** Gradient of c_t that flowed back from t + 1 (LSTM). */
  dc: tf.Tensor | undefined;
  /** What the forward step kept (`StepResult.saved`). */
  saved: tf.Tensor[];
  /** The recurrent matrix, transposed [G·H, H]. */
  recurrentT: tf.Tensor2D;
  one: tf.Scalar;
}

/**
 * What a cell type is, in one place: its gate blocks in rnnlm's fused weights, its step and
 * backward step on tfjs ops, and how its blocks map onto the runtimes that compute or import
 * it. The fused kernels are [in, gates·H], gate blocks side by side; an order below lists
 * rnnlm's block indices in the order the other side wants them.
 */
export interface CellSpec {
  readonly type: CellType;
  /** Gate blocks of the fused kernels. */
  readonly gates: number;
  /** rnnlm's name of each block, in rnnlm's order. */
  readonly gateNames: readonly string[];
  /** Whether the cell carries a cell state `c` beside `h` (LSTM). */
  readonly cellState: boolean;
  /** Tensors one training step keeps for its backward step. */
  readonly savedPerStep: number;
  /**
   * One timestep given the input projection `xw` ([B, gates·H], bias included). The same
   * function serves inference and training, so both compute identical numbers; only training
   * asks for the intermediates (`keep`).
   */
  step(xw: tf.Tensor2D, state: LayerState, p: LayerParams, hidden: number, keep: boolean): StepResult;
  /** The step's backward pass (BPTT), from what `step` kept. */
  backward(input: BackwardInput): BackwardStep;
  /** oneDNN's primitive for the cell and its gate order (onednn.ts maps the weights). */
  readonly onednn: {
    readonly primitive: 'lstm' | 'lbr_gru' | 'vanilla_rnn';
    readonly order: readonly number[];
  };
  /** The ONNX operator and its gate order (src/export/onnx.ts). */
  readonly onnx: {
    readonly op: 'LSTM' | 'GRU' | 'RNN';
    readonly order: readonly number[];
  };
  /**
   * The Keras layer of the TensorFlow.js Layers export and its gate order (src/export/tfjs.ts);
   * null for GRU, whose reset-after variant tfjs-layers refuses, so its export spells a step out.
   */
  readonly keras: { readonly layer: 'lstm' | 'simpleRNN'; readonly order: readonly number[] } | null;
}
