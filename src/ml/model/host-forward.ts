import type * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../config.js';
import type { NativeKernels } from '../native.js';
import type { Forward } from './forward.js';
import { EMPTY, forward, host, onednnWeights } from './onednn.js';

/** What {@link HostForward} needs of a model: its config and its weights by name. */
export interface SteppableModel {
  readonly config: ModelConfig;
  variableNames(): string[];
  trainableVariables(): tf.Variable[];
}

/**
 * {@link Forward} on the native engine, in host memory: each call runs the embedding lookup,
 * the layers (oneDNN's primitives) and the output projection (sgemm) for any number of rows at
 * once; a tfjs op per step would cost more than the step's arithmetic. The weights are read
 * through their host copies on every call, so a model that trains between calls (validation)
 * is always run with its current weights, and one that does not pays a lookup.
 */
export class HostForward implements Forward {
  readonly engine = 'onednn';

  constructor(
    private readonly k: NativeKernels,
    private readonly model: SteppableModel,
  ) {}

  private weights(): Map<string, Float32Array> {
    const vars = this.model.trainableVariables();
    return new Map(this.model.variableNames().map((name, i) => [name, host(vars[i] as tf.Variable)]));
  }

  run(
    ids: Int32Array,
    steps: number,
    batch: number,
    h: readonly Float32Array[],
    c: readonly Float32Array[],
    lastOnly: boolean,
  ): Float32Array {
    const { cell, layers, hiddenSize: H, embeddingSize: E, vocabSize: V, tieWeights } = this.model.config;
    const weights = this.weights();
    const w = (name: string): Float32Array => {
      const data = weights.get(name);
      if (data === undefined) throw new Error(`no weight ${name}`);
      return data;
    };
    const rows = steps * batch;
    const embedding = w('embedding');
    let x: Float32Array = new Float32Array(rows * E);
    this.k.gatherRows(x, ids, embedding, E);
    for (let l = 0; l < layers; l++) {
      const input = l === 0 ? E : H;
      const layer = onednnWeights(
        cell,
        {
          kernel: w(`layers.${l}.kernel`),
          recurrent: w(`layers.${l}.recurrent`),
          bias: w(`layers.${l}.bias`),
          recurrentBias: weights.get(`layers.${l}.recurrentBias`) ?? EMPTY,
        },
        input,
        H,
      );
      const hl = h[l] as Float32Array;
      const cl = c[l] ?? EMPTY;
      const o = forward(this.k, cell, x, hl, cl, layer, { steps, batch, input, hidden: H });
      hl.set(o.hLast);
      if (o.cLast.length > 0) cl.set(o.cLast);
      x = o.out;
    }
    const m = lastOnly ? batch : rows;
    const logits = new Float32Array(m * V);
    const last = x.subarray((rows - m) * H);
    if (tieWeights) this.k.sgemm(false, true, m, V, H, last, embedding, logits);
    else this.k.sgemm(false, false, m, V, H, last, w('output.kernel'), logits);
    const bias = w('output.bias');
    for (let r = 0; r < m; r++) {
      for (let v = 0; v < V; v++) logits[r * V + v] = (logits[r * V + v] as number) + (bias[v] as number);
    }
    return logits;
  }
}
