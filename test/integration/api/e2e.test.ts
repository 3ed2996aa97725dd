/**
 * The API with a real TrainingWorker (its processor in a child process): a job submitted over
 * HTTP trains, its events stream live until it succeeds, and its model then generates and
 * scores over HTTP; a running job is cancelled over HTTP.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';

import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';

import type { Job } from '../../../src/queue/contracts.js';
import { TrainingWorker } from '../../../src/worker/training-worker.js';
import { SHAKESPEARE } from '../../helpers/ml.js';
import {
  assertMatchesOpenApi,
  build,
  compileOpenApiSchema,
  openapi,
  parseSse,
  type TestApp,
} from '../../helpers/app.js';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

async function withWorker(t: TestContext): Promise<TestApp> {
  const built = await build(t);
  const worker = new TrainingWorker({ config: built.config, logger: pino({ level: 'silent' }) });
  t.after(() => worker.close(10_000));
  await worker.waitUntilReady();
  return built;
}

async function poll(app: FastifyInstance, id: string, done: (job: Job) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await app.inject({ method: 'GET', url: `/jobs/${id}` });
    assertMatchesOpenApi(res, 'GET /jobs/{id}');
    const job = res.json<Job>();
    if (done(job)) return job;
    assert.ok(Date.now() < deadline, `job ${id} is still ${job.status}`);
    await sleep(100);
  }
}

test('submit → running → succeeded, events streamed live, then generate and score the model', async (t) => {
  const { app } = await withWorker(t);
  const submitted = await app.inject({
    method: 'POST',
    url: '/jobs',
    payload: {
      name: 'e2e',
      corpus: { text: SHAKESPEARE.slice(0, 8000) },
      model: { layers: 1, hiddenSize: 16, embeddingSize: 8 },
      training: { batchSize: 4, seqLength: 8, maxSteps: 20, evalEvery: 10, checkpointEvery: 10, seed: 2 },
    },
  });
  assert.equal(submitted.statusCode, 202, submitted.body);
  const { id } = submitted.json<Job>();

  // Follows the job from the start; the stream ends by itself after the final status.
  const stream = await app.inject({ method: 'GET', url: `/jobs/${id}/events` });
  assert.equal(stream.statusCode, 200);
  const { events } = parseSse(stream.body);
  // Each streamed event is a JobEvent as openapi.yaml describes it.
  const validate = compileOpenApiSchema(openapi.components.schemas.JobEvent, 'component JobEvent');
  for (const e of events) {
    assert.ok(validate({ id: e.id, type: e.event, data: e.data }), JSON.stringify(validate.errors));
  }
  const types = new Set(events.map((e) => e.event));
  assert.ok(types.has('progress'), stream.body);
  const statuses = events
    .filter((e) => e.event === 'status')
    .map((e) => (e.data as { status: string }).status);
  assert.equal(statuses[0], 'queued');
  assert.equal(statuses.at(-1), 'succeeded', stream.body);

  const job = await poll(app, id, (j) => FINISHED.has(j.status), 30_000);
  assert.equal(job.status, 'succeeded');
  assert.ok(job.modelId !== undefined);
  assert.equal(job.progress.fraction, 1);
  assert.ok(job.startedAt !== undefined && job.finishedAt !== undefined);

  const events2 = await app.inject({ method: 'GET', url: `/jobs/${id}/events?format=json` });
  assertMatchesOpenApi(events2, 'GET /jobs/{id}/events');

  const model = await app.inject({ method: 'GET', url: `/models/${job.modelId}` });
  assert.equal(model.statusCode, 200, model.body);
  assertMatchesOpenApi(model, 'GET /models/{id}');
  assert.equal(model.json<{ jobId: string }>().jobId, id);

  const generated = await app.inject({
    method: 'GET',
    url: `/generate?model=${job.modelId}&prompt=KING&maxTokens=10&seed=1`,
  });
  assert.equal(generated.statusCode, 200, generated.body);
  assertMatchesOpenApi(generated, 'GET /generate');
  assert.equal(generated.json<{ tokens: number }>().tokens, 10);

  const scored = await app.inject({
    method: 'POST',
    url: '/score',
    payload: { model: job.modelId, text: 'To be, or not to be' },
  });
  assert.equal(scored.statusCode, 200, scored.body);
  assertMatchesOpenApi(scored, 'POST /score');
  assert.ok(scored.json<{ perplexity: number }>().perplexity > 1);
});

test('POST /jobs/:id/cancel stops a running job, which ends cancelled', async (t) => {
  const { app } = await withWorker(t);
  const submitted = await app.inject({
    method: 'POST',
    url: '/jobs',
    payload: {
      corpus: { text: SHAKESPEARE.slice(0, 8000) },
      model: { layers: 1, hiddenSize: 16, embeddingSize: 8 },
      training: { batchSize: 4, seqLength: 8, epochs: 1000, seed: 2 },
    },
  });
  const { id } = submitted.json<Job>();
  await poll(app, id, (j) => j.status === 'running' && j.progress.step > 0, 30_000);
  const res = await app.inject({ method: 'POST', url: `/jobs/${id}/cancel` });
  assert.equal(res.statusCode, 202);
  assertMatchesOpenApi(res, 'POST /jobs/{id}/cancel');
  const job = await poll(app, id, (j) => FINISHED.has(j.status), 30_000);
  assert.equal(job.status, 'cancelled');
  assert.equal(job.modelId, undefined);

  const stream = await app.inject({ method: 'GET', url: `/jobs/${id}/events` });
  const last = parseSse(stream.body).events.at(-1);
  assert.deepEqual([last?.event, (last?.data as { status?: string }).status], ['status', 'cancelled']);
});
