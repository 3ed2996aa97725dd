/**
 * Fault suite, item 12: nothing leaks tensors. Generation and scoring run on the API's
 * inference thread and training in the worker's process, where a tensor not disposed is
 * memory lost until the process ends: after many requests, or several jobs, the count must be
 * where it started, on each engine (the native one keeps its state in host arrays and its
 * primitives in a bounded cache, the tfjs one in tensors).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as tf from '@tensorflow/tfjs';
import type { SandboxedJob } from 'bullmq';

import type { TrainingJobData } from '../../src/queue/contracts.js';
import type { TrainingResult } from '../../src/queue/training-queue.js';
import processTrainingJob, { closeProcessor } from '../../src/worker/train.processor.js';
import { loadNativeKernels } from '../../src/ml/native.js';
import { build, useSharedTinyModel } from '../helpers/app.js';
import { tinyRequest } from '../integration/queue/harness.js';

const withModel = useSharedTinyModel();

// The native engine's half says why it skips elsewhere; CI, which ships the engine, runs it.
const ENGINES = [
  {
    name: 'native engine',
    mode: 'on',
    skip: loadNativeKernels() === null && process.env.CI !== 'true' ? 'native/ is not built' : false,
  },
  { name: 'tfjs engine', mode: 'off', skip: false },
] as const;

for (const engine of ENGINES) {
  test(
    `12. 200 generations and 200 scorings on one loaded model leave the inference thread's tensors at their baseline (${engine.name})`,
    { skip: engine.skip },
    async (t) => {
      const { app, id, models } = await withModel(t, {
        env: {
          RNNLM_RATE_LIMIT_MAX: '100000',
          RNNLM_MAX_INFLIGHT_GENERATIONS: '8',
          RNNLM_NATIVE_KERNELS: engine.mode,
        },
      });
      const generate = (i: number) =>
        app.inject({
          method: 'POST',
          url: '/generate',
          payload: {
            model: id,
            prompt: i % 3 === 0 ? 'ROMEO:' : '日本 😀',
            maxTokens: 8,
            seed: i,
            topK: i % 5,
            stream: i % 4 === 0,
          },
        });
      const score = (i: number) =>
        app.inject({
          method: 'POST',
          url: '/score',
          payload: {
            model: id,
            text: `To be, or not to be ${i} 😀`,
            details: i % 2 === 0,
            ...(i % 3 === 0 ? { context: 'HAMLET:' } : {}),
          },
        });
      // The first requests load the model into the cache: its weights are the baseline.
      assert.equal((await generate(0)).statusCode, 200);
      assert.equal((await score(0)).statusCode, 200);
      const baseline = await models.memory();

      for (let i = 1; i <= 200; i += 4) {
        const answers = await Promise.all([generate(i), generate(i + 1), generate(i + 2), generate(i + 3)]);
        for (const a of answers) assert.equal(a.statusCode, 200, a.body);
      }
      for (let i = 1; i <= 200; i += 4) {
        const answers = await Promise.all([score(i), score(i + 1), score(i + 2), score(i + 3)]);
        for (const a of answers) assert.equal(a.statusCode, 200, a.body);
      }
      // A failing request (an unknown model) must not leak either.
      const unknown = await app.inject({
        method: 'POST',
        url: '/score',
        payload: { model: `mdl_${'z'.repeat(26)}`, text: 'x' },
      });
      assert.equal(unknown.statusCode, 404);

      const after = await models.memory();
      assert.equal(after.numTensors, baseline.numTensors, 'tensors after 200 generations and 200 scorings');
      assert.equal(after.numBytes, baseline.numBytes, 'bytes after 200 generations and 200 scorings');
      assert.equal(after.stateBytes, 0, 'no row state is left');
    },
  );
}

for (const engine of ENGINES) {
  test(
    `12. two training jobs in a row in one worker process leave tf.memory().numTensors at its baseline (${engine.name})`,
    { skip: engine.skip },
    async (t) => {
      const { config, jobs } = await build(t);
      // The processor reads its configuration from the environment, as in a worker's child.
      const saved = { ...process.env };
      Object.assign(process.env, {
        REDIS_URL: config.REDIS_URL,
        RNNLM_QUEUE_PREFIX: config.RNNLM_QUEUE_PREFIX,
        RNNLM_DATA_DIR: config.RNNLM_DATA_DIR,
        RNNLM_BACKEND: 'wasm',
        RNNLM_NATIVE_KERNELS: engine.mode,
        RNNLM_LOG_LEVEL: 'silent',
      });
      t.after(async () => {
        await closeProcessor();
        for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
        Object.assign(process.env, saved);
      });

      const train = async (seed: number): Promise<TrainingResult> => {
        const { job } = await jobs.submit(
          tinyRequest({ maxSteps: 12, evalEvery: 6, checkpointEvery: 5, seed }),
        );
        const bullJob = await jobs.queue.getJob(job.id);
        assert.ok(bullJob !== undefined);
        return processTrainingJob(bullJob as unknown as SandboxedJob<TrainingJobData, TrainingResult>);
      };
      // The first job also sets the processor up (backend, kernels): the baseline is after it.
      const first = await train(1);
      assert.match(first.modelId, /^mdl_/);
      const baseline = tf.memory();
      const second = await train(2);
      const third = await train(3);
      assert.notEqual(second.modelId, third.modelId);
      assert.deepEqual(
        [first.steps, second.steps, third.steps],
        [12, 12, 12],
        'each job trained all its steps',
      );
      const after = tf.memory();
      assert.equal(after.numTensors, baseline.numTensors, 'tensors after two more training jobs');
      assert.equal(after.numBytes, baseline.numBytes, 'bytes after two more training jobs');
    },
  );
}
