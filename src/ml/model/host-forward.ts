import type * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../config.js';
import type { NativeKernels, PackedLayer } from '../native.js';
import { Scratch } from '../scratch.js';
import type { Forward } from './forward.js';
import { EMPTY, host, infer, packedWeights } from './onednn.js';

/** What {@link HostForward} needs of a model: its config and its weights by name. */
export interface SteppableModel {
  readonly config: ModelConfig;
  variableNames(): string[];
  trainableVariables(): tf.Variable[];
}

/** The weights one version of a model's variables gives the forward pass. */
interface Weights {
  /** The variables' data ids when these were read: an assignment gives a variable a new one. */
  ids: readonly object[];
  embedding: Float32Array;
  layers: PackedLayer[];
  /** The output projection's kernel; the embedding when the weights are tied. */
  output: Float32Array;
  outputBias: Float32Array;
}

/**
 * {@link Forward} on the native engine, in host memory: each call runs the embedding lookup,
 * the layers (the addon's inference pass) and the output projection (sgemm) for any number of
 * rows at once; a tfjs op per step would cost more than the step's arithmetic. The weights are
 * read once per version of the model's variables (compared by data id on every call), so a
 * model that trains between calls (validation) is always run with its current weights, and
 * one that does not, batch-1 generation above all, pays one comparison per variable.
 */
export class HostForward implements Forward {
  readonly engine = 'onednn';
  private current: Weights | undefined;

  constructor(
    private readonly k: NativeKernels,
    private readonly model: SteppableModel,
  ) {}

  private weights(): Weights {
    const vars = this.model.trainableVariables();
    const cur = this.current;
    if (
      cur !== undefined &&
      cur.ids.length === vars.length &&
      vars.every((v, i) => v.dataId === cur.ids[i])
    ) {
      return cur;
    }
    const byName = new Map(this.model.variableNames().map((name, i) => [name, host(vars[i] as tf.Variable)]));
    const w = (name: string): Float32Array => {
      const data = byName.get(name);
      if (data === undefined) throw new Error(`no weight ${name}`);
      return data;
    };
    const { cell, layers, hiddenSize: H, embeddingSize: E, tieWeights } = this.model.config;
    const embedding = w('embedding');
    this.current = {
      ids: vars.map((v) => v.dataId),
      embedding,
      layers: Array.from({ length: layers }, (_, l) =>
        packedWeights(
          this.k,
          cell,
          {
            kernel: w(`layers.${l}.kernel`),
            recurrent: w(`layers.${l}.recurrent`),
            bias: w(`layers.${l}.bias`),
            recurrentBias: byName.get(`layers.${l}.recurrentBias`) ?? EMPTY,
          },
          l === 0 ? E : H,
          H,
        ),
      ),
      output: tieWeights ? embedding : w('output.kernel'),
      outputBias: w('output.bias'),
    };
    return this.current;
  }

  /**
   * The embedded input and two layer outputs in turn, kept between calls: a batch-1 token
   * allocated eight arrays outside V8's heap, ~1 us each.
   */
  private readonly scratch = new Scratch();

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
    const rows = steps * batch;
    let x = this.scratch.get('embedded', rows * E);
    this.k.gatherRows(x, ids, weights.embedding, E);
    for (let l = 0; l < layers; l++) {
      const out = this.scratch.get(`out.${l % 2}`, rows * H);
      const d = { steps, batch, input: l === 0 ? E : H, hidden: H };
      infer(this.k, cell, x, h[l] as Float32Array, c[l] ?? EMPTY, weights.layers[l] as PackedLayer, d, out);
      x = out;
    }
    const m = lastOnly ? batch : rows;
    const logits = new Float32Array(m * V);
    const last = x.subarray((rows - m) * H);
    this.k.sgemm(false, tieWeights, m, V, H, last, weights.output, logits);
    const bias = weights.outputBias;
    for (let r = 0; r < m; r++) {
      for (let v = 0; v < V; v++) logits[r * V + v] = (logits[r * V + v] as number) + (bias[v] as number);
    }
    return logits;
  }

  nll(logits: Float32Array, targets: Int32Array): Float32Array {
    const out = new Float32Array(targets.length);
    this.k.nllRows(logits, targets, out);
    return out;
  }
}
