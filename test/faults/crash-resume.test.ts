/**
 * Item 1: a worker process SIGKILLed mid-job (no shutdown, no hand-back) loses its lock; another
 * worker process takes the stalled job over, resumes it from the last checkpoint on disk, and
 * the job succeeds once with one model.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  alive,
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

test('1. a worker SIGKILLed after its first checkpoint: another worker resumes the job from it, which succeeds once with one model', async (t) => {
  const { env, jobs } = await jobServiceEnv(t);
  const first = await startWorkerProcess(env);

  const { job } = await jobs.submit(tinyRequest({ epochs: 1000, maxSteps: 300, checkpointEvery: 5 }));
  const events = await eventsUntil(
    jobs,
    job.id,
    (e) => e.type === 'checkpoint',
    60_000,
    'the first checkpoint',
  );
  const trainer = trainerPid(events);
  assert.ok(alive(trainer));

  first.child.kill('SIGKILL');
  await first.exited;
  // The trainer child notices its worker is gone and stops writing to the job.
  await waitFor(
    () => Promise.resolve(alive(trainer)),
    (a) => !a,
    10_000,
    'the orphaned trainer to exit',
  );
  assert.equal(
    (await jobs.get(job.id))?.status,
    'running',
    'the job still looks active until its lock expires',
  );

  await startWorkerProcess(env);
  const done = await finished(jobs, job.id, 90_000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.progress.step, 300);

  const all = await eventsUntil(
    jobs,
    job.id,
    (e) => e.type === 'status' && e.data.status === 'succeeded',
    5000,
  );
  const at = all.findIndex((e) => e.type === 'log' && e.data.resumedFrom !== undefined);
  assert.ok(at > 0, 'the second run resumed from a checkpoint');
  const resumedFrom = Number(all[at]?.data.resumedFrom);
  const savedBefore = all
    .slice(0, at)
    .filter((e) => e.type === 'checkpoint')
    .map((e) => Number(e.data.step));
  assert.ok(resumedFrom >= 5, `resumed from step ${resumedFrom}`);
  // The last checkpoint the first run reported (or one it wrote as it was dying).
  assert.ok(
    resumedFrom >= Math.max(...savedBefore),
    `resumed from ${resumedFrom}, saved ${savedBefore.join()}`,
  );
  // The first progress the second run reports is past the checkpoint, not step 1.
  const next = all.slice(at).find((e) => e.type === 'progress');
  assert.ok(Number(next?.data.step) > resumedFrom);
  const runs = all.filter((e) => e.type === 'status' && e.data.status === 'running');
  assert.equal(runs.length, 2);
  assert.notEqual(runs[0]?.data.worker, runs[1]?.data.worker);
  assert.deepEqual(statuses(all), ['queued', 'running', 'running', 'succeeded'], 'it succeeded once');

  // Exactly one model, complete and hash-verified, and nothing half-written beside it.
  assert.deepEqual(await modelsOnDisk(join(env.dataDir, 'models')), { models: [done.modelId], other: [] });
  assert.equal((await jobs.queue.getJob(job.id))?.attemptsMade, 1, 'the crash did not use up an attempt');
});
