import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { isRnnlmError } from '../../../../src/errors.js';
import { modelSpecSchema } from '../../../../src/ml/config.js';
import { RnnLm } from '../../../../src/ml/model/lm.js';
import { Cancellation } from '../../../../src/ml/train/callbacks/cancellation.js';
import {
  CallbackList,
  type LoopControl,
  type Stop,
  type TrainingCallback,
} from '../../../../src/ml/train/callbacks/callback.js';
import { EarlyStopping } from '../../../../src/ml/train/callbacks/early-stopping.js';
import { Evaluation } from '../../../../src/ml/train/callbacks/evaluation.js';
import { MaxSteps } from '../../../../src/ml/train/callbacks/max-steps.js';
import { MaxTime } from '../../../../src/ml/train/callbacks/max-time.js';
import { PlateauDecay } from '../../../../src/ml/train/callbacks/plateau-decay.js';
import { LoopState, type LoopSnapshot } from '../../../../src/ml/train/loop-state.js';
import { testBackend } from '../../../helpers/ml.js';

/** A tiny model for the callbacks that evaluate; the others never touch it. */
function tinyModel(): RnnLm {
  const spec = modelSpecSchema.parse({ layers: 1, hiddenSize: 4, embeddingSize: 4 });
  return RnnLm.create({ ...spec, vocabSize: 5 }, 1);
}

/**
 * A loop that runs `callbacks` on a fresh state the way the trainer does: an evaluation is
 * recorded in the state, then passed to every `onEvalEnd`.
 */
function fakeLoop(callbacks: TrainingCallback[], options: { state?: LoopState; model?: RnnLm } = {}) {
  const list = new CallbackList(callbacks);
  const evaluations: number[] = [];
  let checkpoints = 0;
  const loop: LoopControl = {
    state: options.state ?? LoopState.restore(undefined, { seed: 1, learningRate: 0.1 }),
    get model(): RnnLm {
      if (options.model === undefined) throw new Error('this callback was not meant to use the model');
      return options.model;
    },
    evaluated(result) {
      evaluations.push(loop.state.step);
      const { improved } = loop.state.recordEval(result, () => []);
      return list.evalEnd(loop, improved);
    },
    saveCheckpoint() {
      checkpoints++;
      return Promise.resolve();
    },
  };
  /** Records an evaluation with validation loss `loss` and returns what the callbacks answer. */
  const evaluate = (loss: number): Stop =>
    loop.evaluated({ loss, perplexity: Math.exp(loss), bitsPerChar: 0, tokens: 1, characters: 1 });
  return { loop, list, evaluate, evaluations, checkpoints: () => checkpoints };
}

/** A saved loop state that says `elapsedMs` of training went before. */
function savedAfter(elapsedMs: number): { state: LoopSnapshot } {
  const state = LoopState.restore(undefined, { seed: 1, learningRate: 0.1 }).save();
  return { state: { ...state, elapsedMs } };
}

describe('plateau decay', () => {
  test('decays the learning rate once more than `patience` evaluations in a row fail to improve', () => {
    const { loop, evaluate } = fakeLoop([new PlateauDecay(1, 0.5)]);
    evaluate(3);
    evaluate(3.1);
    assert.equal(loop.state.learningRate, 0.1, 'one evaluation without improvement is within the patience');
    evaluate(3.2);
    assert.equal(loop.state.learningRate, 0.05);
  });

  test('counts again from zero after a decay, so the next decay waits for the patience again', () => {
    const { loop, evaluate } = fakeLoop([new PlateauDecay(1, 0.5)]);
    for (const loss of [3, 3.1, 3.2, 3.3]) evaluate(loss);
    assert.equal(loop.state.learningRate, 0.05);
    evaluate(3.4);
    assert.equal(loop.state.learningRate, 0.025);
  });

  test('an improvement resets the count', () => {
    const { loop, evaluate } = fakeLoop([new PlateauDecay(1, 0.5)]);
    for (const loss of [3, 3.1, 2.9, 3.0]) evaluate(loss);
    assert.equal(loop.state.learningRate, 0.1);
    assert.equal(loop.state.plateau, 1);
  });

  test('with patience 0 every evaluation that does not improve decays, and it never stops the run', () => {
    const { loop, evaluate } = fakeLoop([new PlateauDecay(0, 0.5)]);
    assert.equal(evaluate(3), undefined);
    assert.equal(evaluate(3), undefined, 'an equal loss is no improvement');
    assert.equal(evaluate(3.5), undefined);
    assert.equal(loop.state.learningRate, 0.025);
  });
});

describe('early stopping', () => {
  test('stops at the `patience`-th evaluation in a row that does not improve on the best', () => {
    const { evaluate } = fakeLoop([new EarlyStopping(2)]);
    assert.equal(evaluate(3), undefined);
    assert.equal(evaluate(3.1), undefined);
    assert.equal(evaluate(3.2), 'earlyStopping');
  });

  test('an improvement in between starts the count again', () => {
    const { evaluate } = fakeLoop([new EarlyStopping(2)]);
    for (const loss of [3, 3.1, 2.5, 2.6]) assert.equal(evaluate(loss), undefined);
    assert.equal(evaluate(2.7), 'earlyStopping');
  });

  test('still stops after a plateau decay in the same evaluation', () => {
    const { loop, evaluate } = fakeLoop([new PlateauDecay(0, 0.5), new EarlyStopping(1)]);
    evaluate(3);
    assert.equal(evaluate(3.1), 'earlyStopping');
    assert.equal(loop.state.learningRate, 0.05, 'the decay ran before the stop');
  });
});

describe('stop conditions', () => {
  test('max steps stops before the step that would go past the total, not before', async () => {
    const { loop, list } = fakeLoop([new MaxSteps(3)]);
    loop.state.step = 2;
    assert.equal(await list.stepBegin(loop), undefined);
    loop.state.step = 3;
    assert.equal(await list.stepBegin(loop), 'maxSteps');
  });

  test('max time counts the training time of the runs before a resume', async () => {
    const resumed = LoopState.restore(savedAfter(60_000), { seed: 1, learningRate: 0.1 });
    const under = fakeLoop([new MaxTime(2)], { state: resumed });
    assert.equal(await under.list.stepBegin(under.loop), undefined);
    const over = fakeLoop([new MaxTime(1)], { state: resumed });
    assert.equal(await over.list.stepBegin(over.loop), 'maxMinutes');
  });

  test('cancellation does nothing until the signal is aborted', async () => {
    const controller = new AbortController();
    const { loop, list, checkpoints } = fakeLoop([new Cancellation(controller.signal)]);
    assert.equal(await list.stepBegin(loop), undefined);
    assert.equal(checkpoints(), 0);
  });

  test('cancellation saves a checkpoint, then fails the run with RNNLM_ABORTED and the step', async () => {
    const controller = new AbortController();
    const { loop, list, checkpoints } = fakeLoop([new Cancellation(controller.signal)]);
    loop.state.step = 7;
    controller.abort('shutdown');
    await assert.rejects(
      list.stepBegin(loop),
      (err: unknown) => isRnnlmError(err, 'RNNLM_ABORTED') && /step 7: shutdown/.test(err.message),
    );
    assert.equal(checkpoints(), 1);
  });

  test('the first reason to stop wins: a cancellation after a reached limit never fires', async () => {
    const controller = new AbortController();
    controller.abort();
    const { loop, list, checkpoints } = fakeLoop([new MaxSteps(0), new Cancellation(controller.signal)]);
    assert.equal(await list.stepBegin(loop), 'maxSteps');
    assert.equal(checkpoints(), 0);
  });
});

describe('evaluation', () => {
  before(async () => {
    await testBackend('off');
  });
  const validation = { tokens: Int32Array.from([0, 1, 2, 3, 4, 1, 2]), characters: 6, scoredFrom: 1 };
  const options = { batchSize: 2, seqLength: 3 };

  test('evaluates every `every` steps and at the end of an epoch, but not twice at one step', async () => {
    const model = tinyModel();
    const before = tf.memory().numTensors;
    const { loop, list, evaluations } = fakeLoop([new Evaluation(validation, 2, options)], { model });
    for (let step = 1; step <= 3; step++) {
      loop.state.step = step;
      await list.stepEnd(loop);
    }
    assert.deepEqual(evaluations, [2]);
    await list.epochEnd(loop);
    assert.deepEqual(evaluations, [2, 3], 'the epoch ended on a step that was not evaluated');
    await list.epochEnd(loop);
    await list.trainEnd(loop);
    assert.deepEqual(evaluations, [2, 3], 'these weights were evaluated already');
    assert.equal(tf.memory().numTensors, before);
    model.dispose();
  });

  test('without `every` it evaluates at the end of each epoch and of the run only', async () => {
    const model = tinyModel();
    const { loop, list, evaluations } = fakeLoop([new Evaluation(validation, undefined, options)], { model });
    loop.state.step = 4;
    assert.equal(await list.stepEnd(loop), undefined);
    await list.epochEnd(loop);
    loop.state.step = 6;
    await list.trainEnd(loop);
    assert.deepEqual(evaluations, [4, 6]);
    model.dispose();
  });

  test('passes on the reason to stop that an evaluation brings', async () => {
    const model = tinyModel();
    const { loop, list } = fakeLoop([new Evaluation(validation, 1, options), new EarlyStopping(1)], {
      model,
    });
    loop.state.step = 1;
    assert.equal(await list.stepEnd(loop), undefined);
    loop.state.step = 2;
    assert.equal(
      await list.stepEnd(loop),
      'earlyStopping',
      'the same weights score the same: no improvement',
    );
    model.dispose();
  });
});
