/** Fault suite, over HTTP against a listening server: a burst of retries of one submission. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { build } from '../helpers/app.js';

const CORPUS = 'To be, or not to be, that is the question.\n'.repeat(20);

test('7. 50 concurrent POST /jobs with one Idempotency-Key make one job, and every answer carries its id', async (t) => {
  const { app, jobs } = await build(t);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const body = JSON.stringify({
    name: 'burst',
    corpus: { text: CORPUS },
    model: { layers: 1, hiddenSize: 16, embeddingSize: 8 },
    training: { batchSize: 4, seqLength: 8, maxSteps: 5, seed: 1 },
  });
  const answers = await Promise.all(
    Array.from({ length: 50 }, async () => {
      const res = await fetch(`${base}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'burst-key-1' },
        body,
      });
      return {
        status: res.status,
        location: res.headers.get('location'),
        job: (await res.json()) as { id?: string },
      };
    }),
  );
  const statuses = answers.map((a) => a.status).sort();
  assert.equal(statuses.filter((s) => s === 202).length, 1, `one request created it: ${statuses.join(',')}`);
  assert.equal(statuses.filter((s) => s === 200).length, 49, `the rest found it: ${statuses.join(',')}`);
  const ids = new Set(answers.map((a) => a.job.id));
  assert.equal(ids.size, 1, `one id in every answer: ${[...ids].join(', ')}`);
  const [id] = ids;
  assert.ok(answers.every((a) => a.location === `/jobs/${id}`));
  assert.equal(await jobs.queue.count(), 1, 'one job queued');
  const listed = await jobs.list({ limit: 100 });
  assert.deepEqual(
    listed.items.map((j) => j.id),
    [id],
  );
});
