/**
 * The model's forward pass ({@link Forward}) on its TensorFlow.js Layers export, as
 * `tf.loadLayersModel` reads it back: what lets the dashboard run the engine's own generation
 * loop (ml/generate/loop.ts) in the browser. The export takes the tokens [batch, time] and the
 * states per layer (h, then c for LSTM) and returns the logits [batch, time, vocab] and the
 * final states in the same order; a GRU export takes one token per call.
 */
import * as tf from '@tensorflow/tfjs';

import { targetNll } from '../ml/logprobs.js';
import type { Forward } from '../ml/model/forward.js';
import type { TfjsExportMetadata } from './types.js';

export class LayersForward implements Forward {
  readonly engine = 'tfjs';

  constructor(
    private readonly model: tf.LayersModel,
    private readonly meta: TfjsExportMetadata,
  ) {}

  run(
    ids: Int32Array,
    steps: number,
    batch: number,
    h: readonly Float32Array[],
    c: readonly Float32Array[],
    lastOnly: boolean,
  ): Float32Array {
    const { hiddenSize, vocabSize, cell } = this.meta;
    const states = h.flatMap((hl, l) => (cell === 'lstm' ? [hl, c[l] as Float32Array] : [hl]));
    const [logits, ...finals] = tf.tidy(() => {
      // The contract's ids are time-major; the export's tokens are [batch, time].
      const tokens = tf.tensor2d(ids, [steps, batch], 'int32').transpose();
      const chunks = this.meta.tokensPerCall === null ? [tokens] : tf.split(tokens, steps, 1);
      let state = states.map((s) => tf.tensor2d(s, [batch, hiddenSize]));
      const outputs: tf.Tensor[] = [];
      for (const chunk of chunks) {
        const [out, ...next] = this.model.predict([chunk, ...state]) as tf.Tensor[];
        outputs.push(out as tf.Tensor);
        state = next as tf.Tensor2D[];
      }
      const all = outputs.length === 1 ? (outputs[0] as tf.Tensor) : tf.concat(outputs, 1);
      const picked = lastOnly
        ? all.slice([0, steps - 1, 0], [batch, 1, vocabSize]).reshape([batch, vocabSize])
        : all.transpose([1, 0, 2]).reshape([steps * batch, vocabSize]);
      return [picked, ...state];
    });
    try {
      finals.forEach((s, i) => (states[i] as Float32Array).set(s.dataSync()));
      // A copy: a backend may hand out its own buffer, which is freed with the tensor.
      return (logits.dataSync() as Float32Array).slice();
    } finally {
      tf.dispose([logits, ...finals]);
    }
  }

  nll(logits: Float32Array, targets: Int32Array): Float32Array {
    return targetNll(logits, targets);
  }
}
