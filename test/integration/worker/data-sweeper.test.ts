/**
 * The worker's sweep against a real Redis, with jobs put in each BullMQ state by hand: what it
 * removes of a job is decided by the job's state in the queue (running, waiting, completed,
 * failed, cancelled while queued, unknown), and the corpora by the jobs that still read them.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { Worker } from 'bullmq';

import { dataDirs } from '../../../src/config.js';
import { modelIdOfJob, newJobId } from '../../../src/ids.js';
import { closeConnection, createWorkerConnection } from '../../../src/queue/connection.js';
import { createTrainingQueue, serviceKeys, TRAINING_QUEUE } from '../../../src/queue/training-queue.js';
import { DataSweeper } from '../../../src/worker/data-sweeper.js';
import { testEnv } from '../queue/harness.js';

const HOUR = 3_600_000;

test('a sweep removes every file of completed, failed and cancelled jobs at once, and keeps those of running and waiting jobs and the corpora they read', async (t) => {
  const env = await testEnv(t, { RNNLM_DEBRIS_MAX_AGE_MS: String(HOUR) });
  const dirs = dataDirs(env.config);
  const connection = createWorkerConnection(env.config);
  const queue = createTrainingQueue(env.config, connection);
  // Takes jobs by hand (no processor), so each stays in the state the test puts it in.
  const taker = new Worker(TRAINING_QUEUE, null, {
    connection,
    prefix: env.config.RNNLM_QUEUE_PREFIX,
    autorun: false,
  });
  env.defer(async () => {
    await taker.close(true);
    await queue.close();
    await closeConnection(connection);
  });

  const [running, waiting, completed, failed, cancelled, unknown] = [
    newJobId(),
    newJobId(),
    newJobId(),
    newJobId(),
    newJobId(),
    newJobId(),
  ];
  const corpusOf = new Map(
    [running, waiting, completed, failed, cancelled].map((job, i) => [job, String(i).repeat(64)]),
  );
  // One attempt each: the failed one fails for good instead of waiting to be retried.
  const add = (id: string) =>
    queue.add('train', { corpus: { sha256: corpusOf.get(id), bytes: 4 } } as never, {
      jobId: id,
      attempts: 1,
    });
  const take = async (id: string) => {
    const job = await taker.getNextJob(`token-${id}`);
    assert.equal(job?.id, id);
    return job;
  };
  await add(running);
  await take(running);
  await add(completed);
  await (await take(completed)).moveToCompleted({}, `token-${completed}`, false);
  await add(failed);
  await (await take(failed)).moveToFailed(new Error('RNNLM_INTERNAL: boom'), `token-${failed}`, false);
  await add(waiting);
  await add(cancelled);
  // Cancelled while queued: BullMQ forgets the job, the service keeps its record.
  await queue.remove(cancelled);
  await env.redis.hset(serviceKeys(env.config.RNNLM_QUEUE_PREFIX).record(cancelled), 'status', 'cancelled');
  assert.deepEqual(
    await Promise.all([running, waiting, completed, failed, cancelled].map((id) => queue.getJobState(id))),
    ['active', 'waiting', 'completed', 'failed', 'unknown'],
  );

  // Each job's checkpoint, and a killed writer's temporary directory beside it and beside its
  // model, all younger than the age limit (so only the job's state can have them removed);
  // its corpus older than it (so only a job that reads it keeps it).
  const dir = async (path: string) => {
    await mkdir(path, { recursive: true });
    await writeFile(join(path, 'state.json'), '{}');
  };
  const old = new Date(Date.now() - 2 * HOUR);
  await mkdir(dirs.corpora, { recursive: true });
  for (const job of [running, waiting, completed, failed, cancelled, unknown]) {
    await dir(join(dirs.checkpoints, job));
    await dir(join(dirs.checkpoints, `.${job}.tmp-1-AbCdEf`));
    await dir(join(dirs.models, `.${modelIdOfJob(job)}.tmp-1-AbCdEf`));
    const corpus = join(dirs.corpora, `${corpusOf.get(job)}.txt`);
    if (!corpusOf.has(job)) continue;
    await writeFile(corpus, 'text');
    await utimes(corpus, old, old);
  }

  const sweeper = new DataSweeper({ config: env.config, logger: env.logger, connection });
  const result = await sweeper.sweep();
  await sweeper.close();
  assert.ok(result !== undefined, 'the sweep could read the queue');

  // Unknown to the queue, and young: kept until it is old.
  const kept = [running, waiting, unknown];
  assert.deepEqual(
    (await readdir(dirs.checkpoints)).sort(),
    kept.flatMap((job) => [job, `.${job}.tmp-1-AbCdEf`]).sort(),
  );
  assert.deepEqual(
    (await readdir(dirs.models)).sort(),
    kept.map((job) => `.${modelIdOfJob(job)}.tmp-1-AbCdEf`).sort(),
  );
  assert.deepEqual(
    (await readdir(dirs.corpora)).sort(),
    [`${corpusOf.get(running)}.txt`, `${corpusOf.get(waiting)}.txt`].sort(),
  );
});
