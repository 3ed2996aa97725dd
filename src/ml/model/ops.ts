import * as tf from '@tensorflow/tfjs';

import { hasKernel } from '../backend.js';
import { matMulTakesTransposes } from '../wasm-kernels.js';

/*
 * Differentiable building blocks with hand-written gradients. tfjs' own gradients for these
 * ops either need kernels the wasm backend lacks (gather's gradient uses UnsortedSegmentSum)
 * or run matMuls with transposed operands, which wasm's own matMul executes ~20x slower than
 * plain ones; here the backward matMuls get materialised, untransposed operands unless matMul
 * runs on sgemm (then the transpose of [T·B, H], 4 ms a step, is the slower part).
 */

/** x·w for x [N, I], w [I, O], with a backward pass of untransposed matMuls where they are faster. */
export const linear = tf.customGrad((x, w, save) => {
  const xt = x as tf.Tensor2D;
  const wt = w as tf.Tensor2D;
  (save as tf.GradSaveFunc)([xt, wt]);
  return {
    value: tf.matMul(xt, wt),
    gradFunc: (dy, saved) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      const d = dy;
      if (matMulTakesTransposes()) return [tf.matMul(d, ws, false, true), tf.matMul(xs, d, true, false)];
      return [tf.matMul(d, tf.transpose(ws)), tf.matMul(tf.transpose(xs), d)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

/** Sums rows of `dy` into a [vocab, dim] gradient at `ids`, on any backend. */
function scatterRows(dy: tf.Tensor2D, ids: Int32Array, vocab: number): tf.Tensor2D {
  if (hasKernel('UnsortedSegmentSum')) {
    return tf.tidy(() => tf.unsortedSegmentSum(dy, tf.tensor1d(ids, 'int32'), vocab));
  }
  const dim = dy.shape[1];
  const rows = dy.dataSync();
  const out = new Float32Array(vocab * dim);
  for (let n = 0; n < ids.length; n++) {
    const dst = (ids[n] as number) * dim;
    const src = n * dim;
    for (let j = 0; j < dim; j++) out[dst + j] = (out[dst + j] as number) + (rows[src + j] as number);
  }
  return tf.tensor2d(out, [vocab, dim]);
}

/** Embedding lookup: rows of `table` [V, E] at `ids`, gradient scattered back into the table. */
export function embed(table: tf.Tensor2D, ids: Int32Array): tf.Tensor2D {
  const op = tf.customGrad((t) => {
    const tt = t as tf.Tensor2D;
    return {
      value: tf.gather(tt, tf.tensor1d(ids, 'int32')),
      gradFunc: (dy) => scatterRows(dy, ids, tt.shape[0]),
    };
  }) as (t: tf.Tensor2D) => tf.Tensor2D;
  return op(table);
}

/**
 * Weighted mean of the negative log-likelihood of `targets` under softmax(`logits`)
 * ([N, V]); `weights` (0 masks padding) divide by their sum. The gradient is the classic
 * (softmax - onehot) · w / Σw, without a gather in the backward pass.
 */
export function sparseSoftmaxCrossEntropy(
  logits: tf.Tensor2D,
  targets: Int32Array,
  weights?: Float32Array,
): tf.Scalar {
  const [n, vocab] = logits.shape;
  const w = weights ?? new Float32Array(n).fill(1);
  let total = 0;
  for (const x of w) total += x;
  const norm = total > 0 ? total : 1;
  const op = tf.customGrad((l, save) => {
    const lt = l as tf.Tensor2D;
    const logp = tf.logSoftmax(lt);
    (save as tf.GradSaveFunc)([logp]);
    const picked = tf.gather(tf.reshape(logp, [-1]), tf.tensor1d(flatIndices(targets, vocab), 'int32'));
    const value = tf.div<tf.Scalar>(tf.neg(tf.sum(tf.mul(picked, tf.tensor1d(w)))), norm);
    return {
      value,
      gradFunc: (dy, saved) => {
        const [lp] = saved as [tf.Tensor2D];
        const scale = tf.mul(tf.div(tf.tensor2d(w, [n, 1]), norm), dy);
        const onehot = tf.oneHot(tf.tensor1d(targets, 'int32'), vocab);
        return tf.mul(tf.sub(tf.exp(lp), onehot), scale);
      },
    };
  }) as (l: tf.Tensor2D) => tf.Scalar;
  return op(logits);
}

/** Row-major flat positions of (row n, column targets[n]). */
export function flatIndices(targets: Int32Array, vocab: number): Int32Array {
  const idx = new Int32Array(targets.length);
  for (let n = 0; n < targets.length; n++) idx[n] = n * vocab + (targets[n] as number);
  return idx;
}
