/**
 * Redis behind Sentinel: a primary with an append-only file, a replica and three sentinels, the
 * API and two workers configured with REDIS_SENTINELS. The primary is killed (SIGKILL) while
 * jobs train and generations stream: the sentinels promote the replica, every process finds
 * the new primary by itself, the API reads jobs back within 10 s, every job finishes exactly
 * once, and streamed generation on a loaded model never stops.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import { publishTinyModel } from '../helpers/app.js';
import { SentinelDeployment } from '../helpers/redis-server.js';
import {
  CORPUS,
  DEFAULT_LOCK,
  eventsUntil,
  finished,
  jobServiceEnv,
  modelsOnDisk,
  startMain,
  startWorkerProcess,
  statuses,
  streamGeneration,
  waitFor,
  type StreamedGeneration,
} from './harness.js';

/** POST /jobs over HTTP: a tiny model trained for `maxSteps`. */
async function postJob(url: string, maxSteps: number): Promise<{ status: number; id: string }> {
  const res = await fetch(`${url}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      corpus: { text: CORPUS },
      model: { cell: 'lstm', layers: 1, hiddenSize: 16, embeddingSize: 8 },
      training: { batchSize: 4, seqLength: 8, epochs: 1000, maxSteps, checkpointEvery: 20, seed: 7 },
    }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { id?: string };
  return { status: res.status, id: String(body.id) };
}

test('Redis primary killed under Sentinel: the replica is promoted, reads are back within 10 s, every job finishes exactly once, generation never stops', async (t) => {
  const redis = await SentinelDeployment.start(t);
  const { env, jobs } = await jobServiceEnv(t, {
    REDIS_SENTINELS: redis.addresses,
    REDIS_SENTINEL_NAME: redis.name,
  });
  const model = await publishTinyModel(join(env.dataDir, 'models'));
  const api = await startMain(env, 'api', { RNNLM_RATE_LIMIT_MAX: '1000000' });
  assert.ok(api.url !== undefined, api.out.stdout);
  assert.match(api.out.stdout, /redis\s+the primary of "rnnlm" \(sentinels 127\.0\.0\.1:\d+, /);
  // The deployed lock (10 s) outlasts the failover (about 2.5 s): no job is taken for stalled.
  const workers = await Promise.all([0, 1].map(() => startWorkerProcess(env, DEFAULT_LOCK)));

  const submitted = await Promise.all([800, 800, 100, 100].map((steps) => postJob(api.url!, steps)));
  assert.deepEqual(
    submitted.map((s) => s.status),
    [202, 202, 202, 202],
  );
  const ids = submitted.map((s) => s.id);
  const training = await Promise.all(
    ids
      .slice(0, 2)
      .map((id) => eventsUntil(jobs, id, (e) => e.type === 'checkpoint', 60_000, `job ${id} to checkpoint`)),
  );
  assert.equal(training.length, 2);

  // Streamed generations, four at a time, from before the kill until every job has finished.
  const generations: StreamedGeneration[] = [];
  let generating = true;
  // However the test ends, the clients stop: a failed wait must not leave them streaming forever.
  t.after(() => {
    generating = false;
  });
  const clients = [0, 1, 2, 3].map(async () => {
    while (generating) {
      try {
        generations.push(await streamGeneration(api.url!, model, 30));
      } catch (err) {
        // Once told to stop (the test is over and its API may be closing), a cut stream is expected.
        if (generating) throw err;
      }
    }
  });
  await waitFor(
    () => Promise.resolve(generations.length),
    (n) => n >= 8,
    30_000,
    'generations before the kill',
  );

  const killedAt = Date.now();
  await redis.primary.stop('SIGKILL');
  await redis.primaryIs(redis.replica.port);
  const promotedMs = Date.now() - killedAt;

  // The API follows the sentinels to the new primary: a job reads back over HTTP ...
  await waitFor(
    () =>
      fetch(`${api.url}/jobs/${ids[0]}`, { signal: AbortSignal.timeout(5000) })
        .then((r) => r.status)
        .catch(() => 0),
    (status) => status === 200,
    10_000,
    'GET /jobs/:id to answer again',
  );
  const readsBackMs = Date.now() - killedAt;
  // ... and a new one is taken and trained.
  const after = await waitFor(
    () => postJob(api.url!, 100).catch(() => ({ status: 0, id: '' })),
    (r) => r.status === 202,
    10_000,
    'POST /jobs to be accepted again',
  );
  ids.push(after.id);

  // The old primary comes back from its AOF and the sentinels make it a replica of the new one.
  await redis.primary.restart();
  const done = await Promise.all(ids.map((id) => finished(jobs, id, 180_000)));
  await waitFor(
    () => redis.primary.role(),
    (role) => role === 'slave',
    30_000,
    'the old primary to rejoin as a replica',
  );
  generating = false;
  await Promise.all(clients);

  for (const job of done) {
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const events = await jobs.events(job.id);
    // Exactly once: it ran once (never taken for stalled) and succeeded once.
    assert.deepEqual(statuses(events), ['queued', 'running', 'succeeded'], job.id);
    assert.equal((await jobs.queue.getJob(job.id))?.stalledCounter, 0, job.id);
  }
  const published = done.map((j) => j.modelId as string);
  assert.equal(new Set(published).size, ids.length);
  assert.deepEqual(await modelsOnDisk(join(env.dataDir, 'models')), {
    models: [model, ...published].sort(),
    other: [],
  });

  const failed = generations.filter((g) => g.status !== 200 || !g.done);
  assert.deepEqual(failed, [], 'every generation streamed to its done event');
  const during = generations.filter((g) => g.startedAt >= killedAt && g.endedAt <= killedAt + readsBackMs);
  assert.ok(during.length > 0, 'generations ran while Redis failed over');
  const ends = generations.map((g) => g.endedAt).sort((a, b) => a - b);
  const longestGapMs = Math.max(...ends.slice(1).map((end, i) => end - (ends[i] as number)));
  t.diagnostic(
    `primary killed: promoted after ${promotedMs} ms, reads back after ${readsBackMs} ms; ` +
      `${generations.length} generations, ${during.length} during the failover, longest gap between two ${longestGapMs} ms`,
  );
  for (const worker of workers) assert.ok(worker.running(), 'the workers reconnected by themselves');
});
