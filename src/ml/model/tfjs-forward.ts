import * as tf from '@tensorflow/tfjs';

import { targetNll } from '../logprobs.js';
import type { Forward } from './forward.js';
import type { LayerState } from './layer.js';
import type { RnnLm } from './lm.js';

/** {@link Forward} on tfjs ops (`RnnLm.logits`), the states copied in and out of tensors. */
export class TfjsForward implements Forward {
  readonly engine = 'tfjs';

  constructor(private readonly model: RnnLm) {}

  run(
    ids: Int32Array,
    steps: number,
    batch: number,
    h: readonly Float32Array[],
    c: readonly Float32Array[],
    lastOnly: boolean,
  ): Float32Array {
    const { hiddenSize: H, vocabSize: V, cell } = this.model.config;
    return tf.tidy(() => {
      const state: LayerState[] = h.map((hl, l) => ({
        h: tf.tensor2d(hl, [batch, H]),
        c: cell === 'lstm' ? tf.tensor2d(c[l] as Float32Array, [batch, H]) : undefined,
      }));
      const out = this.model.logits(ids, steps, state);
      out.state.forEach((s, l) => {
        (h[l] as Float32Array).set(s.h.dataSync());
        if (s.c !== undefined) (c[l] as Float32Array).set(s.c.dataSync());
      });
      const logits = lastOnly ? tf.slice(out.logits, [(steps - 1) * batch, 0], [batch, V]) : out.logits;
      return logits.dataSync() as Float32Array;
    });
  }

  nll(logits: Float32Array, targets: Int32Array): Float32Array {
    return targetNll(logits, targets);
  }
}
