import * as tf from '@tensorflow/tfjs';

import { GATES } from '../layout.js';
import type { CellSpec } from './types.js';

/**
 * GRU, the linear-before-reset variant (cuDNN's and PyTorch's): gates r, u, n in rnnlm's blocks,
 * n = tanh(x·Wn + bn + r·(h·Rn + b_hn)) with b_hn the layer's `recurrentBias`,
 * h' = u·h + (1 − u)·n. oneDNN's lbr_gru orders them u, r, o(n), its bias u, r, o, b_hn; ONNX
 * z(u), r, h(n) with linear_before_reset.
 */
export const GRU = {
  type: 'gru',
  gates: GATES.gru,
  gateNames: ['r', 'u', 'n'],
  cellState: false,
  savedPerStep: 5,
  step(xw, state, p, hidden, keep) {
    const batch = xw.shape[0];
    const { h } = state;
    const hw = tf.matMul(h, p.recurrent);
    const ru = tf.sigmoid(
      tf.add(tf.slice(xw, [0, 0], [batch, 2 * hidden]), tf.slice(hw, [0, 0], [batch, 2 * hidden])),
    );
    const r = tf.slice(ru, [0, 0], [batch, hidden]);
    const u = tf.slice(ru, [0, hidden], [batch, hidden]);
    const hn = tf.add(tf.slice(hw, [0, 2 * hidden], [batch, hidden]), p.recurrentBias as tf.Tensor1D);
    const n = tf.tanh(tf.add(tf.slice(xw, [0, 2 * hidden], [batch, hidden]), tf.mul(r, hn)));
    const hNew = tf.add<tf.Tensor2D>(n, tf.mul(u, tf.sub(h, n)));
    return { h: hNew, saved: keep ? [r, u, n, hn, h] : [] };
  },
  backward({ dht, saved, recurrentT, one }) {
    const [r, u, n, hn, hp] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const dan = tf.mul(tf.mul(dht, tf.sub(one, u)), tf.sub(one, tf.square(n)));
    const dar = tf.mul(tf.mul(dan, hn), tf.mul(r, tf.sub(one, r)));
    const dau = tf.mul(tf.mul(dht, tf.sub(hp, n)), tf.mul(u, tf.sub(one, u)));
    const dzH = tf.concat([dar, dau, tf.mul(dan, r)], 1);
    return {
      dzX: tf.concat([dar, dau, dan], 1),
      dzH,
      dh: tf.add(tf.mul(dht, u), tf.matMul(dzH, recurrentT)),
    };
  },
  onednn: { primitive: 'lbr_gru', order: [1, 0, 2] },
  onnx: { op: 'GRU', order: [1, 0, 2] },
  keras: null,
} satisfies CellSpec;
