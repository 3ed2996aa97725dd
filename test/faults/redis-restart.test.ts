/**
 * Item 4: Redis stopped (SIGKILL, as a crash) for 15 s and started again from its append-only
 * file. During the outage the API answers POST /jobs with a 503 within a second instead of
 * hanging; afterwards it takes jobs again, and the worker process, never restarted, finishes
 * the jobs submitted before the outage and the one submitted after it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import { RedisServer } from '../helpers/redis-server.js';
import {
  CORPUS,
  eventsUntil,
  finished,
  jobServiceEnv,
  modelsOnDisk,
  startMain,
  startWorkerProcess,
  waitFor,
} from './harness.js';

const OUTAGE_MS = 15_000;

/** POST /jobs over HTTP; the status, the body and how long the answer took. */
async function postJob(url: string, maxSteps: number) {
  const started = performance.now();
  const res = await fetch(`${url}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      corpus: { text: CORPUS },
      model: { cell: 'lstm', layers: 1, hiddenSize: 16, embeddingSize: 8 },
      // Patience that never runs out: each job runs to its maxSteps, which the test checks.
      training: {
        batchSize: 4,
        seqLength: 8,
        epochs: 1000,
        maxSteps,
        checkpointEvery: 20,
        seed: 7,
        earlyStoppingPatience: 1_000_000,
      },
    }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { id?: string; code?: string };
  return { status: res.status, body, ms: performance.now() - started };
}

test('4. Redis down for 15 s: POST /jobs is a 503 within 1 s, then jobs from before and after complete and the worker resumes by itself', async (t) => {
  const redis = await RedisServer.start(t, { args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  const { env, jobs } = await jobServiceEnv(t, { REDIS_URL: redis.url });
  const api = await startMain(env, 'api');
  assert.ok(api.url !== undefined, api.out.stdout);
  const worker = await startWorkerProcess(env);

  // One job training when Redis goes, one waiting behind it.
  const before = await postJob(api.url, 3000);
  const waiting = await postJob(api.url, 20);
  assert.equal(before.status, 202);
  assert.equal(waiting.status, 202);
  const beforeId = String(before.body.id);
  const waitingId = String(waiting.body.id);
  await eventsUntil(jobs, beforeId, (e) => e.type === 'checkpoint', 60_000, 'the first checkpoint');

  await redis.stop();
  const downAt = Date.now();
  let refused = 0;
  while (Date.now() - downAt < OUTAGE_MS) {
    const during = await postJob(api.url, 20);
    assert.equal(during.status, 503, JSON.stringify(during.body));
    assert.equal(during.body.code, 'RNNLM_REDIS_UNAVAILABLE');
    assert.ok(during.ms < 1000, `a 503 after ${Math.round(during.ms)} ms`);
    refused++;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  assert.ok(refused >= 10);
  await redis.restart();

  // The API reconnects by itself: a POST is accepted again within seconds.
  const after = await waitFor(
    () => postJob(api.url!, 20),
    (r) => r.status === 202,
    15_000,
    'POST /jobs to be accepted again',
  );
  const afterId = String(after.body.id);
  const done = await Promise.all([beforeId, waitingId, afterId].map((id) => finished(jobs, id, 120_000)));
  for (const job of done) assert.equal(job.status, 'succeeded', `${job.id}: ${JSON.stringify(job.error)}`);
  assert.equal(done[0]?.progress.step, 3000);
  assert.ok(worker.running(), 'the same worker process did it');

  // One complete model per job and nothing half-written.
  assert.deepEqual(await modelsOnDisk(join(env.dataDir, 'models')), {
    models: done.map((j) => j.modelId).sort(),
    other: [],
  });
});
