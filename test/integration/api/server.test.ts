import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import { closeServer, listen } from '../../../src/api/server.js';
import type { Job } from '../../../src/queue/contracts.js';
import { build } from '../../helpers/app.js';

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
  const body = stream.text();
  await sleep(100);

  const started = performance.now();
  assert.equal(await closeServer(app, 5000), true);
  assert.ok(performance.now() - started < 2000, 'close waited for the open stream');
  assert.match(await body, /event: status\ndata: \{"status":"queued"\}/);
});
