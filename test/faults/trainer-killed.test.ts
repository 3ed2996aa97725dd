/**
 * Item 2: the sandboxed training child SIGKILLed (as the OOM killer would) while its worker
 * lives on: the attempt fails and is retried with backoff as `attempts` allows, and when they
 * are used up the job fails with an error that says what happened, and no model appears.
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
  trainerPid,
  waitFor,
} from './harness.js';

test('2. a training child SIGKILLed is retried per attempts, then the job fails with a clear error and no model', async (t) => {
  const { env, jobs } = await jobServiceEnv(t, { RNNLM_JOB_ATTEMPTS: '2' });
  const worker = await startWorkerProcess(env);
  const { job } = await jobs.submit(tinyRequest({ epochs: 1000, maxSteps: 100_000, checkpointEvery: 5 }));
  const checkpoints = join(env.dataDir, 'checkpoints', job.id);

  // Attempt 1: killed once it has checkpointed.
  let events = await eventsUntil(jobs, job.id, (e) => e.type === 'checkpoint', 60_000, 'a checkpoint');
  const first = trainerPid(events, 0);
  process.kill(first, 'SIGKILL');
  events = await eventsUntil(
    jobs,
    job.id,
    (e) => e.type === 'log' && /retrying/.test(String(e.data.message)),
    15_000,
    'the retry',
  );
  const retrying = events.find((e) => e.type === 'log' && /retrying/.test(String(e.data.message)));
  assert.equal(
    retrying?.data.message,
    'attempt 1 failed: RNNLM_INTERNAL: the training process was killed by SIGKILL before it finished (out of memory, or stopped from outside); retrying',
  );
  assert.equal((await jobs.get(job.id))?.status, 'queued');
  assert.ok(existsSync(checkpoints), 'the checkpoint is kept for the next attempt');

  // Attempt 2 (after the backoff) resumes from that checkpoint in a new child; killed too.
  events = await eventsUntil(
    jobs,
    job.id,
    (e) => e.type === 'log' && e.data.resumedFrom !== undefined,
    20_000,
    'the second attempt',
  );
  const second = trainerPid(events, 1);
  assert.notEqual(second, first);
  assert.ok(Number(events.find((e) => e.data.resumedFrom !== undefined)?.data.resumedFrom) >= 5);
  process.kill(second, 'SIGKILL');

  const done = await finished(jobs, job.id, 15_000);
  assert.equal(done.status, 'failed');
  assert.deepEqual(done.error, {
    code: 'RNNLM_INTERNAL',
    message:
      'the training process was killed by SIGKILL before it finished (out of memory, or stopped from outside)',
  });
  assert.equal(done.modelId, undefined);
  const bull = await jobs.queue.getJob(job.id);
  assert.equal(bull?.attemptsMade, 2);
  assert.equal(await bull?.getState(), 'failed');
  events = await eventsUntil(jobs, job.id, (e) => e.type === 'status' && e.data.status === 'failed', 5000);
  assert.deepEqual(statuses(events), ['queued', 'running', 'queued', 'running', 'failed']);

  // Nothing half-made is left: no model, no temporary directory, no checkpoint.
  assert.deepEqual(await modelsOnDisk(join(env.dataDir, 'models')), { models: [], other: [] });
  await waitFor(
    () => Promise.resolve(existsSync(checkpoints)),
    (e) => !e,
    5000,
    'the checkpoint to go',
  );
  // The worker itself survived both deaths of its children.
  assert.ok(worker.running());
});
