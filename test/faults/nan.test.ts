/**
 * Item 9: a learning rate of 1e6 makes training diverge: the job fails within a few steps with
 * RNNLM_NONFINITE_LOSS, is not retried (it would diverge again), and publishes nothing.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  eventsUntil,
  finished,
  jobServiceEnv,
  modelsOnDisk,
  startWorkerProcess,
  statuses,
  tinyRequest,
  waitFor,
} from './harness.js';

test('9. learning rate 1e6: the job fails with a NaN/Inf error within a few steps, without retry or model', async (t) => {
  const { env, jobs } = await jobServiceEnv(t);
  await startWorkerProcess(env);
  const { job } = await jobs.submit(
    tinyRequest({ epochs: 1000, maxSteps: 10_000, learningRate: 1e6, checkpointEvery: 1 }),
  );

  const done = await finished(jobs, job.id, 30_000);
  assert.equal(done.status, 'failed', JSON.stringify(done));
  assert.equal(done.error?.code, 'RNNLM_NONFINITE_LOSS', JSON.stringify(done.error));
  assert.equal(done.stopReason, 'diverged');
  const step = Number(/^training diverged at step (\d+): /.exec(done.error?.message ?? '')?.[1]);
  assert.ok(step >= 1 && step <= 10, done.error?.message);
  assert.equal(done.modelId, undefined);

  const bull = await jobs.queue.getJob(job.id);
  assert.equal(bull?.attemptsMade, 1, 'not retried');
  assert.equal(await bull?.getState(), 'failed');
  const events = await eventsUntil(
    jobs,
    job.id,
    (e) => e.type === 'status' && e.data.status === 'failed',
    5000,
  );
  assert.deepEqual(statuses(events), ['queued', 'running', 'failed'], JSON.stringify(events));
  assert.deepEqual(await modelsOnDisk(join(env.dataDir, 'models')), { models: [], other: [] });
  const checkpoints = join(env.dataDir, 'checkpoints', job.id);
  await waitFor(
    () => Promise.resolve(existsSync(checkpoints)),
    (e) => !e,
    5000,
    'the checkpoints to go',
  );
});
