import * as tf from '@tensorflow/tfjs';

import type { NativeKernels } from '../native.js';
import type { LayerParams, LayerRun, LayerState } from './layer.js';
import type { CellType } from './layout.js';
import { onednnSegment } from './onednn.js';

type Tuple<T, N extends number, R extends T[] = []> = R['length'] extends N ? R : Tuple<T, N, [T, ...R]>;

/** What one step keeps for the hand-written backward pass. */
type Saved = tf.Tensor[];

interface StepResult {
  h: tf.Tensor2D;
  c?: tf.Tensor2D | undefined;
  saved: Saved;
}

/**
 * One timestep given the input projection `xw` ([B, gates*H], bias included). The same
 * function serves inference and training, so both paths compute identical numbers; only
 * training asks for the intermediates (`keep`).
 */
function step(
  cell: CellType,
  xw: tf.Tensor2D,
  state: LayerState,
  p: LayerParams,
  hidden: number,
  keep: boolean,
): StepResult {
  const batch = xw.shape[0];
  const h = state.h;
  const hw = tf.matMul(h, p.recurrent);
  switch (cell) {
    case 'lstm': {
      const c = state.c as tf.Tensor2D;
      const z = tf.add(xw, hw);
      const sig = tf.sigmoid(tf.slice(z, [0, 0], [batch, 3 * hidden]));
      const g = tf.tanh(tf.slice(z, [0, 3 * hidden], [batch, hidden]));
      const i = tf.slice(sig, [0, 0], [batch, hidden]);
      const f = tf.slice(sig, [0, hidden], [batch, hidden]);
      const o = tf.slice(sig, [0, 2 * hidden], [batch, hidden]);
      const cNew = tf.add(tf.mul(f, c), tf.mul(i, g));
      const tc = tf.tanh(cNew);
      const hNew = tf.mul(o, tc);
      return { h: hNew as tf.Tensor2D, c: cNew as tf.Tensor2D, saved: keep ? [i, f, o, g, tc, c, h] : [] };
    }
    case 'gru': {
      const ru = tf.sigmoid(
        tf.add(tf.slice(xw, [0, 0], [batch, 2 * hidden]), tf.slice(hw, [0, 0], [batch, 2 * hidden])),
      );
      const r = tf.slice(ru, [0, 0], [batch, hidden]);
      const u = tf.slice(ru, [0, hidden], [batch, hidden]);
      const hn = tf.add(tf.slice(hw, [0, 2 * hidden], [batch, hidden]), p.recurrentBias as tf.Tensor1D);
      const n = tf.tanh(tf.add(tf.slice(xw, [0, 2 * hidden], [batch, hidden]), tf.mul(r, hn)));
      const hNew = tf.add(n, tf.mul(u, tf.sub(h, n)));
      return { h: hNew as tf.Tensor2D, saved: keep ? [r, u, n, hn, h] : [] };
    }
    case 'rnn': {
      const hNew = tf.tanh(tf.add(xw, hw));
      return { h: hNew as tf.Tensor2D, saved: keep ? [hNew, h] : [] };
    }
  }
}

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
    const r = step(cell, xt, current, p, hidden, false);
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
    const r = step(cell, xt, current, p, hidden, true);
    current = { h: r.h, c: r.c };
    outs.push(r.h);
    saved.push(...r.saved);
  }
  if (cell === 'lstm') outs.push(current.c as tf.Tensor2D);
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
  const x = saved[0] as tf.Tensor2D;
  const perStep = (saved.length - 1) / steps;
  // Destructuring needs fixed-length tuples; every step saved exactly `perStep` tensors.
  const stepSaved = <N extends number>(t: number, n: N) =>
    saved.slice(1 + t * perStep, 1 + t * perStep + n) as Tuple<tf.Tensor, N>;
  const recurrentT = tf.transpose(p.recurrent);
  const dOut = timesteps(dy, steps, batch);
  let dh: tf.Tensor = tf.zeros([batch, hidden]);
  let dc: tf.Tensor | undefined =
    cell === 'lstm' ? tf.slice(dy, [steps * batch, 0], [batch, hidden]) : undefined;
  const dzx = new Array<tf.Tensor>(steps);
  const dzh = new Array<tf.Tensor>(steps);
  const hPrev = new Array<tf.Tensor>(steps);
  const one = tf.scalar(1);
  for (let t = steps - 1; t >= 0; t--) {
    const dht = tf.add(dOut[t] as tf.Tensor2D, dh);
    let dzX: tf.Tensor;
    let dzH: tf.Tensor;
    switch (cell) {
      case 'lstm': {
        const [i, f, o, g, tc, cPrev, hp] = stepSaved(t, 7);
        hPrev[t] = hp;
        const dct = tf.add(dc as tf.Tensor, tf.mul(tf.mul(dht, o), tf.sub(one, tf.square(tc))));
        const sigGrad = (a: tf.Tensor, d: tf.Tensor) => tf.mul(d, tf.mul(a, tf.sub(one, a)));
        dzX = tf.concat(
          [
            sigGrad(i, tf.mul(dct, g)),
            sigGrad(f, tf.mul(dct, cPrev)),
            sigGrad(o, tf.mul(dht, tc)),
            tf.mul(tf.mul(dct, i), tf.sub(one, tf.square(g))),
          ],
          1,
        );
        dzH = dzX;
        dc = tf.mul(dct, f);
        dh = tf.matMul(dzH, recurrentT);
        break;
      }
      case 'gru': {
        const [r, u, n, hn, hp] = stepSaved(t, 5);
        hPrev[t] = hp;
        const dan = tf.mul(tf.mul(dht, tf.sub(one, u)), tf.sub(one, tf.square(n)));
        const dar = tf.mul(tf.mul(dan, hn), tf.mul(r, tf.sub(one, r)));
        const dau = tf.mul(tf.mul(dht, tf.sub(hp, n)), tf.mul(u, tf.sub(one, u)));
        dzX = tf.concat([dar, dau, dan], 1);
        dzH = tf.concat([dar, dau, tf.mul(dan, r)], 1);
        dh = tf.add(tf.mul(dht, u), tf.matMul(dzH, recurrentT));
        break;
      }
      case 'rnn': {
        const [hNew, hp] = stepSaved(t, 2);
        hPrev[t] = hp;
        dzX = tf.mul(dht, tf.sub(one, tf.square(hNew)));
        dzH = dzX;
        dh = tf.matMul(dzH, recurrentT);
        break;
      }
    }
    dzx[t] = dzX;
    dzh[t] = dzH;
    if (backwardScale !== undefined) {
      const s = backwardScale[t] ?? 1;
      if (s !== 1) {
        dh = tf.mul(dh, s);
        if (dc !== undefined) dc = tf.mul(dc, s);
      }
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
