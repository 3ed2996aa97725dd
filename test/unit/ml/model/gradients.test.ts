import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../../../src/ml/backend.js';
import type { ModelConfig } from '../../../../src/ml/config.js';
import type { CellType } from '../../../../src/ml/model/layout.js';
import { RnnLm } from '../../../../src/ml/model/lm.js';
import { Rng } from '../../../../src/ml/rng.js';

// The cpu backend has every kernel tfjs' own autodiff needs, so it can serve as the reference;
// the native kernels are off so that the reference is tfjs ops alone (native.test.ts compares them).
before(async () => {
  await initBackend('cpu', 'off');
});

const steps = 4;
const batch = 3;

function tiny(cell: CellType, tieWeights = false): ModelConfig {
  return {
    cell,
    layers: 2,
    hiddenSize: 5,
    embeddingSize: tieWeights ? 5 : 3,
    dropout: 0,
    tieWeights,
    vocabSize: 7,
  };
}

function batchData(seed: number): { x: Int32Array; y: Int32Array } {
  const rng = new Rng(seed);
  const x = Int32Array.from({ length: steps * batch }, () => rng.int(7));
  const y = Int32Array.from({ length: steps * batch }, () => rng.int(7));
  return { x, y };
}

function customGrads(model: RnnLm, x: Int32Array, y: Int32Array, backwardScale?: Float32Array) {
  const vars = model.trainableVariables();
  const state = model.zeroState(batch);
  let finals: ReturnType<RnnLm['trainLoss']>['state'] = [];
  const { value, grads } = tf.variableGrads(() => {
    const r = model.trainLoss({ x, y, steps, batch, state, backwardScale });
    finals = r.state;
    return r.loss;
  }, vars);
  const out = vars.map((v) => (grads[v.name] as tf.Tensor).dataSync() as Float32Array);
  const loss = value.dataSync()[0] as number;
  tf.dispose([value, ...Object.values(grads)]);
  for (const s of [...state, ...finals]) tf.dispose([s.h, ...(s.c ? [s.c] : [])]);
  return { loss, grads: out };
}

/** The same loss through the inference path with tfjs' own autodiff. */
function referenceLoss(model: RnnLm, x: Int32Array, y: Int32Array): tf.Scalar {
  const state = model.zeroState(batch);
  const { logits } = model.logits(x, steps, state);
  const logp = tf.logSoftmax(logits);
  const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(y, 'int32'), 7)), 1);
  return tf.neg(tf.mean(picked)) as tf.Scalar;
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    worst = Math.max(worst, d / (1e-3 + Math.abs(b[i] as number)));
  }
  return worst;
}

for (const cell of ['lstm', 'gru', 'rnn'] as const) {
  test(`${cell}: hand-written BPTT gradients equal tfjs autodiff of the inference path`, () => {
    const model = RnnLm.create(tiny(cell), 11);
    const { x, y } = batchData(1);
    const ours = customGrads(model, x, y);
    const vars = model.trainableVariables();
    const { value, grads } = tf.variableGrads(() => referenceLoss(model, x, y), vars);
    assert.ok(Math.abs((value.dataSync()[0] as number) - ours.loss) < 1e-5);
    vars.forEach((v, i) => {
      const ref = (grads[v.name] as tf.Tensor).dataSync() as Float32Array;
      assert.ok(maxRelErr(ours.grads[i] as Float32Array, ref) < 1e-3, `${cell} ${model.variableNames()[i]}`);
    });
    tf.dispose([value, ...Object.values(grads)]);
    model.dispose();
  });

  test(`${cell}: gradients agree with central finite differences`, () => {
    const model = RnnLm.create(tiny(cell, cell === 'lstm'), 5);
    const { x, y } = batchData(2);
    const ours = customGrads(model, x, y);
    const vars = model.trainableVariables();
    const rng = new Rng(3);
    const eps = 1e-2;
    const lossAt = () => tf.tidy(() => referenceLoss(model, x, y).dataSync()[0] as number);
    vars.forEach((v, vi) => {
      const base = v.dataSync() as Float32Array;
      for (let k = 0; k < 4; k++) {
        const j = rng.int(base.length);
        const probe = (delta: number) => {
          const data = base.slice();
          data[j] = (data[j] as number) + delta;
          tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
          // The inference path caches the tied output kernel; it must see the probed weights.
          model.weightsChanged();
          return lossAt();
        };
        const numeric = (probe(eps) - probe(-eps)) / (2 * eps);
        tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
        model.weightsChanged();
        const analytic = (ours.grads[vi] as Float32Array)[j] as number;
        assert.ok(
          Math.abs(numeric - analytic) < 2e-3 + 2e-2 * Math.abs(numeric),
          `${cell} ${model.variableNames()[vi]}[${j}]: numeric ${numeric} analytic ${analytic}`,
        );
      }
    });
    model.dispose();
  });
}

test('a zero backward scale cuts the gradient through time; a scale of 1 changes nothing', () => {
  const model = RnnLm.create(tiny('lstm'), 2);
  const { x, y } = batchData(4);
  const plain = customGrads(model, x, y);
  const ones = customGrads(model, x, y, new Float32Array(steps).fill(1));
  plain.grads.forEach((g, i) => assert.deepEqual(ones.grads[i], g));
  const cut = customGrads(model, x, y, new Float32Array(steps).fill(0));
  const recurrentIndex = model.variableNames().indexOf('layers.0.recurrent');
  // With every step cut, h_{t-1} gets no gradient from the future; the recurrent kernel
  // only sees zero initial states at t=0 and differs from the full gradient.
  assert.notDeepEqual(cut.grads[recurrentIndex], plain.grads[recurrentIndex]);
  assert.equal(cut.loss, plain.loss);
  model.dispose();
});
