import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend, type BackendPreference } from '../../../../src/ml/backend.js';
import type { ModelConfig } from '../../../../src/ml/config.js';
import { disposeState, keepState, RnnLm } from '../../../../src/ml/model/lm.js';
import { forwardOf } from '../../../../src/ml/model/engine.js';
import { Stepper } from '../../../../src/ml/model/forward.js';
import { isRnnlmError } from '../../../../src/errors.js';
import { loadNativeKernels } from '../../../../src/ml/native.js';
import { assertClose, nativeSkip, smallConfig, tokens } from '../../../helpers/native-model.js';

const skip = nativeSkip;

after(async () => {
  await initBackend('wasm');
});

const config = smallConfig;

interface StepOutcome {
  loss: number;
  grads: Float32Array[];
  finals: Float32Array[];
}

/** Loss, gradients and final states of one training step, on the backend and kernels asked for. */
async function trainStep(
  backend: BackendPreference,
  native: 'on' | 'off',
  cfg: ModelConfig,
  steps: number,
  batch: number,
  backwardScale?: Float32Array,
  threads?: number,
): Promise<StepOutcome> {
  await initBackend(backend, native, threads);
  const model = RnnLm.create(cfg, 3);
  const x = tokens(1, steps * batch, cfg.vocabSize);
  const y = tokens(2, steps * batch, cfg.vocabSize);
  const state = model.zeroState(batch);
  // A non-zero starting state, as sequential partitioning carries one across batches.
  const start = state.map((s) => ({
    h: tf.fill<tf.Rank.R2>([batch, cfg.hiddenSize], 0.3),
    c: s.c && tf.fill<tf.Rank.R2>([batch, cfg.hiddenSize], -0.2),
  }));
  disposeState(state);
  const vars = model.trainableVariables();
  let finals: ReturnType<RnnLm['trainLoss']>['state'] = [];
  const { value, grads } = tf.variableGrads(() => {
    const r = model.trainLoss({ x, y, steps, batch, state: start, backwardScale });
    finals = r.state;
    return r.loss;
  }, vars);
  const outcome: StepOutcome = {
    loss: value.dataSync()[0] as number,
    grads: vars.map((v) => (grads[v.name] as tf.Tensor).dataSync().slice() as Float32Array),
    finals: finals.flatMap((s) => [
      s.h.dataSync().slice() as Float32Array,
      ...(s.c ? [s.c.dataSync().slice() as Float32Array] : []),
    ]),
  };
  tf.dispose([value, ...Object.values(grads)]);
  disposeState(start);
  disposeState(finals);
  model.dispose();
  return outcome;
}

const cases: {
  name: string;
  cfg: ModelConfig;
  steps: number;
  batch: number;
  scale?: number[];
  threads?: number;
}[] = [];
for (const cell of ['lstm', 'gru', 'rnn'] as const) {
  cases.push(
    { name: `${cell}, two layers`, cfg: config({ cell }), steps: 6, batch: 5 },
    { name: `${cell}, one step, one sequence`, cfg: config({ cell, layers: 1 }), steps: 1, batch: 1 },
    {
      name: `${cell}, randomized truncation scales`,
      cfg: config({ cell }),
      steps: 5,
      batch: 2,
      scale: [1, 0, 1.7, 0.5, 1],
    },
  );
}
// Sizes that are not multiples of the vector width (8 floats for AVX2, 16 for AVX-512), so the
// scalar tails of the gate loops run as well as the vector bodies.
for (const cell of ['lstm', 'gru', 'rnn'] as const) {
  for (const hiddenSize of [13, 37]) {
    cases.push({
      name: `${cell}, H = ${hiddenSize}, E = 11`,
      cfg: config({ cell, hiddenSize, embeddingSize: 11, vocabSize: 17 }),
      steps: 5,
      batch: 3,
    });
  }
}
// With two kernel threads and at least 8 rows a half, the step loops run over the two halves of
// the batch on two threads (an odd batch: halves of 9 and 10 rows).
for (const cell of ['lstm', 'gru', 'rnn'] as const) {
  cases.push({
    name: `${cell}, batch 19 split over two threads, H = 37, randomized truncation scales`,
    cfg: config({ cell, hiddenSize: 37, embeddingSize: 11, vocabSize: 17 }),
    steps: 4,
    batch: 19,
    scale: [1, 0.5, 0, 1.3],
    threads: 2,
  });
}
cases.push({
  name: 'lstm, tied weights',
  cfg: config({ embeddingSize: 24, tieWeights: true }),
  steps: 4,
  batch: 3,
});

for (const c of cases) {
  test(
    `the native kernels give the tfjs path's loss, gradients and final states (${c.name})`,
    { skip },
    async () => {
      const scale = c.scale === undefined ? undefined : Float32Array.from(c.scale);
      const reference = await trainStep('cpu', 'off', c.cfg, c.steps, c.batch, scale);
      for (const backend of ['cpu', 'wasm'] as const) {
        const native = await trainStep(backend, 'on', c.cfg, c.steps, c.batch, scale, c.threads);
        assert.ok(
          Math.abs(native.loss - reference.loss) < 1e-5,
          `${backend} loss ${native.loss} vs ${reference.loss}`,
        );
        native.grads.forEach((g, i) =>
          assertClose(g, reference.grads[i] as Float32Array, `${backend} gradient ${i}`),
        );
        native.finals.forEach((f, i) =>
          assertClose(f, reference.finals[i] as Float32Array, `${backend} final state ${i}`),
        );
      }
    },
  );
}

for (const [cell, hiddenSize] of [
  ['lstm', 24],
  ['gru', 24],
  ['rnn', 24],
  ['lstm', 13],
  ['gru', 37],
  ['rnn', 37],
] as const) {
  test(
    `${cell} inference on the native kernels gives the tfjs logits and state (H = ${hiddenSize})`,
    { skip },
    async () => {
      const cfg = config({ cell, hiddenSize });
      const x = tokens(5, 7 * 3, cfg.vocabSize);
      const run = async (native: 'on' | 'off') => {
        await initBackend('wasm', native);
        const model = RnnLm.create(cfg, 9);
        const out = tf.tidy(() => {
          const r = model.logits(x, 7, model.zeroState(3));
          return [r.logits, ...r.state.flatMap((s) => [s.h, ...(s.c ? [s.c] : [])])].map(
            (t) => t.dataSync().slice() as Float32Array,
          );
        });
        model.dispose();
        return out;
      };
      const reference = await run('off');
      const native = await run('on');
      assert.equal(native.length, reference.length);
      native.forEach((a, i) => assertClose(a, reference[i] as Float32Array, `output ${i}`));
    },
  );
}

test('native training steps leave no tensors behind', { skip }, async () => {
  await initBackend('wasm', 'on');
  const cfg = config();
  const model = RnnLm.create(cfg, 1);
  const x = tokens(1, 24, cfg.vocabSize);
  const y = tokens(2, 24, cfg.vocabSize);
  const step = () => {
    const { value, grads } = tf.variableGrads(() => {
      const r = model.trainLoss({ x, y, steps: 6, batch: 4 });
      disposeState(r.state);
      return r.loss;
    }, model.trainableVariables());
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const baseline = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step();
  assert.equal(tf.memory().numTensors, baseline);
  model.dispose();
});

/**
 * Gradients of the summed losses of `xs` (each [steps * batch] against `y`), all forward passes
 * taken before any backward pass, in host memory.
 */
function gradientsOf(
  model: RnnLm,
  xs: Int32Array[],
  y: Int32Array,
  steps: number,
  batch: number,
): Float32Array[] {
  const vars = model.trainableVariables();
  const { value, grads } = tf.variableGrads(() => {
    const losses = xs.map((x) => {
      const r = model.trainLoss({ x, y, steps, batch });
      disposeState(r.state);
      return r.loss;
    });
    return tf.addN<tf.Scalar>(losses);
  }, vars);
  const out = vars.map((v) => (grads[v.name] as tf.Tensor).dataSync().slice() as Float32Array);
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

test(
  'two forward passes before their backward passes each keep their own buffers (reused buffers never mix steps)',
  { skip },
  async () => {
    await initBackend('wasm', 'on');
    const cfg = config();
    const model = RnnLm.create(cfg, 2);
    const xs = [tokens(1, 24, cfg.vocabSize), tokens(3, 24, cfg.vocabSize)];
    const y = tokens(2, 24, cfg.vocabSize);
    const separate = xs.map((x) => gradientsOf(model, [x], y, 6, 4));
    const together = gradientsOf(model, xs, y, 6, 4);
    together.forEach((g, i) => {
      const sum = (separate[0]?.[i] as Float32Array).map((v, j) => v + (separate[1]?.[i]?.[j] as number));
      assertClose(g, sum, `gradient ${i}`);
    });
    model.dispose();
  },
);

test(
  'a shorter segment after a longer one (variable truncation) gets the gradients of a fresh model',
  { skip },
  async () => {
    await initBackend('wasm', 'on');
    const cfg = config();
    const segment = (model: RnnLm, steps: number) =>
      gradientsOf(
        model,
        [tokens(1, steps * 4, cfg.vocabSize)],
        tokens(2, steps * 4, cfg.vocabSize),
        steps,
        4,
      );
    const reused = RnnLm.create(cfg, 5);
    segment(reused, 7);
    const after = segment(reused, 3);
    const fresh = RnnLm.create(cfg, 5);
    const expected = segment(fresh, 3);
    after.forEach((g, i) => assert.deepEqual(g, expected[i], `gradient ${i}`));
    reused.dispose();
    fresh.dispose();
  },
);

/** An LSTM forward call of T steps, B = 1, I = 3, H = 4 with every array sized right. */
function lstmForwardArgs(steps: number, fill = 0.1) {
  const f = (n: number) => new Float32Array(n).fill(fill);
  return {
    cell: 'lstm' as const,
    steps,
    batch: 1,
    input: 3,
    hidden: 4,
    x: f(steps * 3),
    weightsLayer: f(48),
    weightsIter: f(64),
    bias: f(16),
    h0: f(4),
    c0: f(4),
    out: new Float32Array(steps * 4),
    hLast: new Float32Array(4),
    cLast: new Float32Array(4),
  };
}

test('the native kernels refuse arrays of the wrong length instead of reading past them', { skip }, () => {
  const k = loadNativeKernels();
  assert.ok(k !== null);
  assert.throws(
    () => k.rnnForward({ ...lstmForwardArgs(2), weightsIter: new Float32Array(63) }),
    (err: unknown) =>
      isRnnlmError(err, 'RNNLM_NATIVE_FAILED') &&
      /weightsIter has 63 elements, expected 64/.test(err.message),
  );
  assert.throws(() => k.rnnForward({ ...lstmForwardArgs(1), steps: 0 }), /steps must be a positive integer/);
  assert.throws(() => k.rnnForward({ ...lstmForwardArgs(1), cell: 'peephole' as never }), /cell must be/);
  const { cLast: _cLast, ...withoutCellState } = lstmForwardArgs(1);
  assert.throws(() => k.rnnForward(withoutCellState as never), /cLast must be a Float32Array/);
  const workspace = new Float32Array(k.rnnWorkspaceSize(lstmForwardArgs(2)) - 1);
  assert.throws(() => k.rnnForward({ ...lstmForwardArgs(2), workspace }), /workspace has \d+ elements/);
});

test(
  'the native kernels refuse dimensions whose array sizes overflow before sizing anything',
  { skip },
  () => {
    const k = loadNativeKernels();
    assert.ok(k !== null);
    const big = 2 ** 31 - 1;
    assert.throws(
      () => k.rnnForward({ ...lstmForwardArgs(1), steps: big, batch: big }),
      /too large to address/,
    );
    assert.throws(() => k.rnnForward({ ...lstmForwardArgs(1), hidden: big }), /too large to address/);
    assert.throws(() => k.rnnWorkspaceSize({ ...lstmForwardArgs(1), hidden: big }), /too large to address/);
  },
);

test('a NaN entering the native kernels comes out as NaN, so divergence is still detected', { skip }, () => {
  const k = loadNativeKernels();
  assert.ok(k !== null);
  const args = lstmForwardArgs(1);
  args.x[1] = Number.NaN;
  k.rnnForward(args);
  assert.ok(args.out.every((v) => Number.isNaN(v)));
  const f = (n: number) => new Float32Array(n).fill(0.1);
  const rnnOut = new Float32Array(4);
  k.rnnForward({
    cell: 'rnn',
    steps: 1,
    batch: 1,
    input: 3,
    hidden: 4,
    x: args.x,
    weightsLayer: f(12),
    weightsIter: f(16),
    bias: f(4),
    h0: f(4),
    c0: new Float32Array(0),
    out: rnnOut,
    hLast: new Float32Array(4),
    cLast: new Float32Array(0),
  });
  assert.ok(rnnOut.every((v) => Number.isNaN(v)));
});

for (const [cell, tieWeights] of [
  ['lstm', false],
  ['gru', false],
  ['rnn', false],
  ['lstm', true],
] as const) {
  test(
    `the host stepper gives the tfjs logits step after step (${cell}${tieWeights ? ', tied' : ''})`,
    { skip },
    async () => {
      const cfg = config({ cell, tieWeights, embeddingSize: tieWeights ? 24 : 10 });
      const feeds = [Int32Array.of(1, 5, 2, 7), Int32Array.of(3), Int32Array.of(11), Int32Array.of(0)];
      await initBackend('wasm', 'off');
      const model = RnnLm.create(cfg, 4);
      let state = model.zeroState(1);
      const reference = feeds.map((ids) => {
        let logits: Float32Array = new Float32Array(0);
        let next = state;
        tf.tidy(() => {
          const out = model.logits(ids, ids.length, state);
          logits = tf
            .slice(out.logits, [ids.length - 1, 0], [1, cfg.vocabSize])
            .dataSync()
            .slice() as Float32Array;
          next = keepState(out.state);
        });
        disposeState(state);
        state = next;
        return logits;
      });
      disposeState(state);
      await initBackend('wasm', 'on');
      const native = RnnLm.fromWeights(cfg, model.getWeights());
      assert.ok(native.kernels !== undefined);
      const stepper = new Stepper(forwardOf(native), native.config);
      feeds.forEach((ids, i) => assertClose(stepper.advance(ids), reference[i] as Float32Array, `step ${i}`));
      model.dispose();
      native.dispose();
    },
  );
}
