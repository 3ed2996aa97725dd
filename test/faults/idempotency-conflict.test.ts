/**
 * Item 1 of issue 14: an Idempotency-Key reused with a different body is a 422 (the first job
 * is left as it was), and one whose first request is still being processed is a 409, instead
 * of the first job in silence or a 500.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { newJobId, serviceKeys } from '../../src/queue/training-queue.js';
import { CORPUS, jobServiceEnv, startMain } from './harness.js';

function body(name: string): string {
  return JSON.stringify({
    name,
    corpus: { text: CORPUS },
    model: { layers: 1, hiddenSize: 16, embeddingSize: 8 },
    training: { batchSize: 4, seqLength: 8, maxSteps: 5, seed: 1 },
  });
}

async function post(url: string, key: string, payload: string) {
  const started = performance.now();
  const res = await fetch(`${url}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: payload,
    signal: AbortSignal.timeout(20_000),
  });
  const json = (await res.json()) as { id?: string; code?: string; message?: string };
  return {
    status: res.status,
    json,
    retryAfter: res.headers.get('retry-after'),
    ms: performance.now() - started,
  };
}

test('1. an Idempotency-Key reused with a different body is a 422 and leaves the first job alone', async (t) => {
  const { env, jobs } = await jobServiceEnv(t);
  const api = await startMain(env, 'api');
  assert.ok(api.url !== undefined, api.out.stdout);

  const first = await post(api.url, 'order-42', body('first'));
  assert.equal(first.status, 202, JSON.stringify(first.json));
  const other = await post(api.url, 'order-42', body('second'));
  assert.equal(other.status, 422, JSON.stringify(other.json));
  assert.equal(other.json.code, 'RNNLM_IDEMPOTENCY_KEY_REUSED');
  assert.match(String(other.json.message), /different request/);

  // A true retry still finds the first job.
  const retry = await post(api.url, 'order-42', body('first'));
  assert.equal(retry.status, 200, JSON.stringify(retry.json));
  assert.equal(retry.json.id, first.json.id);
  const listed = await jobs.list({ limit: 100 });
  assert.deepEqual(
    listed.items.map((j) => [j.id, j.name]),
    [[first.json.id, 'first']],
  );
});

test('1. a request whose Idempotency-Key is still held by a request in flight is a 409 with Retry-After', async (t) => {
  const { env } = await jobServiceEnv(t);
  const api = await startMain(env, 'api');
  assert.ok(api.url !== undefined, api.out.stdout);
  // What a first request holds while it is still storing its corpus and queueing its job: the
  // key claimed for a job id that has no record yet.
  const keys = serviceKeys(env.config.RNNLM_QUEUE_PREFIX);
  const hashed = createHash('sha256').update('slow-first').digest('hex');
  await env.redis.set(keys.idempotency(hashed), newJobId(), 'EX', 60);

  const second = await post(api.url, 'slow-first', body('same'));
  assert.equal(second.status, 409, JSON.stringify(second.json));
  assert.equal(second.json.code, 'RNNLM_IDEMPOTENCY_KEY_IN_USE');
  assert.ok(Number(second.retryAfter) >= 1, `Retry-After: ${second.retryAfter}`);
});
