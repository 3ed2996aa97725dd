/**
 * Item 8: cancelling a running job stops it at its next step; it ends `cancelled`, is not
 * retried, and the checkpoints it had written are removed.
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

test('8. a cancelled running job ends cancelled, is not retried, and its checkpoints are removed', async (t) => {
  const { env, jobs } = await jobServiceEnv(t);
  await startWorkerProcess(env);
  const { job } = await jobs.submit(tinyRequest({ epochs: 1000, maxSteps: 100_000, checkpointEvery: 2 }));
  const checkpoints = join(env.dataDir, 'checkpoints', job.id);
  await eventsUntil(jobs, job.id, (e) => e.type === 'checkpoint', 60_000, 'a checkpoint');
  assert.ok(existsSync(checkpoints));

  const asked = await jobs.cancel(job.id);
  assert.equal(asked?.status, 'running');
  const done = await finished(jobs, job.id, 20_000);
  assert.equal(done.status, 'cancelled');
  assert.equal(done.stopReason, 'cancelled');
  assert.equal(done.error?.code, 'RNNLM_ABORTED');
  assert.ok(done.progress.step >= 2 && done.progress.step < 100_000);
  assert.equal(done.error?.message, `cancelled at step ${done.progress.step}`);
  assert.equal(done.modelId, undefined);
  const events = await eventsUntil(
    jobs,
    job.id,
    (e) => e.type === 'status' && e.data.status === 'cancelled',
    5000,
  );
  assert.deepEqual(statuses(events), ['queued', 'running', 'cancelled']);
  assert.equal(events.at(-1)?.type, 'status', 'nothing happens to it after it ends');

  // Not retried: one attempt, and the job is in BullMQ's terminal failed set, not delayed.
  const bull = await jobs.queue.getJob(job.id);
  assert.equal(bull?.attemptsMade, 1);
  assert.equal(await bull?.getState(), 'failed');
  await waitFor(
    () => Promise.resolve(existsSync(checkpoints)),
    (e) => !e,
    5000,
    'the checkpoints to go',
  );
  assert.deepEqual(await modelsOnDisk(join(env.dataDir, 'models')), { models: [], other: [] });
});
