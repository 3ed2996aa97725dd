import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { clipGradients, globalNorm } from '../../../../src/ml/train/clip.js';
import { createOptimizer } from '../../../../src/ml/train/optimizers.js';
import { testBackend } from '../../../helpers/ml.js';

before(async () => {
  await testBackend();
});

test('clipping by global norm bounds the norm and keeps the direction', () => {
  const grads = [tf.tensor1d([3, 4]), tf.tensor2d([[12, 0]])];
  const { grads: clipped, norm } = clipGradients(grads, 5);
  assert.ok(Math.abs(norm - 13) < 1e-5);
  const after = globalNorm(clipped);
  assert.ok(Math.abs((after.dataSync()[0] as number) - 5) < 1e-3);
  const ratio = (clipped[0]?.dataSync()[0] as number) / 3;
  assert.ok(Math.abs(ratio - 5 / 13) < 1e-4);
  tf.dispose([...grads, ...clipped, after]);
});

test('gradients under the clip norm pass unchanged; clip by value applies per element first', () => {
  const grads = [tf.tensor1d([0.3, -0.4])];
  const small = clipGradients(grads, 5);
  assert.deepEqual(Array.from(small.grads[0]?.dataSync() ?? []), Array.from(grads[0]?.dataSync() ?? []));
  const byValue = clipGradients([tf.tensor1d([10, -10, 0.5])], 0, 1);
  assert.deepEqual(Array.from(byValue.grads[0]?.dataSync() ?? []), [1, -1, 0.5]);
  tf.dispose([...grads, ...small.grads, ...byValue.grads]);
});

test('adam, sgd and rmsprop follow their update rules, and their state round-trips', () => {
  const g = 0.5;
  const expected = {
    // Adam step 1: m̂ = g, v̂ = g², update = lr·g/(|g|+eps)
    adam: 1 - 0.1 * (g / (Math.abs(g) + 1e-8)),
    sgd: 1 - 0.1 * g,
    // RMSprop: v = (1-ρ)g², update = lr·g/(√v+eps)
    rmsprop: 1 - (0.1 * g) / (Math.sqrt(0.01 * g * g) + 1e-8),
  };
  for (const name of ['adam', 'sgd', 'rmsprop'] as const) {
    const v = tf.variable(tf.tensor1d([1]));
    const grad = tf.tensor1d([g]);
    const opt = createOptimizer(name);
    opt.apply([v], [grad], 0.1);
    assert.ok(Math.abs((v.dataSync()[0] as number) - expected[name]) < 1e-5, name);
    const state = opt.getState();
    const copy = createOptimizer(name);
    copy.setState(state);
    const w = tf.variable(v.clone());
    opt.apply([v], [grad], 0.1);
    copy.apply([w], [grad], 0.1);
    assert.equal(v.dataSync()[0], w.dataSync()[0], `${name} resumes exactly`);
    tf.dispose([v, w, grad]);
    opt.dispose();
    copy.dispose();
  }
});
