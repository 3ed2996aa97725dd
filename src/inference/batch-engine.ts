import * as tf from '@tensorflow/tfjs';

import type { LayerState } from '../ml/model/layer.js';
import type { RnnLm } from '../ml/model/lm.js';
import { HostForward } from '../ml/model/host-forward.js';
import type { NativeKernels } from '../ml/native.js';

/**
 * A model's forward pass over many rows at once, the rows' states in host arrays the caller
 * owns, so rows can join and leave a batch between any two calls (see {@link HostForward.run}
 * for the contract, which the tfjs fallback below keeps too).
 */
export type BatchEngine = Pick<HostForward, 'run'>;

/** The native kernels where they are in use, else the model's tfjs forward pass. */
export function batchEngine(model: RnnLm, kernels: NativeKernels | undefined): BatchEngine {
  if (kernels !== undefined) return new HostForward(kernels, model);
  return {
    run(ids, steps, batch, h, c, lastOnly) {
      const { hiddenSize: H, vocabSize: V } = model.config;
      return tf.tidy(() => {
        const state: LayerState[] = h.map((hl, l) => ({
          h: tf.tensor2d(hl, [batch, H]),
          c: model.config.cell === 'lstm' ? tf.tensor2d(c[l] as Float32Array, [batch, H]) : undefined,
        }));
        const out = model.logits(ids, steps, state);
        out.state.forEach((s, l) => {
          (h[l] as Float32Array).set(s.h.dataSync());
          if (s.c !== undefined) (c[l] as Float32Array).set(s.c.dataSync());
        });
        const logits = lastOnly ? tf.slice(out.logits, [(steps - 1) * batch, 0], [batch, V]) : out.logits;
        return logits.dataSync() as Float32Array;
      });
    },
  };
}
