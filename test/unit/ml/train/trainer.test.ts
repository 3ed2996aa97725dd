import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { isRnnlmError } from '../../../../src/errors.js';
import type { BackendInfo } from '../../../../src/ml/backend.js';
import { evaluate } from '../../../../src/ml/eval/evaluate.js';
import { prepareData, trainFromText } from '../../../../src/ml/training.js';
import { runConfigSchema } from '../../../../src/ml/config.js';
import { timeToEnd } from '../../../../src/ml/train/progress.js';
import type { Progress, StepRecord, TrainerCheckpoint } from '../../../../src/ml/train/trainer.js';
import { SHAKESPEARE, KERNEL_MODES, kernelSkip, testBackend, tinyConfig } from '../../../helpers/ml.js';

for (const native of KERNEL_MODES) {
  describe(`native kernels ${native}`, { skip: kernelSkip(native) }, () => {
    let backend: BackendInfo;
    before(async () => {
      backend = await testBackend(native);
    });

    const corpus = SHAKESPEARE.slice(0, 6000);

    async function losses(config: ReturnType<typeof tinyConfig>, resume?: TrainerCheckpoint) {
      const steps: StepRecord[] = [];
      let checkpoint: TrainerCheckpoint | undefined;
      const { result } = await trainFromText({
        corpus,
        config,
        backend,
        resume,
        onStep: (s) => steps.push(s),
        onCheckpoint: (c) => {
          checkpoint = structuredClone(c);
          return Promise.resolve();
        },
      });
      result.model.dispose();
      return { losses: steps.map((s) => s.loss), checkpoint, result };
    }

    test('the same seed gives the same loss trajectory; another seed a different one', async () => {
      const a = await losses(tinyConfig({ maxSteps: 6 }, { dropout: 0.2 }));
      const b = await losses(tinyConfig({ maxSteps: 6 }, { dropout: 0.2 }));
      const c = await losses(tinyConfig({ maxSteps: 6, seed: 8 }, { dropout: 0.2 }));
      assert.deepEqual(a.losses, b.losses);
      assert.notDeepEqual(a.losses, c.losses);
    });

    for (const partition of ['sequential', 'random'] as const) {
      test(`${partition}: N steps, checkpoint, resume, N steps equals 2N uninterrupted steps`, async () => {
        const whole = await losses(
          tinyConfig({ maxSteps: 10, partition, truncation: { mode: 'variable' } }, { dropout: 0.1 }),
        );
        const first = await losses(
          tinyConfig(
            { maxSteps: 5, checkpointEvery: 5, partition, truncation: { mode: 'variable' } },
            { dropout: 0.1 },
          ),
        );
        assert.ok(first.checkpoint !== undefined);
        assert.equal(first.checkpoint.state.step, 5);
        const second = await losses(tinyConfig({ maxSteps: 10 }), first.checkpoint);
        const joined = [...first.losses, ...second.losses];
        assert.equal(joined.length, whole.losses.length);
        joined.forEach((l, i) =>
          assert.ok(
            Math.abs(l - (whole.losses[i] as number)) < 1e-5,
            `step ${i + 1}: ${l} vs ${whole.losses[i]}`,
          ),
        );
      });
    }

    test('a resume across an epoch boundary continues the same run', async () => {
      const data = prepareData({ corpus }, runConfigSchema.parse(tinyConfig()));
      const perEpoch = Math.floor((data.train.length - 1) / 4 / 8);
      const total = perEpoch + 4;
      const whole = await losses(tinyConfig({ maxSteps: total, epochs: 3 }));
      const first = await losses(
        tinyConfig({ maxSteps: perEpoch - 2, epochs: 3, checkpointEvery: perEpoch - 2 }),
      );
      const second = await losses(tinyConfig({ maxSteps: total }), first.checkpoint);
      const joined = [...first.losses, ...second.losses];
      joined.forEach((l, i) => assert.ok(Math.abs(l - (whole.losses[i] as number)) < 1e-5, `step ${i + 1}`));
    });

    test('an explicit maxSteps runs every step asked for, across epochs: no epoch count cuts it', async () => {
      const data = prepareData({ corpus }, runConfigSchema.parse(tinyConfig()));
      const perEpoch = Math.floor((data.train.length - 1) / 4 / 8);
      const asked = 2 * perEpoch + 3;
      const run = await losses(tinyConfig({ maxSteps: asked }));
      assert.equal(run.result.steps, asked);
      assert.equal(run.result.stopReason, 'maxSteps');
      // Untruncated BPTT makes each epoch one step: 5 steps are 5 epochs.
      const untruncated = await losses(tinyConfig({ maxSteps: 5, truncation: { mode: 'none' } }));
      assert.equal(untruncated.result.steps, 5);
    });

    test('repeated training steps do not grow the number of live tensors', async () => {
      await losses(tinyConfig({ maxSteps: 2 }));
      const before = tf.memory().numTensors;
      await losses(tinyConfig({ maxSteps: 12, evalEvery: 4 }));
      assert.equal(tf.memory().numTensors, before);
    });

    test('a huge learning rate stops training with a non-finite loss error', async () => {
      await assert.rejects(
        losses(tinyConfig({ maxSteps: 50, learningRate: 1e6, optimizer: 'sgd', clipNorm: 0 })),
        (err: unknown) =>
          isRnnlmError(err, 'RNNLM_NONFINITE_LOSS') && /diverged at step \d+/.test(err.message),
      );
    });

    test('an aborted signal stops training, after writing a checkpoint', async () => {
      const controller = new AbortController();
      let checkpoints = 0;
      await assert.rejects(
        trainFromText({
          corpus,
          config: tinyConfig({ maxSteps: 100 }),
          backend,
          signal: controller.signal,
          onStep: (s) => {
            if (s.step === 3) controller.abort(new Error('test'));
          },
          onCheckpoint: () => {
            checkpoints++;
            return Promise.resolve();
          },
        }),
        (err: unknown) => isRnnlmError(err, 'RNNLM_ABORTED'),
      );
      assert.equal(checkpoints, 1);
    });

    test('the returned model carries the best validation weights and their metrics', async () => {
      const data = prepareData({ corpus }, runConfigSchema.parse(tinyConfig()));
      const { result } = await trainFromText({
        corpus,
        config: tinyConfig({ maxSteps: 40, evalEvery: 5, learningRate: 0.05, earlyStoppingPatience: 3 }),
        backend,
      });
      const best = Math.min(...result.history.map((h) => h.loss));
      assert.equal(result.validation?.loss, best);
      const again = await evaluate(
        result.model,
        data.validation?.tokens as Int32Array,
        data.validation?.characters as number,
        {
          batchSize: 32,
          seqLength: 8,
          scoredFrom: data.validation?.scoredFrom,
        },
      );
      assert.ok(Math.abs(again.loss - best) < 1e-6);
      assert.ok(Math.abs(again.perplexity - Math.exp(again.loss)) < 1e-9);
      result.model.dispose();
    });

    test('early stopping ends training after the patience runs out', async () => {
      const { result } = await trainFromText({
        corpus,
        config: tinyConfig({
          epochs: 50,
          evalEvery: 1,
          learningRate: 0.5,
          optimizer: 'sgd',
          earlyStoppingPatience: 2,
        }),
        backend,
      });
      assert.equal(result.stopReason, 'earlyStopping');
      // It stops at the second evaluation in a row that did not improve on the best: the best is
      // exactly two evaluations before the end, and training ended long before its 50 epochs.
      const losses = result.history.map((h) => h.loss);
      const best = Math.min(...losses);
      assert.ok(losses.length >= 3, `${losses.length} evaluations`);
      assert.equal(losses.indexOf(best), losses.length - 3, `losses ${losses.join(', ')}`);
      const lastEpoch = result.history.at(-1)?.epoch ?? Infinity;
      assert.ok(lastEpoch < 49, `stopped in epoch ${lastEpoch}`);
      result.model.dispose();
    });

    test('all three cells train: the loss falls', async () => {
      for (const cell of ['lstm', 'gru', 'rnn'] as const) {
        const run = await losses(tinyConfig({ maxSteps: 30, learningRate: 0.02 }, { cell }));
        const head = run.losses.slice(0, 3).reduce((a, b) => a + b) / 3;
        const tail = run.losses.slice(-3).reduce((a, b) => a + b) / 3;
        assert.ok(tail < head - 0.3, `${cell}: ${head} -> ${tail}`);
      }
    });

    test('truncation none is refused when the stream is longer than the cap', async () => {
      await assert.rejects(
        trainFromText({
          corpus,
          config: tinyConfig({ truncation: { mode: 'none', maxLength: 50 } }),
          backend,
        }),
        (err: unknown) => isRnnlmError(err, 'RNNLM_SEQUENCE_TOO_LONG'),
      );
    });

    test('a corpus too small for one batch is refused with the sizes', async () => {
      await assert.rejects(
        trainFromText({
          corpus: 'tiny text',
          config: tinyConfig({ batchSize: 32, seqLength: 64 }),
          backend,
          validationFraction: 0,
        }),
        (err: unknown) => isRnnlmError(err, 'RNNLM_CORPUS_TOO_SMALL') && /needs? at least/.test(err.message),
      );
      await assert.rejects(
        trainFromText({ corpus: '   \n ', config: tinyConfig(), backend }),
        (err: unknown) => isRnnlmError(err, 'RNNLM_CORPUS_EMPTY'),
      );
    });

    test('a run of many epochs under a time budget stops on time and never promises more than the budget', async () => {
      const seen: Progress[] = [];
      const maxMinutes = 0.02;
      const { result } = await trainFromText({
        corpus,
        config: tinyConfig({ maxMinutes }),
        backend,
        onProgress: (p) => seen.push(p),
      });
      result.model.dispose();
      assert.equal(result.stopReason, 'maxMinutes');
      assert.ok(seen.length > 0);
      for (const p of seen) {
        assert.ok(
          p.eta <= maxMinutes * 60,
          `ETA ${p.eta}s at step ${p.step} exceeds the ${maxMinutes * 60}s budget`,
        );
        assert.ok(p.fraction >= 0 && p.fraction <= 1);
      }
    });
  });
}

test('the ETA is the sooner of the step-based and the time-based end', () => {
  const timeBound = timeToEnd({
    step: 10,
    totalSteps: 1_000_000,
    msPerStep: 100,
    elapsedMs: 60_000,
    maxMinutes: 10,
  });
  assert.equal(timeBound.eta, 540);
  assert.equal(timeBound.fraction, 0.1);
  const stepBound = timeToEnd({
    step: 90,
    totalSteps: 100,
    msPerStep: 100,
    elapsedMs: 9_000,
    maxMinutes: 10,
  });
  assert.equal(stepBound.eta, 1);
  assert.equal(stepBound.fraction, 0.9);
  const noBudget = timeToEnd({
    step: 1,
    totalSteps: 3,
    msPerStep: 1000,
    elapsedMs: 1000,
    maxMinutes: undefined,
  });
  assert.deepEqual(noBudget, { eta: 2, fraction: 1 / 3 });
});
