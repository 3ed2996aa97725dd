/**
 * Item 5 of issue 14: an error answer never amplifies the request. A body with thousands of
 * unknown keys (or one enormous key) gets a 400 that lists the first few problems and a count,
 * and no log line of the server carries more than a few kB.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CORPUS, jobServiceEnv, startMain, waitFor } from './harness.js';

/** The most an error answer or a log line may take, whatever the request. */
const MAX_BYTES = 8 * 1024;

function withUnknownKeys(count: number, keyLength = 8): Record<string, unknown> {
  const body: Record<string, unknown> = {
    corpus: { text: CORPUS.slice(0, 500) },
    model: { layers: 1, hiddenSize: 16, embeddingSize: 8 },
  };
  for (let i = 0; i < count; i++) body[`k${String(i).padStart(keyLength, '0')}`] = 1;
  return body;
}

test('5. 400s for bodies with 10,000 or 200,000 unknown keys, or a 100 kB key, stay small, and so do the log lines', async (t) => {
  const { env } = await jobServiceEnv(t);
  const api = await startMain(env, 'api', { RNNLM_LOG_LEVEL: 'info' });
  const url = api.url;
  assert.ok(url !== undefined, api.out.stdout);

  const cases: [string, string, unknown, number][] = [
    ['POST /jobs, 10,000 keys', '/jobs', withUnknownKeys(10_000), 10_000],
    ['POST /jobs, 200,000 keys', '/jobs', withUnknownKeys(200_000), 200_000],
    ['POST /jobs, one 100 kB key', '/jobs', withUnknownKeys(1, 100_000), 1],
    [
      'POST /score, 10,000 keys',
      '/score',
      { model: 'mdl_00000000000000000000000000', text: 'x', ...withUnknownKeys(10_000) },
      10_002,
    ],
  ];
  for (const [what, path, payload, unknown] of cases) {
    const body = JSON.stringify(payload);
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    assert.equal(res.status, 400, `${what}: ${text.slice(0, 500)}`);
    assert.ok(
      text.length <= MAX_BYTES,
      `${what}: a ${text.length}-byte answer to a ${body.length}-byte body`,
    );
    const answer = JSON.parse(text) as { code: string; message: string; fields?: unknown[] };
    assert.equal(answer.code, 'RNNLM_INVALID_REQUEST', what);
    assert.ok((answer.fields?.length ?? 0) <= 20, `${what}: ${answer.fields?.length} fields listed`);
    if (unknown > 20) assert.match(answer.message, new RegExp(`and ${unknown - 20} more$`), what);
  }

  // Once Fastify has logged the last request's completion, look at every line written.
  await waitFor(
    () => Promise.resolve(api.out.stdout.split('"msg":"request completed"').length - 1),
    (completed) => completed >= cases.length,
    10_000,
    'the log line of every request',
  );
  const lines = api.out.stdout.split('\n');
  const longest = Math.max(...lines.map((l) => l.length));
  assert.ok(
    longest <= MAX_BYTES,
    `a ${longest}-byte log line: ${lines.find((l) => l.length === longest)?.slice(0, 300)}`,
  );
  assert.ok(
    lines.some((l) => l.includes('request refused')),
    'the refusals were logged (so the log was looked at)',
  );
});
