/**
 * The native engine's training step, whole in host memory: embedding gather, dropout masks,
 * the layers on oneDNN (onednn-segment.ts), the output projection on sgemm fused with the
 * log-softmax cross-entropy and its gradient, the scatter-add of the embedding gradient,
 * clipping and the optimizer over the host copies of the weights. The weights go back into
 * the tfjs variables once per step (so evaluation, checkpoints and export read them as ever)
 * and those arrays become the variables' host copies, so nothing is read back out of the backend.
 */
import * as tf from '@tensorflow/tfjs';

import type { NativeKernels } from '../native.js';
import type { LayerState } from '../model/layer.js';
import type { RnnLm, TrainStepInput } from '../model/lm.js';
import { EMPTY, type HostLayer } from '../model/onednn.js';
import { trainSegment, type SegmentRun } from '../model/onednn-segment.js';
import type { Rng } from '../rng.js';
import { Scratch } from '../scratch.js';

/**
 * The loss, each weight's gradient (in `trainableVariables` order; the model's own buffers,
 * valid until its next step) and the final state (owned by the caller).
 */
export interface HostGradients {
  loss: number;
  grads: Float32Array[];
  state: LayerState[];
}

/** x after dropout, with its mask (none when dropout is off). */
interface Dropped {
  value: Float32Array;
  mask: Float32Array | undefined;
}

/**
 * A model's step-local arrays (gradients, the embedded batch, dropout's masks and outputs,
 * logits, the projection's gradient), kept from step to step: made fresh, they were ~7 MB a
 * step at the bench's size without dropout, and V8 ran a full collection every other step.
 */
const scratches = new WeakMap<RnnLm, Scratch>();

function scratchOf(model: RnnLm): Scratch {
  let scratch = scratches.get(model);
  if (scratch === undefined) scratches.set(model, (scratch = new Scratch()));
  return scratch;
}

/** The gradient through a dropout: `d` times its mask, in place (nothing reads `d` after). */
function throughMask(k: NativeKernels, d: Float32Array, mask: Float32Array | undefined): Float32Array {
  if (mask !== undefined) k.multiply(d, mask, d);
  return d;
}

/** Loss and gradients of one minibatch on the native engine (`model.kernels`); see the module comment. */
export function hostGradients(
  model: RnnLm,
  k: NativeKernels,
  input: TrainStepInput,
  weights: Float32Array[],
): HostGradients {
  const { x, y, steps, batch, backwardScale } = input;
  const { layers, hiddenSize: h, embeddingSize: e, vocabSize: v, cell, dropout, tieWeights } = model.config;
  const names = model.variableNames();
  const index = new Map(names.map((name, i) => [name, i]));
  const at = (name: string) => index.get(name) as number;
  /** Layer l's arrays out of `arrays` (the weights or their gradients), by name. */
  const layerOf = (arrays: Float32Array[], l: number): HostLayer => ({
    kernel: arrays[at(`layers.${l}.kernel`)] as Float32Array,
    recurrent: arrays[at(`layers.${l}.recurrent`)] as Float32Array,
    bias: arrays[at(`layers.${l}.bias`)] as Float32Array,
    recurrentBias: cell === 'gru' ? (arrays[at(`layers.${l}.recurrentBias`)] as Float32Array) : EMPTY,
  });
  const scratch = scratchOf(model);
  const grads: Float32Array[] = weights.map((w, i) => scratch.get(`grad.${i}`, w.length).fill(0));
  const n = steps * batch;
  const rng: Rng | undefined = dropout > 0 ? input.rng : undefined;
  /** Dropout `at` the embedding (0) or after layer at - 1, into that place's own buffers. */
  const drop = (x: Float32Array, at: number): Dropped => {
    if (rng === undefined) return { value: x, mask: undefined };
    const value = scratch.get(`dropped.${at}`, x.length);
    const mask = scratch.get(`mask.${at}`, x.length);
    k.dropout(x, mask, value, dropout, rng.seed());
    return { value, mask };
  };

  const embedding = weights[at('embedding')] as Float32Array;
  const embedded = scratch.get('embedded', n * e);
  k.gatherRows(embedded, x, embedding, e);
  const dropped = drop(embedded, 0);
  const masks: (Float32Array | undefined)[] = [dropped.mask];
  let current = dropped.value;
  const runs: SegmentRun[] = [];
  const state: LayerState[] = [];
  const vars = model.trainableVariables();
  for (let l = 0; l < layers; l++) {
    const start = input.state?.[l];
    const h0 = start === undefined ? new Float32Array(batch * h) : (start.h.dataSync() as Float32Array);
    const c0 =
      start?.c === undefined
        ? cell === 'lstm'
          ? new Float32Array(batch * h)
          : EMPTY
        : (start.c.dataSync() as Float32Array);
    const dims = { steps, batch, input: l === 0 ? e : h, hidden: h };
    const run = trainSegment(
      k,
      cell,
      current,
      h0,
      c0,
      layerOf(weights, l),
      dims,
      backwardScale,
      vars[at(`layers.${l}.recurrent`)] as object,
    );
    runs.push(run);
    state.push({
      h: tf.tensor2d(run.hLast, [batch, h]),
      c: cell === 'lstm' ? tf.tensor2d(run.cLast, [batch, h]) : undefined,
    });
    const out = drop(run.out, l + 1);
    masks.push(out.mask);
    current = out.value;
  }

  // logits [N, V] = current [N, H] · kernel [H, V] (tied: embedding [V, H] transposed) + bias.
  const kernel = tieWeights ? embedding : (weights[at('output.kernel')] as Float32Array);
  const bias = weights[at('output.bias')] as Float32Array;
  const logits = scratch.get('logits', n * v);
  k.sgemm(false, tieWeights, n, v, h, current, kernel, logits);
  const loss = k.softmaxXent(logits, bias, y, grads[at('output.bias')] as Float32Array);
  const dLogits = logits;

  const dEmbedding = grads[at('embedding')] as Float32Array;
  if (tieWeights) {
    // Still zeros here (the lookup's rows are scattered in last): sgemm writes it directly.
    k.sgemm(true, false, v, h, n, dLogits, current, dEmbedding);
  } else {
    k.sgemm(true, false, h, v, n, current, dLogits, grads[at('output.kernel')] as Float32Array);
  }
  let dCurrent: Float32Array = scratch.get('dCurrent', n * h);
  k.sgemm(false, !tieWeights, n, h, v, dLogits, kernel, dCurrent);

  for (let l = layers - 1; l >= 0; l--) {
    const run = runs[l] as SegmentRun;
    const dOut = throughMask(k, dCurrent, masks[l + 1]);
    const { dX } = run.backward(
      dOut,
      new Float32Array(batch * h),
      cell === 'lstm' ? new Float32Array(batch * h) : EMPTY,
      layerOf(grads, l),
    );
    dCurrent = dX;
  }
  k.scatterAddRows(throughMask(k, dCurrent, masks[0]), x, dEmbedding, e);
  return { loss, grads, state };
}

/**
 * Element-wise clip to [-clipValue, clipValue] (when set, in place), then the factor that
 * rescales the global norm to at most clipNorm (when > 0), as clip.ts does on tensors; the
 * optimizer applies the factor as it reads the gradients. Returns the norm before the rescale.
 */
export function clipHost(
  k: NativeKernels,
  grads: Float32Array[],
  clipNorm: number,
  clipValue?: number,
): { norm: number; scale: number } {
  let sumSq = 0;
  for (const g of grads) {
    if (clipValue !== undefined) {
      for (let i = 0; i < g.length; i++) g[i] = Math.min(clipValue, Math.max(-clipValue, g[i] as number));
    }
    sumSq += k.sumSquares(g);
  }
  const norm = Math.sqrt(sumSq);
  return { norm, scale: clipNorm > 0 && norm > clipNorm ? clipNorm / (norm + 1e-6) : 1 };
}
