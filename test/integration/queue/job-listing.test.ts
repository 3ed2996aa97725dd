/**
 * The job reads and listing against a real Redis: a page read in one pipeline is what reading
 * each job through BullMQ gives, in every state a job can be in, and a listing takes one
 * pipeline per page.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import { UnrecoverableError, Worker } from 'bullmq';

import { createWorkerConnection } from '../../../src/queue/connection.js';
import type { TrainingJobData } from '../../../src/queue/contracts.js';
import { RedisJobService } from '../../../src/queue/job-service.js';
import { listJobs } from '../../../src/queue/job-listing.js';
import { readJob, readJobs, type JobStore } from '../../../src/queue/job-reads.js';
import {
  createTrainingQueue,
  serviceKeys,
  TRAINING_QUEUE,
  type TrainingResult,
} from '../../../src/queue/training-queue.js';
import { testEnv, tinyRequest, waitFor } from './harness.js';

/** A job service to submit with, and a store of the job modules on a connection of the test's. */
async function setUp(t: TestContext) {
  const env = await testEnv(t);
  const jobs = new RedisJobService({ config: env.config, logger: env.logger });
  env.defer(() => jobs.close());
  await jobs.ready();
  const queue = createTrainingQueue(env.config, env.redis);
  env.defer(() => queue.close());
  const store: JobStore = { redis: env.redis, keys: serviceKeys(env.config.RNNLM_QUEUE_PREFIX), queue };
  const submit = async (name: string) => (await jobs.submit(tinyRequest({}, { name }))).job.id;
  return { env, jobs, store, submit };
}

const RESULT: TrainingResult = {
  modelId: 'mdl_x',
  metrics: { trainLoss: 1.5, valLoss: 1.75, valPerplexity: 5.75, valBitsPerChar: 2.5, tokensPerSecond: 100 },
  backend: 'cpu',
  steps: 20,
  stopReason: 'maxSteps',
};

test('a page read in one pipeline is each job as BullMQ reads it, in every state', async (t) => {
  const { env, jobs, store, submit } = await setUp(t);
  const cancelled = await submit('cancelled');
  await jobs.cancel(cancelled);
  const ids = {
    completes: await submit('completes'),
    fails: await submit('fails'),
    retries: await submit('retries'),
    runs: await submit('runs'),
    waits: await submit('waits'),
    expired: await submit('expired'),
    gone: await submit('gone'),
  };
  await env.redis.del(store.keys.record(ids.expired));
  await store.queue.remove(ids.gone);

  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const workerConnection = createWorkerConnection(env.config);
  const worker = new Worker<TrainingJobData, TrainingResult>(
    TRAINING_QUEUE,
    async (job) => {
      await job.updateProgress({ step: 3, totalSteps: 20, fraction: 0.15, tokensPerSecond: 50 });
      switch (job.data.name) {
        case 'completes':
          return RESULT;
        case 'fails':
          throw new UnrecoverableError('RNNLM_NONFINITE_LOSS: the loss is NaN');
        case 'retries':
          throw new Error('RNNLM_INTERNAL: try again');
        default:
          await held;
          return RESULT;
      }
    },
    { connection: workerConnection, prefix: env.config.RNNLM_QUEUE_PREFIX },
  );
  env.defer(async () => {
    release();
    await worker.close();
    workerConnection.disconnect();
  });
  const statusOf = async (id: string) => (await readJob(store, id))?.status;
  await waitFor(
    () => statusOf(ids.runs),
    (s) => s === 'running',
    10_000,
    'a running job',
  );

  const all = [cancelled, ...Object.values(ids), 'not-a-job-id'];
  const one = await Promise.all(
    all.map(async (id) => (id.startsWith('job_') ? readJob(store, id) : undefined)),
  );
  assert.deepEqual(await readJobs(store, all), one);
  assert.deepEqual(
    one.map((job) => job?.status),
    ['cancelled', 'succeeded', 'failed', 'queued', 'running', 'queued', undefined, 'queued', undefined],
  );
  assert.equal(one[1]?.modelId, 'mdl_x');
  assert.equal(one[2]?.stopReason, 'diverged');
  assert.equal(one[4]?.progress.step, 3);
});

test('a listing reads each batch of the index in one pipeline and drops expired jobs from the index', async (t) => {
  const { env, store, submit } = await setUp(t);
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push(await submit(`j${i}`));
  await env.redis.del(store.keys.record(ids[4]!));
  const pipeline = t.mock.method(env.redis, 'pipeline');
  const hgetall = t.mock.method(env.redis, 'hgetall');

  const page = await listJobs(store, { limit: 3 });
  assert.deepEqual(
    page.items.map((job) => job.id),
    [ids[5], ids[3], ids[2]],
  );
  assert.notEqual(page.nextCursor, null);
  assert.equal(pipeline.mock.callCount(), 1);
  assert.equal(hgetall.mock.callCount(), 0, 'no job is read on its own');
  assert.equal(await env.redis.zscore(store.keys.index, ids[4]!), null);

  const rest = await listJobs(store, { limit: 3, cursor: page.nextCursor ?? undefined });
  assert.deepEqual(
    rest.items.map((job) => job.id),
    [ids[1], ids[0]],
  );
  assert.equal(rest.nextCursor, null);
  const each = await Promise.all([...page.items, ...rest.items].map((job) => readJob(store, job.id)));
  assert.deepEqual([...page.items, ...rest.items], each);
});

test('a page that ends with the last job in the index has no next cursor', async (t) => {
  const { store, submit } = await setUp(t);
  const ids = [await submit('a'), await submit('b')];
  const page = await listJobs(store, { limit: 2 });
  assert.deepEqual(
    page.items.map((job) => job.id),
    [ids[1], ids[0]],
  );
  assert.equal(page.nextCursor, null);
});
