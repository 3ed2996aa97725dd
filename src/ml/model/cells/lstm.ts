import * as tf from '@tensorflow/tfjs';

import { GATES } from '../layout.js';
import type { CellSpec } from './types.js';

const sigmoidGrad = (one: tf.Scalar, a: tf.Tensor, d: tf.Tensor) => tf.mul(d, tf.mul(a, tf.sub(one, a)));

/**
 * LSTM without peepholes: gates i, f, o, g in rnnlm's blocks; c' = f·c + i·g, h' = o·tanh(c').
 * oneDNN and Keras order them i, f, c~(g), o; ONNX i, o, f, c(g).
 */
export const LSTM = {
  type: 'lstm',
  gates: GATES.lstm,
  gateNames: ['i', 'f', 'o', 'g'],
  cellState: true,
  savedPerStep: 7,
  step(xw, state, p, hidden, keep) {
    const batch = xw.shape[0];
    const { h } = state;
    const c = state.c as tf.Tensor2D;
    const z = tf.add(xw, tf.matMul(h, p.recurrent));
    const sig = tf.sigmoid(tf.slice(z, [0, 0], [batch, 3 * hidden]));
    const g = tf.tanh(tf.slice(z, [0, 3 * hidden], [batch, hidden]));
    const i = tf.slice(sig, [0, 0], [batch, hidden]);
    const f = tf.slice(sig, [0, hidden], [batch, hidden]);
    const o = tf.slice(sig, [0, 2 * hidden], [batch, hidden]);
    const cNew = tf.add<tf.Tensor2D>(tf.mul(f, c), tf.mul(i, g));
    const tc = tf.tanh(cNew);
    const hNew = tf.mul<tf.Tensor2D>(o, tc);
    return { h: hNew, c: cNew, saved: keep ? [i, f, o, g, tc, c, h] : [] };
  },
  backward({ dht, dc, saved, recurrentT, one }) {
    const [i, f, o, g, tc, cPrev] = saved as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    const dct = tf.add(dc as tf.Tensor, tf.mul(tf.mul(dht, o), tf.sub(one, tf.square(tc))));
    const dz = tf.concat(
      [
        sigmoidGrad(one, i, tf.mul(dct, g)),
        sigmoidGrad(one, f, tf.mul(dct, cPrev)),
        sigmoidGrad(one, o, tf.mul(dht, tc)),
        tf.mul(tf.mul(dct, i), tf.sub(one, tf.square(g))),
      ],
      1,
    );
    return { dzX: dz, dzH: dz, dh: tf.matMul(dz, recurrentT), dc: tf.mul(dct, f) };
  },
  onednn: { primitive: 'lstm', order: [0, 1, 3, 2] },
  onnx: { op: 'LSTM', order: [0, 2, 1, 3] },
  keras: { layer: 'lstm', order: [0, 1, 3, 2] },
} satisfies CellSpec;
