import * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../config.js';
import { errors } from '../../errors.js';
import { nativeKernels, type NativeKernels } from '../native.js';
import { Rng } from '../rng.js';
import { runLayer, trainableLayer } from './cells.js';
import type { LayerParams, LayerState } from './layer.js';
import { parameterCount, weightShapes } from './layout.js';
import { adoptHost } from './onednn.js';
import { embed, linear, sparseSoftmaxCrossEntropy } from './ops.js';

/** A float32 tensor as plain data (`data.length` = product of `shape`): what checkpoints and model directories store. */
export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface TrainStepInput {
  /** Inputs, time-major [steps * batch]. */
  x: Int32Array;
  /** Next-token targets, same layout. */
  y: Int32Array;
  steps: number;
  batch: number;
  /** Per-layer state to start from; undefined starts from zeros. Treated as a constant. */
  state?: LayerState[] | undefined;
  /** Draws seeds for the dropout masks (dropout is off when undefined or rate is 0). */
  rng?: Rng | undefined;
  backwardScale?: Float32Array | undefined;
}

/**
 * Embedding → stacked recurrent layers → output projection. The weights are tf.Variables
 * owned by this object; `dispose()` frees them.
 */
export class RnnLm {
  readonly config: ModelConfig;
  /**
   * The native engine this model trains and runs on, fixed when it is built (the process's
   * choice at that moment: src/ml/backend.ts); undefined: tfjs alone. See engine.ts.
   */
  readonly kernels: NativeKernels | undefined = nativeKernels();
  private readonly vars = new Map<string, tf.Variable>();
  private outputKernelT: tf.Tensor2D | undefined;

  private constructor(config: ModelConfig, weights: NamedArray[]) {
    this.config = config;
    const expected = RnnLm.weightShapes(config);
    const byName = new Map(weights.map((w) => [w.name, w]));
    for (const [name, shape] of expected) {
      const w = byName.get(name);
      if (w === undefined) throw errors.weightMissing(name);
      if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
        throw errors.weightShape(name, w.shape, shape);
      }
      this.vars.set(
        name,
        tf.tidy(() => tf.variable(tf.tensor(w.data, shape), true, `${name}_${variableSuffix++}`)),
      );
    }
    if (byName.size !== expected.size) {
      const extra = [...byName.keys()].filter((n) => !expected.has(n));
      throw errors.unexpectedWeights(extra);
    }
  }

  /** Names and shapes of every weight, in a stable order. */
  static weightShapes(config: ModelConfig): Map<string, number[]> {
    return weightShapes(config);
  }

  /** Number of trainable parameters. */
  static parameterCount(config: ModelConfig): number {
    return parameterCount(config);
  }

  /**
   * Fresh weights drawn from `seed` in JavaScript, so initialisation is identical on every
   * backend. PyTorch's defaults (what torch.nn.Embedding, nn.LSTM/GRU/RNN and nn.Linear
   * give): embedding N(0, 1); every recurrent weight U(-1/√H, 1/√H); each layer's bias the sum
   * of torch's two (b_ih + b_hh, each U(-1/√H, 1/√H)) where torch adds them, GRU's candidate
   * keeping b_hn apart as `recurrentBias`; output kernel and bias U(-1/√H, 1/√H). A tied
   * embedding doubles as the output kernel and stays U(-0.1, 0.1) (word_language_model's
   * choice), since N(0, 1) output weights would start from huge logits.
   *
   * Until 2026-12-06 the embedding and output kernel were U(-0.1, 0.1) and the biases zero
   * with the LSTM forget gate at 1: at equal steps on the same batches that scheme sat on the
   * unigram plateau (~3.3 nats/char) for the first hundred-odd steps that this one leaves at
   * once (docs/performance.md, "Equal steps"). Saved models keep their weights either way.
   */
  static create(config: ModelConfig, seed: number): RnnLm {
    if (config.tieWeights && config.embeddingSize !== config.hiddenSize) {
      throw errors.invalidConfig('tieWeights', 'needs embeddingSize equal to hiddenSize');
    }
    const rng = new Rng(seed);
    const h = config.hiddenSize;
    const bound = 1 / Math.sqrt(h);
    const uniform = (r: number) => (rng.float() * 2 - 1) * r;
    const weights: NamedArray[] = [];
    for (const [name, shape] of RnnLm.weightShapes(config)) {
      const size = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(size);
      if (name === 'embedding') {
        for (let i = 0; i < size; i++) data[i] = config.tieWeights ? uniform(0.1) : rng.normal();
      } else if (name.startsWith('layers.') && name.endsWith('.bias')) {
        // GRU's candidate block has b_in only; torch's b_hn is recurrentBias.
        const summed = config.cell === 'gru' ? 2 * h : size;
        for (let i = 0; i < size; i++) data[i] = uniform(bound) + (i < summed ? uniform(bound) : 0);
      } else {
        for (let i = 0; i < size; i++) data[i] = uniform(bound);
      }
      weights.push({ name, shape, data });
    }
    return new RnnLm(config, weights);
  }

  static fromWeights(config: ModelConfig, weights: NamedArray[]): RnnLm {
    return new RnnLm(config, weights);
  }

  /** The variables in `weightShapes` order (what optimizers update). */
  trainableVariables(): tf.Variable[] {
    return [...this.vars.values()];
  }

  variableNames(): string[] {
    return [...this.vars.keys()];
  }

  /** Copies the weights out of the backend. */
  getWeights(): NamedArray[] {
    return [...this.vars].map(([name, v]) => ({
      name,
      shape: [...v.shape],
      data: v.dataSync() as Float32Array,
    }));
  }

  setWeights(weights: NamedArray[]): void {
    const byName = new Map(weights.map((w) => [w.name, w]));
    for (const [name, v] of this.vars) {
      const w = byName.get(name);
      if (w === undefined) throw errors.weightMissing(name);
      tf.tidy(() => v.assign(tf.tensor(w.data, v.shape)));
    }
    this.weightsChanged();
  }

  /**
   * Assigns weights computed in host memory (in `trainableVariables` order; the native
   * training step), keeping each array as its variable's host copy. The arrays must not change
   * afterwards.
   */
  assignHost(weights: Float32Array[]): void {
    [...this.vars.values()].forEach((v, i) => {
      const data = weights[i] as Float32Array;
      tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
      adoptHost(v, data);
    });
    this.weightsChanged();
  }

  /** Drops inference caches derived from the weights; optimizers call it after an update. */
  weightsChanged(): void {
    this.outputKernelT?.dispose();
    this.outputKernelT = undefined;
  }

  zeroState(batch: number): LayerState[] {
    const { layers, hiddenSize: h, cell } = this.config;
    return Array.from({ length: layers }, () => ({
      h: tf.zeros<tf.Rank.R2>([batch, h]),
      c: cell === 'lstm' ? tf.zeros<tf.Rank.R2>([batch, h]) : undefined,
    }));
  }

  private v(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (v === undefined) throw new Error(`no weight ${name}`);
    return v;
  }

  private layer(l: number): LayerParams {
    return {
      kernel: this.v(`layers.${l}.kernel`) as unknown as tf.Tensor2D,
      recurrent: this.v(`layers.${l}.recurrent`) as unknown as tf.Tensor2D,
      bias: this.v(`layers.${l}.bias`) as unknown as tf.Tensor1D,
      recurrentBias:
        this.config.cell === 'gru'
          ? (this.v(`layers.${l}.recurrentBias`) as unknown as tf.Tensor1D)
          : undefined,
    };
  }

  private dropout(x: tf.Tensor2D, rng: Rng | undefined): tf.Tensor2D {
    const rate = this.config.dropout;
    if (rate <= 0 || rng === undefined) return x;
    return tf.dropout(x, rate, undefined, rng.seed()) as tf.Tensor2D;
  }

  /**
   * Mean NLL per target token for one minibatch, differentiable w.r.t. the variables. The
   * final per-layer state is returned kept (it outlives the caller's tidy/variableGrads);
   * the caller disposes it.
   */
  trainLoss(input: TrainStepInput): { loss: tf.Scalar; state: LayerState[] } {
    const { x, y, steps, batch, rng, backwardScale } = input;
    const { layers, hiddenSize: h, cell } = this.config;
    const start = input.state ?? this.zeroState(batch);
    let current = this.dropout(embed(this.v('embedding') as unknown as tf.Tensor2D, x), rng);
    const finals: LayerState[] = [];
    for (let l = 0; l < layers; l++) {
      const out = trainableLayer(
        this.kernels,
        cell,
        current,
        start[l] as LayerState,
        this.layer(l),
        steps,
        backwardScale,
      );
      const outputs = cell === 'lstm' ? tf.slice(out, [0, 0], [steps * batch, h]) : out;
      finals.push({
        h: tf.keep(tf.slice(out, [(steps - 1) * batch, 0], [batch, h])),
        c: cell === 'lstm' ? tf.keep(tf.slice(out, [steps * batch, 0], [batch, h])) : undefined,
      });
      current = this.dropout(outputs, rng);
    }
    if (input.state === undefined) disposeState(start);
    const kernel = this.config.tieWeights
      ? (tf.transpose(this.v('embedding')) as tf.Tensor2D)
      : (this.v('output.kernel') as unknown as tf.Tensor2D);
    const logits = tf.add<tf.Tensor2D>(linear(current, kernel), this.v('output.bias'));
    return { loss: sparseSoftmaxCrossEntropy(logits, y), state: finals };
  }

  private inferenceKernel(): tf.Tensor2D {
    if (!this.config.tieWeights) return this.v('output.kernel') as unknown as tf.Tensor2D;
    this.outputKernelT ??= tf.keep(tf.transpose(this.v('embedding')) as tf.Tensor2D);
    return this.outputKernelT;
  }

  /**
   * Forward pass without dropout or gradients: logits [steps*batch, V] (time-major) and the
   * final state. Call inside tf.tidy; keep what must outlive it.
   */
  logits(x: Int32Array, steps: number, state: LayerState[]): { logits: tf.Tensor2D; state: LayerState[] } {
    const { layers, cell } = this.config;
    let current = tf.gather(this.v('embedding'), tf.tensor1d(x, 'int32')) as tf.Tensor2D;
    const finals: LayerState[] = [];
    for (let l = 0; l < layers; l++) {
      const run = runLayer(cell, current, state[l] as LayerState, this.layer(l), steps);
      finals.push(run.final);
      current = run.outputs;
    }
    const logits = tf.add<tf.Tensor2D>(tf.matMul(current, this.inferenceKernel()), this.v('output.bias'));
    return { logits, state: finals };
  }

  dispose(): void {
    this.weightsChanged();
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

// tfjs variable names are global per process; a suffix lets several models coexist.
let variableSuffix = 0;

export function disposeState(state: LayerState[]): void {
  for (const s of state) {
    s.h.dispose();
    s.c?.dispose();
  }
}

/** Keeps every tensor of a state (so it survives the enclosing tidy). */
export function keepState(state: LayerState[]): LayerState[] {
  return state.map((s) => ({ h: tf.keep(s.h), c: s.c === undefined ? undefined : tf.keep(s.c) }));
}
