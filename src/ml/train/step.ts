import * as tf from '@tensorflow/tfjs';

import { errors } from '../../errors.js';
import type { ModelConfig } from '../config.js';
import type { LayerState } from '../model/layer.js';
import type { NamedArray, RnnLm } from '../model/lm.js';
import type { Rng } from '../rng.js';
import type { NativeKernels } from '../native.js';
import { host } from '../model/onednn.js';
import { clipGradients } from './clip.js';
import { clipHost, hostGradients } from './host-step.js';
import type { Optimizer } from './optimizers.js';

interface StepInput {
  x: Int32Array;
  y: Int32Array;
  steps: number;
  batch: number;
  state: LayerState[];
  rng: Rng;
  backwardScale: Float32Array | undefined;
  learningRate: number;
  clipNorm: number;
  clipValue: number | undefined;
}

interface StepResult {
  loss: number;
  gradNorm: number;
  state: LayerState[];
}

/**
 * One optimisation step on the model's engine; returns the loss, the gradient norm before
 * clipping and the new state (owned by the caller).
 */
export async function trainStep(model: RnnLm, optimizer: Optimizer, input: StepInput): Promise<StepResult> {
  return model.kernels === undefined
    ? tfjsTrainStep(model, optimizer, input)
    : hostTrainStep(model, model.kernels, optimizer, input);
}

/** The native engine's step: host-step.ts. */
function hostTrainStep(model: RnnLm, k: NativeKernels, optimizer: Optimizer, input: StepInput): StepResult {
  const vars = model.trainableVariables();
  const weights = vars.map((v) => host(v));
  const { loss, grads, state } = hostGradients(model, k, input, weights);
  const { norm, scale } = clipHost(k, grads, input.clipNorm, input.clipValue);
  if (Number.isFinite(loss) && Number.isFinite(norm)) {
    const next = optimizer.applyHost(
      k,
      vars.map((v, i) => ({ data: weights[i] as Float32Array, shape: v.shape })),
      grads,
      input.learningRate,
      scale,
    );
    model.assignHost(next);
  }
  return { loss, gradNorm: norm, state };
}

/** The tfjs engine's step: tfjs' autodiff over trainLoss, then tensor ops for the update. */
async function tfjsTrainStep(model: RnnLm, optimizer: Optimizer, input: StepInput): Promise<StepResult> {
  const vars = model.trainableVariables();
  let state: LayerState[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const r = model.trainLoss(input);
    state = r.state;
    return r.loss;
  }, vars);
  const raw = vars.map((v) => grads[v.name] as tf.Tensor);
  const loss = (await value.data())[0] as number;
  const clipped = clipGradients(raw, input.clipNorm, input.clipValue);
  if (Number.isFinite(loss) && Number.isFinite(clipped.norm)) {
    optimizer.apply(vars, clipped.grads, input.learningRate);
    model.weightsChanged();
  }
  tf.dispose([value, ...raw, ...clipped.grads]);
  return { loss, gradNorm: clipped.norm, state };
}

/** The hidden state carried between minibatches, as a checkpoint stores it (`carry/…` names). */
export function stateToArrays(state: LayerState[] | undefined): NamedArray[] {
  if (state === undefined) return [];
  return state.flatMap((s, l) => [
    { name: `carry/${l}/h`, shape: [...s.h.shape], data: s.h.dataSync() as Float32Array },
    ...(s.c === undefined
      ? []
      : [{ name: `carry/${l}/c`, shape: [...s.c.shape], data: s.c.dataSync() as Float32Array }]),
  ]);
}

/** The carried hidden state back from a checkpoint's arrays; undefined when it holds none. */
export function stateFromArrays(arrays: NamedArray[], config: ModelConfig): LayerState[] | undefined {
  const byName = new Map(arrays.map((a) => [a.name, a]));
  if (!byName.has('carry/0/h')) return undefined;
  return Array.from({ length: config.layers }, (_, l) => {
    const h = byName.get(`carry/${l}/h`);
    const c = byName.get(`carry/${l}/c`);
    if (h === undefined) throw errors.checkpointLacksLayer(l);
    return {
      h: tf.tensor2d(h.data, h.shape as [number, number]),
      c: c === undefined ? undefined : tf.tensor2d(c.data, c.shape as [number, number]),
    };
  });
}
