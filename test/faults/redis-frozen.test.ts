/**
 * Item 3 of issue 14: Redis frozen (SIGSTOP: it keeps its connections and answers nothing, as
 * under a `DEBUG SLEEP` or a stalled failover). Every Redis-backed route answers 503
 * RNNLM_REDIS_UNAVAILABLE within 1.5 s, generation on a model already loaded keeps answering,
 * and when Redis thaws everything recovers by itself: the submissions refused during the
 * freeze left nothing behind, and each accepted job ran to one model.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import { RedisServer } from '../helpers/redis-server.js';
import { CORPUS, eventsUntil, finished, jobServiceEnv, modelsOnDisk, startMain, waitFor } from './harness.js';

const FREEZE_MS = 8000;

function jobBody(maxSteps: number): string {
  return JSON.stringify({
    corpus: { text: CORPUS },
    model: { cell: 'lstm', layers: 1, hiddenSize: 16, embeddingSize: 8 },
    training: { batchSize: 4, seqLength: 8, epochs: 1000, maxSteps, checkpointEvery: 20, seed: 7 },
  });
}

async function call(url: string, path: string, init: RequestInit = {}) {
  const started = performance.now();
  const res = await fetch(`${url}${path}`, { ...init, signal: AbortSignal.timeout(15_000) });
  const json = (await res.json()) as { id?: string; code?: string; text?: string; modelId?: string };
  return { status: res.status, json, ms: performance.now() - started };
}

const post = (payload: string, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: payload,
});

test('3. Redis frozen: every Redis-backed route is a 503 within 1.5 s, generation goes on, and all recovers on thaw', async (t) => {
  const redis = await RedisServer.start(t);
  const { env, jobs } = await jobServiceEnv(t, { REDIS_URL: redis.url });
  const api = await startMain(env, 'api');
  const url = api.url;
  assert.ok(url !== undefined, api.out.stdout);
  await startMain(env, 'worker');

  // A model to generate from, loaded before the freeze.
  const small = await call(url, '/jobs', post(jobBody(20)));
  assert.equal(small.status, 202);
  const smallJob = await finished(jobs, String(small.json.id));
  assert.equal(smallJob.status, 'succeeded', JSON.stringify(smallJob.error));
  const model = String(smallJob.modelId);
  const warm = await call(url, `/generate?model=${model}&maxTokens=5&seed=1`);
  assert.equal(warm.status, 200, JSON.stringify(warm.json));

  // A job training across the freeze.
  const long = await call(url, '/jobs', post(jobBody(600)));
  assert.equal(long.status, 202);
  const longId = String(long.json.id);
  await eventsUntil(jobs, longId, (e) => e.type === 'checkpoint', 60_000, 'the first checkpoint');

  redis.freeze();
  const frozenAt = Date.now();
  const missing = 'job_00000000000000000000000000';
  const routes: [string, string, RequestInit?][] = [
    // First, so its key is claimed in the frozen Redis (and must be given back on thaw).
    ['POST /jobs (Idempotency-Key)', '/jobs', post(jobBody(20), { 'idempotency-key': 'frozen-1' })],
    ['POST /jobs', '/jobs', post(jobBody(20))],
    ['GET /jobs', '/jobs'],
    ['GET /jobs/{id}', `/jobs/${longId}`],
    ['GET /jobs/{id}/events', `/jobs/${longId}/events?format=json`],
    ['POST /jobs/{id}/cancel', `/jobs/${missing}/cancel`, { method: 'POST' }],
    ['GET /readyz', '/readyz'],
  ];
  // Twice round: the first request finds Redis silent, the rest are refused at once.
  const took: number[] = [];
  for (let round = 0; round < 2; round++) {
    for (const [name, path, init] of routes) {
      const res = await call(url, path, init);
      took.push(Math.round(res.ms));
      assert.equal(res.status, 503, `${name}: ${JSON.stringify(res.json)}`);
      assert.equal(res.json.code, 'RNNLM_REDIS_UNAVAILABLE', name);
      assert.ok(res.ms < 1500, `${name}: a 503 after ${Math.round(res.ms)} ms`);
    }
  }
  t.diagnostic(`503 answers in ms, in order: ${took.join(', ')}`);
  const generated = await call(url, `/generate?model=${model}&maxTokens=5&seed=1`);
  assert.equal(generated.status, 200, JSON.stringify(generated.json));
  assert.equal(generated.json.text, warm.json.text, 'the same seeded text as before the freeze');
  assert.ok(generated.ms < 1500, `generation took ${Math.round(generated.ms)} ms`);
  t.diagnostic(`generation during the freeze: ${Math.round(generated.ms)} ms`);
  assert.ok(Date.now() - frozenAt < FREEZE_MS, 'the checks ran within the freeze');
  await new Promise((resolve) => setTimeout(resolve, FREEZE_MS - (Date.now() - frozenAt)));
  redis.thaw();

  // The API recovers by itself: a submission is accepted again within seconds.
  const after = await waitFor(
    () => call(url, '/jobs', post(jobBody(20))),
    (r) => r.status === 202,
    15_000,
    'POST /jobs to be accepted again',
  );
  const accepted = [small.json.id, longId, after.json.id].map(String);
  const done = await Promise.all(accepted.map((id) => finished(jobs, id, 120_000)));
  for (const job of done) assert.equal(job.status, 'succeeded', `${job.id}: ${JSON.stringify(job.error)}`);

  // Exactly the accepted jobs exist: none of the refused submissions was queued after the thaw.
  const listing = await call(url, '/jobs?limit=100');
  assert.equal(listing.status, 200);
  const listed = (listing.json as unknown as { items: { id: string }[] }).items.map((j) => j.id);
  assert.deepEqual(listed.sort(), [...accepted].sort());
  const counts = await jobs.queue.getJobCounts('waiting', 'delayed', 'active', 'completed', 'failed');
  assert.deepEqual(counts, { waiting: 0, delayed: 0, active: 0, completed: 3, failed: 0 });
  assert.deepEqual(await modelsOnDisk(join(env.dataDir, 'models')), {
    models: done.map((j) => j.modelId).sort(),
    other: [],
  });
  const keyed = await call(url, '/jobs', post(jobBody(20), { 'idempotency-key': 'frozen-1' }));
  assert.equal(keyed.status, 202, 'the key of a refused submission is free again');
});
