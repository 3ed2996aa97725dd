import * as tf from '@tensorflow/tfjs';

import { GATES } from '../layout.js';
import type { CellSpec } from './types.js';

/** The plain tanh RNN: h' = tanh(x·W + h·R + b), one gate block. */
export const RNN = {
  type: 'rnn',
  gates: GATES.rnn,
  gateNames: ['h'],
  cellState: false,
  savedPerStep: 2,
  step(xw, state, p, _hidden, keep) {
    const hNew = tf.tanh(tf.add(xw, tf.matMul(state.h, p.recurrent))) as tf.Tensor2D;
    return { h: hNew, saved: keep ? [hNew, state.h] : [] };
  },
  backward({ dht, saved, recurrentT, one }) {
    const hNew = saved[0] as tf.Tensor;
    const dz = tf.mul(dht, tf.sub(one, tf.square(hNew)));
    return { dzX: dz, dzH: dz, dh: tf.matMul(dz, recurrentT) };
  },
  onednn: { primitive: 'vanilla_rnn', order: [0] },
  onnx: { op: 'RNN', order: [0] },
  keras: { layer: 'simpleRNN', order: [0] },
} satisfies CellSpec;
