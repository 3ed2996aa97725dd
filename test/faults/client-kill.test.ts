/**
 * Item 5: every client connection to Redis killed (CLIENT KILL) twice while a job trains,
 * which drops the worker's, its training child's and its subscriber's connections at once:
 * they reconnect by themselves and the job completes exactly once, with one model.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import type { Redis } from 'ioredis';

import { RedisServer } from '../helpers/redis-server.js';
import {
  eventsUntil,
  finished,
  jobServiceEnv,
  modelsOnDisk,
  startWorkerProcess,
  statuses,
  tinyRequest,
} from './harness.js';

/** Kills every client but `admin`; returns how many went. */
async function killClients(admin: Redis): Promise<number> {
  const normal = Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
  const pubsub = Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
  return normal + pubsub;
}

test('5. CLIENT KILL of the worker’s connections mid-job: the job completes exactly once', async (t) => {
  const redis = await RedisServer.start(t);
  const admin = redis.client(t);
  const { env, jobs } = await jobServiceEnv(t, { REDIS_URL: redis.url });
  const worker = await startWorkerProcess(env);

  const { job } = await jobs.submit(tinyRequest({ epochs: 1000, maxSteps: 600, checkpointEvery: 10 }));
  const stepAt = (step: number) =>
    eventsUntil(
      jobs,
      job.id,
      (e) => e.type === 'checkpoint' && Number(e.data.step) >= step,
      60_000,
      `a checkpoint at step ${step}`,
    );

  await stepAt(10);
  assert.ok((await killClients(admin)) >= 4, 'the worker’s connections and its child’s');
  await stepAt(200);
  assert.ok((await killClients(admin)) >= 4);

  const done = await finished(jobs, job.id, 90_000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.progress.step, 600);
  const all = await eventsUntil(
    jobs,
    job.id,
    (e) => e.type === 'status' && e.data.status === 'succeeded',
    5000,
  );
  assert.equal(statuses(all).filter((s) => s === 'succeeded').length, 1, 'completed once');
  assert.equal(statuses(all).at(-1), 'succeeded');
  assert.deepEqual(await modelsOnDisk(join(env.dataDir, 'models')), { models: [done.modelId], other: [] });
  assert.ok(worker.running());
});
