import assert from 'node:assert/strict';
import { test } from 'node:test';

import { closeServer, listen } from '../../../src/api/server.js';
import type { Job } from '../../../src/queue/contracts.js';
import { build } from '../../helpers/app.js';
import { StreamText } from '../../helpers/stream-text.js';

test('listen() serves over HTTP; closeServer() ends open event streams and returns promptly', async (t) => {
  const { app } = await build(t);
  const address = await listen(app, { HOST: '127.0.0.1', PORT: 0 });
  assert.match(address, /^http:\/\/127\.0\.0\.1:\d+$/);

  const health = await fetch(`${address}/healthz`);
  assert.equal(health.status, 200);

  const submitted = await fetch(`${address}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ corpus: { text: 'hello world '.repeat(100) } }),
  });
  assert.equal(submitted.status, 202);
  const { id } = (await submitted.json()) as Job;

  const stream = await fetch(`${address}/jobs/${id}/events`, { headers: { accept: 'text/event-stream' } });
  assert.equal(stream.status, 200);
  assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
  const body = new StreamText(stream.body as AsyncIterable<Uint8Array>);
  await body.until(/event: status\n/);

  const started = performance.now();
  assert.equal(await closeServer(app, 5000), true);
  assert.ok(performance.now() - started < 2000, 'close waited for the open stream');
  assert.match(await body.done, /event: status\ndata: \{"status":"queued"\}/);
});

test('draining: /readyz and every new request but /healthz and /metrics answer 503 RNNLM_SHUTTING_DOWN with Retry-After and Connection: close', async (t) => {
  const draining = new AbortController();
  const { app } = await build(t, { draining: draining.signal });
  assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);

  draining.abort();
  for (const url of ['/readyz', '/jobs', '/models', '/generate?model=mdl_x', '/no-such-route']) {
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 503, url);
    assert.equal(res.headers['retry-after'], '1', url);
    assert.equal(res.headers.connection, 'close', url);
    assert.equal(res.json<{ code: string }>().code, 'RNNLM_SHUTTING_DOWN', url);
    assert.ok(res.headers['x-content-type-options'] !== undefined, `${url}: security headers`);
  }
  assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
  assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
});
