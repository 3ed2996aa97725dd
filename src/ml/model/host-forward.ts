import type * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../config.js';
import type { NativeKernels } from '../native.js';
import { EMPTY, forward, host, onednnWeights, type OnednnWeights } from './onednn.js';

/** What {@link HostStepper} needs of a model: its config and its weights by name. */
export interface SteppableModel {
  readonly config: ModelConfig;
  variableNames(): string[];
  trainableVariables(): tf.Variable[];
}

/**
 * The model's forward pass without tfjs, for inference: the state lives in host arrays the
 * caller owns, and each call runs the embedding lookup, the layers (the native kernels) and
 * the output projection (sgemm) for any number of rows at once. It computes what
 * `RnnLm.logits` does; a tfjs op per step would cost more than the step's arithmetic.
 */
export class HostForward {
  private readonly weights = new Map<string, Float32Array>();
  private readonly layers: OnednnWeights[];

  constructor(
    private readonly k: NativeKernels,
    private readonly model: SteppableModel,
  ) {
    const vars = model.trainableVariables();
    model.variableNames().forEach((name, i) => this.weights.set(name, host(vars[i] as tf.Variable)));
    const { cell, embeddingSize: E, hiddenSize: H } = model.config;
    this.layers = Array.from({ length: model.config.layers }, (_, l) =>
      onednnWeights(
        cell,
        {
          kernel: this.w(`layers.${l}.kernel`),
          recurrent: this.w(`layers.${l}.recurrent`),
          bias: this.w(`layers.${l}.bias`),
          recurrentBias: this.weights.get(`layers.${l}.recurrentBias`) ?? EMPTY,
        },
        l === 0 ? E : H,
        H,
      ),
    );
  }

  private w(name: string): Float32Array {
    const data = this.weights.get(name);
    if (data === undefined) throw new Error(`no weight ${name}`);
    return data;
  }

  /**
   * Feeds `steps` tokens to each of `batch` rows (`ids` time-major, [steps * batch]) from the
   * states `h` and `c` (per layer, [batch * hiddenSize]; `c` read for LSTM only), which are
   * overwritten with the final states. Returns the logits of every position
   * [steps * batch, vocabSize], or with `lastOnly` those after the last step [batch, vocabSize].
   */
  run(
    ids: Int32Array,
    steps: number,
    batch: number,
    h: readonly Float32Array[],
    c: readonly Float32Array[],
    lastOnly: boolean,
  ): Float32Array {
    const { cell, hiddenSize: H, embeddingSize: E, vocabSize: V, tieWeights } = this.model.config;
    const rows = steps * batch;
    const embedding = this.w('embedding');
    let x: Float32Array = new Float32Array(rows * E);
    ids.forEach((id, r) => x.set(embedding.subarray(id * E, (id + 1) * E), r * E));
    this.layers.forEach((w, l) => {
      const hl = h[l] as Float32Array;
      const cl = c[l] ?? EMPTY;
      const o = forward(this.k, cell, x, hl, cl, w, { steps, batch, input: l === 0 ? E : H, hidden: H });
      hl.set(o.hLast);
      if (o.cLast.length > 0) cl.set(o.cLast);
      x = o.out;
    });
    const m = lastOnly ? batch : rows;
    const logits = new Float32Array(m * V);
    const last = x.subarray((rows - m) * H);
    if (tieWeights) this.k.sgemm(false, true, m, V, H, last, embedding, logits);
    else this.k.sgemm(false, false, m, V, H, last, this.w('output.kernel'), logits);
    const bias = this.w('output.bias');
    for (let r = 0; r < m; r++) {
      for (let v = 0; v < V; v++) logits[r * V + v] = (logits[r * V + v] as number) + (bias[v] as number);
    }
    return logits;
  }
}

/** Generation's batch-1 loop on {@link HostForward}, the state carried between calls. */
export class HostStepper {
  private readonly forward: HostForward;
  private readonly h: Float32Array[];
  private readonly c: Float32Array[];

  constructor(k: NativeKernels, model: SteppableModel) {
    this.forward = new HostForward(k, model);
    const { layers, hiddenSize } = model.config;
    this.h = Array.from({ length: layers }, () => new Float32Array(hiddenSize));
    this.c = Array.from({ length: layers }, () => new Float32Array(hiddenSize));
  }

  /** Feeds `ids` (at least one) and returns the logits [vocabSize] after the last. */
  advance(ids: Int32Array): Float32Array {
    return this.forward.run(ids, ids.length, 1, this.h, this.c, true);
  }
}
