import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertMatchesOpenApi, build, closedPort } from '../../helpers/app.js';

const JOB_ID = `job_${'b'.repeat(26)}`;

test('503 RNNLM_REDIS_UNAVAILABLE, within a second, when Redis does not answer', async (t) => {
  const port = await closedPort();
  const { app } = await build(t, { env: { REDIS_URL: `redis://127.0.0.1:${port}` }, expectRedisDown: true });
  const requests = [
    [{ method: 'GET', url: '/readyz' }, 'GET /readyz'],
    [{ method: 'GET', url: `/jobs/${JOB_ID}` }, 'GET /jobs/{id}'],
    [{ method: 'GET', url: '/jobs' }, 'GET /jobs'],
    [{ method: 'POST', url: `/jobs/${JOB_ID}/cancel` }, 'POST /jobs/{id}/cancel'],
    [{ method: 'GET', url: `/jobs/${JOB_ID}/events` }, 'GET /jobs/{id}/events'],
    // Long enough for one batch: a corpus too small is refused before Redis is asked.
    [
      { method: 'POST', url: '/jobs', payload: { corpus: { text: 'some text to train on. '.repeat(10) } } },
      'POST /jobs',
    ],
  ] as const;
  for (const [request, operation] of requests) {
    const started = performance.now();
    const res = await app.inject(request);
    const ms = performance.now() - started;
    assert.equal(res.statusCode, 503, `${operation}: ${res.body}`);
    assertMatchesOpenApi(res, operation);
    const body = res.json<{ code: string; error: string; message: string }>();
    assert.equal(body.code, 'RNNLM_REDIS_UNAVAILABLE');
    assert.equal(body.error, 'Service Unavailable');
    // A fixed text: the details (the Redis address) stay in the logs.
    assert.equal(body.message, 'The job store (Redis) is unavailable; try again later');
    assert.ok(ms < 1000, `${operation} took ${Math.round(ms)} ms`);
  }
  // The process itself is alive.
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(health.statusCode, 200);
});
