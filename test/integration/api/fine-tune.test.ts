/**
 * Fine-tuning over HTTP: POST /jobs with `baseModel` starts from a published model, refuses a
 * contradicting configuration by field, reports the text the base vocabulary cannot encode
 * and records the lineage in the new model.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';

import type { Job } from '../../../src/queue/contracts.js';
import { TrainingWorker } from '../../../src/worker/training-worker.js';
import { assertMatchesOpenApi, parseSse, useSharedTinyModel } from '../../helpers/app.js';

const withModel = useSharedTinyModel();

async function finished(app: FastifyInstance, id: string): Promise<Job> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const job = (await app.inject({ method: 'GET', url: `/jobs/${id}` })).json<Job>();
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
    assert.ok(Date.now() < deadline, `job ${id} is still ${job.status}`);
    await sleep(100);
  }
}

test('a job with baseModel trains from that model, says how much text became <unk>, and the new model names its base', async (t) => {
  const built = await withModel(t);
  const { app, id: base } = built;
  const worker = new TrainingWorker({ config: built.config, logger: pino({ level: 'silent' }) });
  t.after(() => worker.close(10_000));
  await worker.waitUntilReady();

  const submitted = await app.inject({
    method: 'POST',
    url: '/jobs',
    payload: {
      baseModel: base,
      // The shared model is char-level on Shakespeare; digits are not in its vocabulary.
      corpus: { text: 'To be, or not to be 1234567890\n'.repeat(60) },
      model: { hiddenSize: 16, cell: 'lstm' },
      training: { batchSize: 4, seqLength: 8, maxSteps: 3, seed: 1 },
    },
  });
  assert.equal(submitted.statusCode, 202, submitted.body);
  assertMatchesOpenApi(submitted, 'POST /jobs');
  const job = submitted.json<Job>();
  assert.equal(job.baseModel, base);
  const done = await finished(app, job.id);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));

  const { events } = parseSse((await app.inject({ method: 'GET', url: `/jobs/${job.id}/events` })).body);
  const unk = events.find((e) => e.event === 'log' && (e.data as { baseModel?: string }).baseModel === base);
  assert.ok(unk !== undefined, 'a log event reports the <unk> share');
  const data = unk.data as { tokens: number; unknownTokens: number };
  assert.ok(data.unknownTokens > 0 && data.unknownTokens < data.tokens, JSON.stringify(data));

  const model = await app.inject({ method: 'GET', url: `/models/${done.modelId ?? ''}` });
  assertMatchesOpenApi(model, 'GET /models/{id}');
  assert.equal(model.json<{ baseModel: string | null }>().baseModel, base);
  const original = await app.inject({ method: 'GET', url: `/models/${base}` });
  assert.equal(original.json<{ baseModel: string | null }>().baseModel, null);
});

test('a baseModel request whose model or tokenizer contradicts the base is a 400 naming the field', async (t) => {
  const { app, id: base } = await withModel(t);
  const submit = (extra: Record<string, unknown>) =>
    app.inject({
      method: 'POST',
      url: '/jobs',
      payload: { baseModel: base, corpus: { text: 'some new text\n'.repeat(100) }, ...extra },
    });
  for (const [extra, field] of [
    [{ model: { hiddenSize: 17 } }, 'model.hiddenSize'],
    [{ model: { cell: 'gru' } }, 'model.cell'],
    [{ tokenizer: { type: 'word' } }, 'tokenizer.type'],
  ] as const) {
    const res = await submit(extra);
    assert.equal(res.statusCode, 400, res.body);
    assertMatchesOpenApi(res, 'POST /jobs');
    assert.match(
      res.json<{ message: string }>().message,
      new RegExp(`^body\\.${field.replace('.', '\\.')}:`),
    );
  }
  const missing = await submit({ baseModel: 'mdl_00000000000000000000000000' });
  assert.equal(missing.statusCode, 400);
  assert.match(missing.json<{ message: string }>().message, /^body\.baseModel:/);
});
