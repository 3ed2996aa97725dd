import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import type { BackendInfo } from '../../../../src/ml/backend.js';
import { trainFromText } from '../../../../src/ml/training.js';
import type { StepRecord, TrainerCheckpoint } from '../../../../src/ml/train/trainer.js';
import { SHAKESPEARE, testBackend, tinyConfig } from '../../../helpers/ml.js';

/**
 * Exact trajectories of two small runs, recorded with the tfjs kernels: a change to the loop
 * that reorders a random draw, an evaluation, a learning-rate decay or a stop shows up here as
 * a different number. The native engine is left out: oneDNN picks its kernels by CPU, so
 * their last bits differ between machines.
 */
describe('the training loop reproduces its recorded trajectories exactly (tfjs kernels)', () => {
  let backend: BackendInfo;
  before(async () => {
    backend = await testBackend('off');
  });

  const corpus = SHAKESPEARE.slice(0, 2500);
  /** Step losses are float32 values: compared as such, they are written with float32's digits. */
  const float32 = (xs: number[]) => Float32Array.from(xs);

  async function run(config: ReturnType<typeof tinyConfig>, resume?: TrainerCheckpoint) {
    const steps: StepRecord[] = [];
    const checkpoints: TrainerCheckpoint[] = [];
    const { result } = await trainFromText({
      corpus,
      config,
      backend,
      resume,
      onStep: (s) => steps.push(s),
      onCheckpoint: (c) => {
        checkpoints.push(structuredClone(c));
        return Promise.resolve();
      },
    });
    result.model.dispose();
    return {
      result,
      checkpoints,
      losses: steps.map((s) => s.loss),
      learningRates: steps.map((s) => s.learningRate),
    };
  }

  const randomVariable = tinyConfig(
    {
      epochs: 2,
      maxSteps: 40,
      evalEvery: 5,
      checkpointEvery: 20,
      lrPatience: 0,
      lrDecay: 0.7,
      learningRate: 0.03,
      partition: 'random',
      truncation: { mode: 'variable' },
    },
    { dropout: 0.1 },
  );
  const randomVariableLosses = float32([
    4.0015297, 3.954611, 3.8798378, 3.654673, 3.8096468, 3.4121776, 3.185816, 3.8298416, 3.4947202, 3.38342,
    3.5250142, 3.3166058, 3.670779, 3.022479, 3.1926663, 2.8682075, 3.1516123, 3.268268, 3.1897604, 3.2229967,
    3.38922, 3.306657, 3.4254615, 3.4985921, 3.1516984, 3.1813257, 3.1480813, 3.2083826, 3.222773, 3.409991,
    3.1946123, 3.0976484, 3.1013606, 3.090102, 3.3751023, 3.4238443, 3.2009978, 3.008788, 3.4309943, 3.385634,
  ]);

  test('random partition, variable truncation and dropout: losses, learning rates and evaluations', async () => {
    const { result, losses, learningRates } = await run(randomVariable);
    assert.deepEqual(float32(losses), randomVariableLosses);
    assert.deepEqual(
      learningRates,
      [
        0.01875, 0.041249999999999995, 0.045, 0.01875, 0.0225, 0.02625, 0.045, 0.0525, 0.08249999999999999,
        0.056249999999999994, 0.01875, 0.01875, 0.02625, 0.03, 0.04875, 0.041249999999999995, 0.045, 0.04875,
        0.02625, 0.03375, 0.045, 0.04875, 0.01875, 0.03375, 0.01875, 0.01875, 0.041249999999999995,
        0.041249999999999995, 0.0375, 0.06, 0.03, 0.06375, 0.01875, 0.02625, 0.01875, 0.0225, 0.0675, 0.0375,
        0.041249999999999995, 0.01875,
      ],
    );
    assert.deepEqual(
      result.history.map((h) => h.loss),
      [
        3.4951193046569826, 3.352122406005859, 3.2981101512908935, 3.2801987328529356, 3.2339819197654722,
        3.2004238572120665, 3.172672794342041, 3.1521783142089843,
      ],
    );
    assert.equal(result.stopReason, 'maxSteps');
    assert.equal(result.steps, 40);
  });

  test('a run resumed from its step-20 checkpoint repeats the last 20 losses exactly', async () => {
    const first = await run({ ...randomVariable, training: { ...randomVariable.training, maxSteps: 20 } });
    const checkpoint = first.checkpoints.at(-1);
    assert.equal(checkpoint?.state.step, 20);
    const second = await run(randomVariable, checkpoint);
    assert.deepEqual(float32([...first.losses, ...second.losses]), randomVariableLosses);
  });

  test('plateau decay and early stopping: the decays, the stop and the best weights', async () => {
    const { result, losses, learningRates } = await run(
      tinyConfig({
        epochs: 50,
        evalEvery: 2,
        learningRate: 0.5,
        optimizer: 'sgd',
        earlyStoppingPatience: 3,
        lrPatience: 0,
        lrDecay: 0.6,
      }),
    );
    assert.deepEqual(
      float32(losses),
      float32([
        4.0183935, 3.9960208, 3.957502, 3.923843, 3.9480596, 3.869265, 3.8935893, 3.8647828, 3.8680305,
        3.846941, 3.7745795, 3.7667944, 3.7113225, 3.672173, 3.7096717, 3.6885736, 3.620802, 3.7084947,
        3.6573663, 3.5824583, 3.555826, 3.600275, 3.5439136, 3.5689144, 3.5608659, 3.4791567, 3.434927,
        3.3873, 3.257664, 3.586665, 3.6527514, 3.3866599, 3.5217807, 3.4520087, 3.3370488, 3.3889356,
        3.3348634, 3.4215343, 3.3910234, 3.2349126, 3.3429005, 3.2359746, 3.553054, 3.3464162, 3.3562727,
        3.5101943, 3.1721025, 3.3895156, 3.0197334, 3.122877, 3.3563223, 3.2969904, 3.212638, 3.4063725,
        3.286402, 3.3003044, 3.417278, 3.292097, 3.3017337, 3.1007204, 3.086407, 3.4854925, 3.7553222,
        3.4652593, 3.3654068, 3.395234, 3.0850422, 3.2561173,
      ]),
    );
    assert.deepEqual(
      learningRates,
      [
        0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
        0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
        0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
        0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.18, 0.18,
      ],
    );
    assert.deepEqual(
      result.history.map((h) => h.loss),
      [
        3.986995701789856, 3.9415714588165285, 3.878306643486023, 3.8382432365417483, 3.807862274169922,
        3.765986120223999, 3.719518795967102, 3.6754010181427, 3.6375199909210205, 3.601561897277832,
        3.5674254426956176, 3.535360025405884, 3.509034669876099, 3.476194799423218, 3.450625714302063,
        3.4354856252670287, 3.4195469570159913, 3.3970805282592775, 3.3843254895210264, 3.3647540130615234,
        3.3488185958862307, 3.3483683910369875, 3.3423496022224426, 3.3247353024482726, 3.3054876794815065,
        3.2984431638717653, 3.2975674166679383, 3.2956532988548277, 3.291236846923828, 3.2818380336761477,
        3.2804792013168336, 3.292168420791626, 3.288758367538452, 3.280559862136841,
      ],
    );
    assert.equal(result.stopReason, 'earlyStopping');
    assert.equal(result.steps, 68);
    assert.equal(result.validation?.loss, 3.2804792013168336);
  });
});
