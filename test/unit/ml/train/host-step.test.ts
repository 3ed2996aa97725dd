import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend, type BackendPreference } from '../../../../src/ml/backend.js';
import type { ModelConfig } from '../../../../src/ml/config.js';
import { disposeState, RnnLm } from '../../../../src/ml/model/lm.js';
import { host } from '../../../../src/ml/model/onednn.js';
import { Rng } from '../../../../src/ml/rng.js';
import { hostGradients } from '../../../../src/ml/train/host-step.js';
import { createOptimizer, type OptimizerName } from '../../../../src/ml/train/optimizers.js';
import { trainStep } from '../../../../src/ml/train/step.js';
import { assertClose, kernels, nativeSkip, smallConfig, tokens } from '../../../helpers/native-model.js';

const skip = nativeSkip;

after(async () => {
  await initBackend('wasm');
});

const config = smallConfig;

/** A non-zero starting state, as sequential partitioning carries one across batches. */
function startState(model: RnnLm, batch: number) {
  const zero = model.zeroState(batch);
  const start = zero.map((s) => ({
    h: tf.fill<tf.Rank.R2>([batch, model.config.hiddenSize], 0.3),
    c: s.c && tf.fill<tf.Rank.R2>([batch, model.config.hiddenSize], -0.2),
  }));
  disposeState(zero);
  return start;
}

interface Outcome {
  loss: number;
  grads: Float32Array[];
  finals: Float32Array[];
}

const finalsOf = (state: { h: tf.Tensor; c?: tf.Tensor | undefined }[]) =>
  state.flatMap((s) => [
    s.h.dataSync().slice() as Float32Array,
    ...(s.c ? [s.c.dataSync().slice() as Float32Array] : []),
  ]);

/** tfjs autodiff over trainLoss on the tfjs engine: the reference. */
async function reference(
  cfg: ModelConfig,
  steps: number,
  batch: number,
  scale?: Float32Array,
): Promise<Outcome> {
  await initBackend('cpu', 'off');
  const model = RnnLm.create(cfg, 3);
  const start = startState(model, batch);
  const x = tokens(1, steps * batch, cfg.vocabSize);
  const y = tokens(2, steps * batch, cfg.vocabSize);
  const vars = model.trainableVariables();
  let finals: ReturnType<RnnLm['trainLoss']>['state'] = [];
  const { value, grads } = tf.variableGrads(() => {
    const r = model.trainLoss({ x, y, steps, batch, state: start, backwardScale: scale });
    finals = r.state;
    return r.loss;
  }, vars);
  const out = {
    loss: value.dataSync()[0] as number,
    grads: vars.map((v) => (grads[v.name] as tf.Tensor).dataSync().slice() as Float32Array),
    finals: finalsOf(finals),
  };
  tf.dispose([value, ...Object.values(grads)]);
  disposeState(start);
  disposeState(finals);
  model.dispose();
  return out;
}

async function native(
  backend: BackendPreference,
  cfg: ModelConfig,
  steps: number,
  batch: number,
  scale?: Float32Array,
): Promise<Outcome> {
  await initBackend(backend, 'on');
  const model = RnnLm.create(cfg, 3);
  const start = startState(model, batch);
  const x = tokens(1, steps * batch, cfg.vocabSize);
  const y = tokens(2, steps * batch, cfg.vocabSize);
  const weights = model.trainableVariables().map((v) => host(v));
  const k = model.kernels;
  assert.ok(k !== undefined);
  const r = hostGradients(model, k, { x, y, steps, batch, state: start, backwardScale: scale }, weights);
  const out = { loss: r.loss, grads: r.grads, finals: finalsOf(r.state) };
  disposeState(start);
  disposeState(r.state);
  model.dispose();
  return out;
}

const cases: { name: string; cfg: ModelConfig; steps: number; batch: number; scale?: number[] }[] = [];
for (const cell of ['lstm', 'gru', 'rnn'] as const) {
  cases.push(
    { name: `${cell}, two layers`, cfg: config({ cell }), steps: 6, batch: 5 },
    {
      name: `${cell}, one layer, one step, one sequence`,
      cfg: config({ cell, layers: 1 }),
      steps: 1,
      batch: 1,
    },
    {
      name: `${cell}, randomized truncation scales`,
      cfg: config({ cell }),
      steps: 5,
      batch: 2,
      scale: [1, 0, 1.7, 0.5, 1],
    },
    {
      name: `${cell}, H = 37, E = 11, odd batch 19`,
      cfg: config({ cell, hiddenSize: 37, embeddingSize: 11, vocabSize: 17 }),
      steps: 4,
      batch: 19,
    },
    {
      name: `${cell}, tied weights, three layers`,
      cfg: config({ cell, layers: 3, embeddingSize: 24, tieWeights: true }),
      steps: 4,
      batch: 3,
    },
  );
}

for (const c of cases) {
  test(
    `the host training step gives tfjs autodiff's loss, gradients and final states (${c.name})`,
    { skip },
    async () => {
      const scale = c.scale === undefined ? undefined : Float32Array.from(c.scale);
      const want = await reference(c.cfg, c.steps, c.batch, scale);
      for (const backend of ['cpu', 'wasm'] as const) {
        const got = await native(backend, c.cfg, c.steps, c.batch, scale);
        assert.ok(Math.abs(got.loss - want.loss) < 1e-5, `${backend} loss ${got.loss} vs ${want.loss}`);
        got.grads.forEach((g, i) =>
          assertClose(g, want.grads[i] as Float32Array, `${backend} gradient ${i}`),
        );
        got.finals.forEach((f, i) =>
          assertClose(f, want.finals[i] as Float32Array, `${backend} final state ${i}`),
        );
      }
    },
  );
}

/** Losses and final weights of `n` steps of `optimizer` with clipping, on one engine. */
async function run(engine: 'on' | 'off', name: OptimizerName, n: number, clipValue?: number) {
  await initBackend('wasm', engine);
  const cfg = config({ cell: 'gru', tieWeights: true, embeddingSize: 24 });
  const model = RnnLm.create(cfg, 5);
  const optimizer = createOptimizer(name);
  const losses: number[] = [];
  const norms: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await trainStep(model, optimizer, {
      x: tokens(10 + i, 24, cfg.vocabSize),
      y: tokens(20 + i, 24, cfg.vocabSize),
      steps: 6,
      batch: 4,
      state: undefined as unknown as [],
      rng: new Rng(i),
      backwardScale: undefined,
      learningRate: 0.01,
      clipNorm: 0.5,
      clipValue,
    });
    disposeState(r.state);
    losses.push(r.loss);
    norms.push(r.gradNorm);
  }
  const weights = model.getWeights().map((w) => w.data);
  const state = optimizer.getState();
  optimizer.dispose();
  model.dispose();
  return { losses, norms, weights, state };
}

for (const name of ['adam', 'sgd', 'rmsprop'] as const) {
  test(`${name} with clipping takes the same steps on the host as on tfjs tensors`, { skip }, async () => {
    const tfjs = await run('off', name, 4, 0.05);
    const host = await run('on', name, 4, 0.05);
    host.losses.forEach((l, i) =>
      assert.ok(Math.abs(l - (tfjs.losses[i] as number)) < 1e-4, `loss ${i}: ${l} vs ${tfjs.losses[i]}`),
    );
    host.norms.forEach((g, i) =>
      assert.ok(Math.abs(g - (tfjs.norms[i] as number)) < 1e-4, `norm ${i}: ${g} vs ${tfjs.norms[i]}`),
    );
    // Relative L2, not per element: RMSprop's step is about lr · sign(g), so a gradient
    // element within rounding of 0 may take either sign on either engine.
    host.weights.forEach((w, i) => {
      const e = tfjs.weights[i] as Float32Array;
      let diff = 0;
      let norm = 0;
      w.forEach((a, j) => {
        diff += (a - (e[j] as number)) ** 2;
        norm += (e[j] as number) ** 2;
      });
      assert.ok(
        Math.sqrt(diff / norm) < 1e-3,
        `weight ${i}: relative L2 difference ${Math.sqrt(diff / norm)}`,
      );
    });
    const names = (s: typeof host.state) => s.map((a) => a.name).sort();
    assert.deepEqual(
      names(host.state),
      names(tfjs.state),
      'a checkpoint holds the same optimizer slots on both engines',
    );
  });
}

test(
  'an optimizer restored from a checkpoint continues on the host as it would on tfjs tensors',
  { skip },
  async () => {
    await initBackend('wasm', 'on');
    const k = kernels();
    const first = createOptimizer('adam');
    const w = () => [{ data: Float32Array.from([1, -2, 3]), shape: [3] }];
    const g = [Float32Array.from([0.5, 0.25, -1])];
    first.applyHost(k, w(), g, 0.1, 1);
    const saved = first.getState();
    const a = createOptimizer('adam');
    a.setState(saved);
    const b = createOptimizer('adam');
    b.setState(saved);
    const v = tf.variable(tf.tensor1d([1, -2, 3]));
    b.apply([v], [tf.tensor1d(g[0] as Float32Array)], 0.1);
    const onHost = a.applyHost(k, w(), g, 0.1, 1)[0] as Float32Array;
    assertClose(onHost, v.dataSync() as Float32Array, 'the second update', 1e-5);
    v.dispose();
    [first, a, b].forEach((o) => o.dispose());
  },
);

test(
  'native dropout keeps about 1 - rate of its entries, scaled by 1 / (1 - rate), the same for the same seed',
  { skip },
  () => {
    const k = kernels();
    const drop = (n: number, seed: number) => {
      const x = Float32Array.from({ length: n }, (_, i) => i + 1);
      const mask = new Float32Array(n);
      const out = new Float32Array(n);
      k.dropout(x, mask, out, 0.3, seed);
      out.forEach((o, i) => assert.equal(o, Math.fround((x[i] as number) * (mask[i] as number))));
      return mask;
    };
    const mask = drop(100_000, 42);
    const kept = mask.filter((m) => m !== 0);
    assert.ok(Math.abs(kept.length / mask.length - 0.7) < 0.01, `kept ${kept.length}`);
    assert.ok(kept.every((m) => Math.abs(m - 1 / 0.7) < 1e-6));
    assert.deepEqual(drop(1000, 42), mask.subarray(0, 1000));
    assert.notDeepEqual(drop(1000, 43), mask.subarray(0, 1000));
    assert.throws(() => k.dropout(mask, mask, mask, 1, 1), /rate in \[0, 1\)/);
  },
);

test('host training steps with dropout lower the loss and leave no tensors behind', { skip }, async () => {
  await initBackend('wasm', 'on');
  const cfg = config({ dropout: 0.2 });
  const model = RnnLm.create(cfg, 1);
  const optimizer = createOptimizer('adam');
  const x = tokens(1, 48, cfg.vocabSize);
  const y = Int32Array.from(x, (t) => (t + 1) % cfg.vocabSize);
  const rng = new Rng(7);
  const step = async () => {
    const r = await trainStep(model, optimizer, {
      x,
      y,
      steps: 8,
      batch: 6,
      state: undefined as unknown as [],
      rng,
      backwardScale: undefined,
      learningRate: 0.02,
      clipNorm: 5,
      clipValue: undefined,
    });
    disposeState(r.state);
    return r.loss;
  };
  const first = await step();
  const baseline = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 40; i++) last = await step();
  assert.equal(tf.memory().numTensors, baseline);
  assert.ok(last < first * 0.7, `loss ${first} -> ${last}`);
  optimizer.dispose();
  model.dispose();
});

test('the native update refuses moments of another length instead of writing past them', { skip }, () => {
  const k = kernels();
  const a = (n: number) => new Float32Array(n);
  const hyper = Float64Array.of(0.1, 0.9, 0.999, 1e-8, 1, 1);
  assert.throws(() => k.update(1, a(8), a(8), a(7), a(8), a(8), 1, hyper), /m has 7 elements, expected 8/);
  assert.throws(() => k.update(1, a(8), a(8), null, a(8), a(8), 1, hyper), /m must be a Float32Array/);
  assert.throws(() => k.update(0, a(8), a(9), null, null, a(8), 1, hyper), /g has 9 elements/);
});

test(
  'the native row operations refuse ids outside their table instead of reading or writing past it',
  { skip },
  () => {
    const k = kernels();
    const table = Float32Array.from({ length: 12 }, (_, i) => i);
    const out = new Float32Array(6);
    k.gatherRows(out, Int32Array.of(2, 0), table, 3);
    assert.deepEqual([...out], [6, 7, 8, 0, 1, 2]);
    assert.throws(() => k.gatherRows(out, Int32Array.of(4, 0), table, 3), /an id is outside the table/);
    assert.throws(() => k.scatterAddRows(out, Int32Array.of(0, -1), table, 3), /an id is outside the table/);
    assert.deepEqual([...table.subarray(0, 3)], [0, 1, 2], 'a refused scatter writes nothing');
    const logits = new Float32Array(4);
    assert.ok(
      Number.isNaN(k.softmaxXent(logits, new Float32Array(2), Int32Array.of(0, 2), new Float32Array(2))),
    );
  },
);
