import * as tf from '@tensorflow/tfjs';

import type { NativeKernels } from '../native.js';
import type { LayerParams, LayerRun, LayerState } from './layer.js';
import type { CellType } from './layout.js';
import { CELLS } from './cells/index.js';
import { onednnSegment } from './onednn-segment.js';

/**
 * Cuts a time-major [T*B, N] tensor (optionally with extra rows after T*B) into T [B, N]
 * slices. Slice, not split: split's wasm kernel copies the whole input once per piece.
 */
function timesteps(x: tf.Tensor2D, steps: number, batch = x.shape[0] / steps): tf.Tensor2D[] {
  if (steps === 1 && x.shape[0] === batch) return [x];
  const width = x.shape[1];
  return Array.from({ length: steps }, (_, t) => tf.slice(x, [t * batch, 0], [batch, width]));
}

/**
 * Runs a layer over a time-major sequence x [T*B, I] on tfjs ops without recording gradients:
 * the tfjs engine's forward pass (tfjs-forward.ts). Call inside `tf.tidy`.
 */
export function runLayer(
  cell: CellType,
  x: tf.Tensor2D,
  state: LayerState,
  p: LayerParams,
  steps: number,
): LayerRun {
  const hidden = p.recurrent.shape[0];
  const xw = tf.add<tf.Tensor2D>(tf.matMul(x, p.kernel), p.bias);
  const xs = timesteps(xw, steps);
  let current: LayerState = state;
  const outs: tf.Tensor2D[] = [];
  for (const xt of xs) {
    const r = CELLS[cell].step(xt, current, p, hidden, false);
    current = { h: r.h, c: r.c };
    outs.push(r.h);
  }
  return { outputs: outs.length === 1 ? (outs[0] as tf.Tensor2D) : tf.concat(outs, 0), final: current };
}

/**
 * The differentiable layer used for training, on the native engine when given one (onednn.ts),
 * else on tfjs ops: the forward pass is `runLayer`'s, the backward pass is written out (BPTT) so that all weight gradients over the whole segment
 * come from single matMuls and every matMul has untransposed operands.
 *
 * `backwardScale[t]` multiplies the gradient flowing through the state from step t to t-1
 * (randomized truncation's compensation factors; 0 cuts the flow).
 *
 * Returns the outputs [T*B, H] with, for LSTM, the final cell state appended as B more rows;
 * the initial state is a constant (states carried across minibatches are detached).
 */
export function trainableLayer(
  native: NativeKernels | undefined,
  cell: CellType,
  x: tf.Tensor2D,
  state: LayerState,
  p: LayerParams,
  steps: number,
  backwardScale?: Float32Array,
): tf.Tensor2D {
  const inputs: tf.Tensor[] = [x, p.kernel, p.recurrent, p.bias];
  if (cell === 'gru') inputs.push(p.recurrentBias as tf.Tensor1D);
  const op = tf.customGrad((...args) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xi, kernel, recurrent, bias, rb] = args as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor1D,
      tf.Tensor1D?,
    ];
    // Without a recurrent bias the last argument is the save function, not a tensor.
    const params: LayerParams = { kernel, recurrent, bias, recurrentBias: cell === 'gru' ? rb : undefined };
    return native === undefined
      ? tfjsSegment(cell, xi, state, params, steps, backwardScale, save)
      : onednnSegment(native, cell, xi, state, params, steps, backwardScale);
  });
  return op(...inputs);
}

/** The trainable layer's segment on tfjs ops: `step` forward, the BPTT below backward. */
function tfjsSegment(
  cell: CellType,
  x: tf.Tensor2D,
  state: LayerState,
  p: LayerParams,
  steps: number,
  backwardScale: Float32Array | undefined,
  save: tf.GradSaveFunc,
): { value: tf.Tensor2D; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] } {
  const hidden = p.recurrent.shape[0];
  const batch = x.shape[0] / steps;
  const xw = tf.add<tf.Tensor2D>(tf.matMul(x, p.kernel), p.bias);
  const xs = timesteps(xw, steps);
  let current: LayerState = state;
  const outs: tf.Tensor2D[] = [];
  const saved: tf.Tensor[] = [];
  for (const xt of xs) {
    const r = CELLS[cell].step(xt, current, p, hidden, true);
    current = { h: r.h, c: r.c };
    outs.push(r.h);
    saved.push(...r.saved);
  }
  if (CELLS[cell].cellState) outs.push(current.c as tf.Tensor2D);
  save([x, ...saved]);
  return {
    value: tf.concat(outs, 0),
    gradFunc: (dy, savedTensors) =>
      backward(cell, dy as tf.Tensor2D, savedTensors, p, steps, batch, hidden, backwardScale),
  };
}

function backward(
  cell: CellType,
  dy: tf.Tensor2D,
  saved: tf.Tensor[],
  p: LayerParams,
  steps: number,
  batch: number,
  hidden: number,
  backwardScale: Float32Array | undefined,
): tf.Tensor[] {
  const spec = CELLS[cell];
  const x = saved[0] as tf.Tensor2D;
  const perStep = spec.savedPerStep;
  const recurrentT = tf.transpose(p.recurrent);
  const dOut = timesteps(dy, steps, batch);
  let dh: tf.Tensor = tf.zeros([batch, hidden]);
  let dc: tf.Tensor | undefined = spec.cellState
    ? tf.slice(dy, [steps * batch, 0], [batch, hidden])
    : undefined;
  const dzx = new Array<tf.Tensor>(steps);
  const dzh = new Array<tf.Tensor>(steps);
  const hPrev = new Array<tf.Tensor>(steps);
  const one = tf.scalar(1);
  for (let t = steps - 1; t >= 0; t--) {
    const stepSaved = saved.slice(1 + t * perStep, 1 + (t + 1) * perStep);
    // Every cell keeps h_{t-1} last: the weight gradients read it.
    hPrev[t] = stepSaved[perStep - 1] as tf.Tensor;
    const r = spec.backward({
      dht: tf.add(dOut[t] as tf.Tensor2D, dh),
      dc,
      saved: stepSaved,
      recurrentT,
      one,
    });
    dzx[t] = r.dzX;
    dzh[t] = r.dzH;
    dh = r.dh;
    dc = r.dc;
    const s = backwardScale?.[t] ?? 1;
    if (s !== 1) {
      dh = tf.mul(dh, s);
      if (dc !== undefined) dc = tf.mul(dc, s);
    }
  }
  const dZx = tf.concat(dzx, 0);
  const dZh = cell === 'gru' ? tf.concat(dzh, 0) : dZx;
  const hAll = tf.concat(hPrev, 0);
  const grads: tf.Tensor[] = [
    tf.matMul(dZx, tf.transpose(p.kernel)),
    tf.matMul(tf.transpose(x), dZx),
    tf.matMul(tf.transpose(hAll), dZh),
    tf.sum(dZx, 0),
  ];
  if (cell === 'gru') grads.push(tf.sum(tf.slice(dZh, [0, 2 * hidden], [steps * batch, hidden]), 0));
  return grads;
}
