import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import type { InjectOptions } from 'fastify';

import { loadNativeKernels } from '../../../src/ml/native.js';
import type { Job, JobEvent } from '../../../src/queue/contracts.js';
import { SHAKESPEARE } from '../../helpers/ml.js';
import { assertMatchesOpenApi, build, multipart, parseSse } from '../../helpers/app.js';
import { StreamText } from '../../helpers/stream-text.js';

const CORPUS = SHAKESPEARE.slice(0, 5000);
const TINY = {
  model: { layers: 1, hiddenSize: 16, embeddingSize: 8 },
  training: { batchSize: 4, seqLength: 8, maxSteps: 5, seed: 1 },
};

test('POST /jobs (JSON) queues a job: 202, Location, the job; GET /jobs/:id returns it', async (t) => {
  const { app } = await build(t);
  const res = await app.inject({
    method: 'POST',
    url: '/jobs',
    payload: { name: 'tiny', corpus: { text: CORPUS }, validation: { fraction: 0.2 }, ...TINY },
  });
  assert.equal(res.statusCode, 202, res.body);
  assertMatchesOpenApi(res, 'POST /jobs');
  const job = res.json<Job>();
  assert.equal(res.headers.location, `/jobs/${job.id}`);
  assert.equal(job.name, 'tiny');
  assert.equal(job.status, 'queued');
  // Defaults are filled in for everything but the corpus.
  assert.equal(job.config.model.cell, 'lstm');
  assert.equal(job.config.model.hiddenSize, 16);
  assert.equal(job.config.training.optimizer, 'adam');

  const got = await app.inject({ method: 'GET', url: `/jobs/${job.id}` });
  assert.equal(got.statusCode, 200);
  assertMatchesOpenApi(got, 'GET /jobs/{id}');
  assert.equal(got.json<Job>().id, job.id);
});

test('POST /jobs (multipart): the corpus file and the JSON config field', async (t) => {
  const { app } = await build(t);
  const form = multipart([
    { name: 'config', value: JSON.stringify({ name: 'from a file', ...TINY }) },
    { name: 'corpus', value: Buffer.from(CORPUS), filename: 'corpus.txt', contentType: 'text/plain' },
  ]);
  const res = await app.inject({ method: 'POST', url: '/jobs', ...form });
  assert.equal(res.statusCode, 202, res.body);
  assertMatchesOpenApi(res, 'POST /jobs');
  const job = res.json<Job>();
  assert.equal(job.name, 'from a file');
  assert.equal(job.config.training.batchSize, 4);

  const withValidation = multipart([
    { name: 'corpus', value: Buffer.from(CORPUS), filename: 'corpus.txt' },
    { name: 'validation', value: Buffer.from(SHAKESPEARE.slice(-2000)), filename: 'valid.txt' },
  ]);
  const validated = await app.inject({ method: 'POST', url: '/jobs', ...withValidation });
  assert.equal(validated.statusCode, 202, validated.body);
  assert.deepEqual(validated.json<Job>().validation, {
    textBytes: Buffer.byteLength(SHAKESPEARE.slice(-2000)),
  });

  const twice = multipart([
    { name: 'config', value: JSON.stringify({ validation: { fraction: 0.1 } }) },
    { name: 'corpus', value: Buffer.from(CORPUS), filename: 'corpus.txt' },
    { name: 'validation', value: Buffer.from('more text'), filename: 'valid.txt' },
  ]);
  const conflict = await app.inject({ method: 'POST', url: '/jobs', ...twice });
  assert.equal(conflict.statusCode, 400);
  assert.match(conflict.json<{ message: string }>().message, /^body\.validation: /);

  const stray = multipart([
    { name: 'corpus', value: Buffer.from(CORPUS), filename: 'corpus.txt' },
    { name: 'colour', value: 'red' },
  ]);
  const strayRes = await app.inject({ method: 'POST', url: '/jobs', ...stray });
  assert.equal(strayRes.statusCode, 400);
  assert.match(strayRes.json<{ message: string }>().message, /^body\.colour: /);

  const noCorpus = multipart([{ name: 'config', value: '{}' }]);
  const bad = await app.inject({ method: 'POST', url: '/jobs', ...noCorpus });
  assert.equal(bad.statusCode, 400);
  assertMatchesOpenApi(bad, 'POST /jobs');
  assert.match(bad.json<{ message: string }>().message, /^body\.corpus: /);

  const badConfig = multipart([
    { name: 'config', value: JSON.stringify({ model: { hiddenSize: 'big' } }) },
    { name: 'corpus', value: Buffer.from(CORPUS), filename: 'corpus.txt' },
  ]);
  const invalid = await app.inject({ method: 'POST', url: '/jobs', ...badConfig });
  assert.equal(invalid.statusCode, 400);
  assert.match(invalid.json<{ message: string }>().message, /^body\.config\.model\.hiddenSize: /);
});

test('a multipart job sent without a config echoes what it will use: settings fitted to its corpus, a budget, no service limit', async (t) => {
  const { app } = await build(t);
  const form = multipart([{ name: 'corpus', value: Buffer.from(CORPUS), filename: 'corpus.txt' }]);
  const res = await app.inject({ method: 'POST', url: '/jobs', ...form });
  assert.equal(res.statusCode, 202, res.body);
  assertMatchesOpenApi(res, 'POST /jobs');
  const job = res.json<Job>();
  assert.equal(job.config.training.maxSteps, undefined);
  assert.equal(job.config.training.epochs, undefined);
  // A 5 KB corpus: the small model with dropout, not a 2×256 that memorises it.
  assert.deepEqual([job.config.model.layers, job.config.model.hiddenSize], [1, 128]);
  assert.ok(job.config.model.dropout > 0);
  assert.equal(job.config.training.maxMinutes, 10);
  assert.ok(job.config.training.earlyStoppingPatience !== undefined);
  assert.deepEqual(job.validation, { fraction: 0.1 });
  assert.equal(job.progress.etaSeconds, null);
});

test('an Idempotency-Key maps to one job: the repeat answers 200 with the same job', async (t) => {
  const { app } = await build(t);
  const request = {
    method: 'POST' as const,
    url: '/jobs',
    headers: { 'idempotency-key': 'key-1' },
    payload: { corpus: { text: CORPUS }, ...TINY },
  };
  const first = await app.inject(request);
  assert.equal(first.statusCode, 202, first.body);
  const second = await app.inject(request);
  assert.equal(second.statusCode, 200, second.body);
  assertMatchesOpenApi(second, 'POST /jobs');
  assert.equal(second.json<Job>().id, first.json<Job>().id);
  assert.equal(second.headers.location, first.headers.location);

  const other = await app.inject({ ...request, headers: { 'idempotency-key': 'key-2' } });
  assert.equal(other.statusCode, 202);
  assert.notEqual(other.json<Job>().id, first.json<Job>().id);
});

test('GET /jobs pages through the jobs, newest first, and filters by status', async (t) => {
  const { app } = await build(t);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({
      method: 'POST',
      url: '/jobs',
      payload: { name: `job ${i}`, corpus: { text: CORPUS }, ...TINY },
    });
    assert.equal(res.statusCode, 202);
    ids.push(res.json<Job>().id);
    await sleep(5); // distinct creation times
  }
  const page1 = await app.inject({ method: 'GET', url: '/jobs?limit=2' });
  assert.equal(page1.statusCode, 200);
  assertMatchesOpenApi(page1, 'GET /jobs');
  const body1 = page1.json<{ items: Job[]; nextCursor: string | null }>();
  assert.deepEqual(
    body1.items.map((j) => j.id),
    [ids[2], ids[1]],
  );
  assert.ok(body1.nextCursor !== null);

  const page2 = await app.inject({
    method: 'GET',
    url: '/jobs',
    query: { limit: '2', cursor: body1.nextCursor },
  });
  assert.equal(page2.statusCode, 200);
  const body2 = page2.json<{ items: Job[]; nextCursor: string | null }>();
  assert.deepEqual(
    body2.items.map((j) => j.id),
    [ids[0]],
  );
  assert.equal(body2.nextCursor, null);

  const cancelled = await app.inject({ method: 'POST', url: `/jobs/${ids[1]}/cancel` });
  assert.equal(cancelled.statusCode, 202);
  const onlyCancelled = await app.inject({ method: 'GET', url: '/jobs?status=cancelled' });
  assert.deepEqual(
    onlyCancelled.json<{ items: Job[] }>().items.map((j) => j.id),
    [ids[1]],
  );

  const badCursor = await app.inject({ method: 'GET', url: '/jobs?cursor=bogus' });
  assert.equal(badCursor.statusCode, 400);
  assert.match(badCursor.json<{ message: string }>().message, /cursor/);

  const bad = await app.inject({ method: 'GET', url: '/jobs?limit=0&status=done' });
  assert.equal(bad.statusCode, 400);
  assertMatchesOpenApi(bad, 'GET /jobs');
  const message = bad.json<{ message: string }>().message;
  assert.match(message, /querystring\.limit: /);
  assert.match(message, /querystring\.status: /);
});

test('POST /jobs/:id/cancel on a queued job: 202 and the job ends cancelled', async (t) => {
  const { app } = await build(t);
  const submitted = await app.inject({
    method: 'POST',
    url: '/jobs',
    payload: { corpus: { text: CORPUS }, ...TINY },
  });
  const { id } = submitted.json<Job>();
  const res = await app.inject({ method: 'POST', url: `/jobs/${id}/cancel` });
  assert.equal(res.statusCode, 202, res.body);
  assertMatchesOpenApi(res, 'POST /jobs/{id}/cancel');
  const job = res.json<Job>();
  assert.equal(job.status, 'cancelled');
  assert.ok(job.finishedAt !== undefined);
  // Cancelling a finished job is a conflict that names its status, and changes nothing.
  const again = await app.inject({ method: 'POST', url: `/jobs/${id}/cancel` });
  assert.equal(again.statusCode, 409, again.body);
  assertMatchesOpenApi(again, 'POST /jobs/{id}/cancel');
  assert.equal(again.json<{ code: string }>().code, 'RNNLM_JOB_FINISHED');
  assert.match(again.json<{ message: string }>().message, /cancelled/);
  const after = await app.inject({ method: 'GET', url: `/jobs/${id}` });
  assert.equal(after.json<Job>().status, 'cancelled');
});

test('GET /jobs/:id/events streams the log, ends after the final status, resumes with Last-Event-ID', async (t) => {
  const { app } = await build(t);
  const { id } = (
    await app.inject({ method: 'POST', url: '/jobs', payload: { corpus: { text: CORPUS }, ...TINY } })
  ).json<Job>();
  await app.inject({ method: 'POST', url: `/jobs/${id}/cancel` });

  const res = await app.inject({ method: 'GET', url: `/jobs/${id}/events` });
  assert.equal(res.statusCode, 200);
  assertMatchesOpenApi(res, 'GET /jobs/{id}/events');
  assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  const { events } = parseSse(res.body);
  assert.deepEqual(
    events.map((e) => [e.event, (e.data as { status?: string }).status]),
    [
      ['status', 'queued'],
      ['status', 'cancelled'],
    ],
  );
  for (const e of events) assert.match(e.id ?? '', /^\d+-\d+$/);

  const resumed = await app.inject({
    method: 'GET',
    url: `/jobs/${id}/events`,
    headers: { 'last-event-id': events[0]?.id ?? '' },
  });
  assert.deepEqual(
    parseSse(resumed.body).events.map((e) => e.id),
    [events[1]?.id],
  );
  // Resuming after the final event ends at once with nothing to send.
  const started = performance.now();
  const done = await app.inject({
    method: 'GET',
    url: `/jobs/${id}/events`,
    headers: { 'last-event-id': events[1]?.id ?? '' },
  });
  assert.deepEqual(parseSse(done.body).events, []);
  assert.ok(performance.now() - started < 1000, 'the stream of a finished job waited for more');

  const json = await app.inject({ method: 'GET', url: `/jobs/${id}/events?format=json` });
  assert.equal(json.statusCode, 200);
  assertMatchesOpenApi(json, 'GET /jobs/{id}/events');
  const items = json.json<{ items: JobEvent[] }>().items;
  assert.deepEqual(
    items.map((e) => e.id),
    events.map((e) => e.id),
  );
  assert.deepEqual(items[1]?.data, events[1]?.data);

  const badId = await app.inject({
    method: 'GET',
    url: `/jobs/${id}/events`,
    headers: { 'last-event-id': 'yesterday' },
  });
  assert.equal(badId.statusCode, 400);
  assert.match(badId.json<{ message: string }>().message, /^headers\.last-event-id: /);
});

test('a live event stream sends heartbeats, then the events as they happen, and ends', async (t) => {
  const { app } = await build(t, { heartbeatSeconds: 0.1 });
  const { id } = (
    await app.inject({ method: 'POST', url: '/jobs', payload: { corpus: { text: CORPUS }, ...TINY } })
  ).json<Job>();
  const streaming = await app.inject({ method: 'GET', url: `/jobs/${id}/events`, payloadAsStream: true });
  const body = new StreamText(streaming.stream());
  await body.until(/^: heartbeat$/m);
  const cancelled = await app.inject({ method: 'POST', url: `/jobs/${id}/cancel` });
  assert.equal(cancelled.statusCode, 202);
  const text = await body.done;
  const { events, comments } = parseSse(text);
  assert.ok(comments.includes('heartbeat'), text);
  assert.deepEqual(
    events.map((e) => (e.data as { status?: string }).status),
    ['queued', 'cancelled'],
  );
  // The heartbeats came before the cancellation, while the job was waiting.
  assert.ok(text.indexOf(': heartbeat') < text.indexOf('cancelled'));
});

test('closing the app ends open event streams instead of waiting for them', async (t) => {
  const { app } = await build(t);
  const { id } = (
    await app.inject({ method: 'POST', url: '/jobs', payload: { corpus: { text: CORPUS }, ...TINY } })
  ).json<Job>();
  const streaming = await app.inject({ method: 'GET', url: `/jobs/${id}/events`, payloadAsStream: true });
  const body = new StreamText(streaming.stream());
  await body.until(/event: status\n/);
  const started = performance.now();
  await app.close();
  const text = await body.done;
  assert.ok(performance.now() - started < 2000);
  assert.deepEqual(
    parseSse(text).events.map((e) => (e.data as { status?: string }).status),
    ['queued'],
  );
});

test('400: unknown fields, bad values and limits name the field', async (t) => {
  const { app } = await build(t, { env: { RNNLM_MAX_HIDDEN: '64' } });
  const cases: [unknown, RegExp][] = [
    [{ corpus: { text: CORPUS }, colour: 'red' }, /^body\.colour: Unrecognized key/],
    [{ corpus: { text: CORPUS }, model: { hiddenSize: 100 } }, /^body\.model\.hiddenSize: Too big: .*64/],
    [{ corpus: { text: CORPUS }, training: { learningRate: -1 } }, /^body\.training\.learningRate: /],
    [{ corpus: {} }, /^body\.corpus\.text: /],
    [{ corpus: { text: CORPUS }, model: { cell: 'transformer' } }, /^body\.model\.cell: /],
  ];
  for (const [payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/jobs', payload: payload as object });
    assert.equal(res.statusCode, 400, res.body);
    assertMatchesOpenApi(res, 'POST /jobs');
    const body = res.json<{ code: string; message: string; error: string }>();
    assert.equal(body.code, 'RNNLM_INVALID_REQUEST');
    assert.equal(body.error, 'Bad Request');
    assert.match(body.message, message);
  }
  const badJson = await app.inject({
    method: 'POST',
    url: '/jobs',
    headers: { 'content-type': 'application/json' },
    payload: '{"corpus":',
  });
  assert.equal(badJson.statusCode, 400);
  assert.equal(badJson.json<{ code: string }>().code, 'RNNLM_INVALID_REQUEST');

  const badId = await app.inject({ method: 'GET', url: '/jobs/12345' });
  assert.equal(badId.statusCode, 400);
  assertMatchesOpenApi(badId, 'GET /jobs/{id}');
  assert.match(badId.json<{ message: string }>().message, /^params\.id: /);
});

test('400 at submit for what the worker would refuse for its shape, naming the field', async (t) => {
  const { app } = await build(t);
  const post = (payload: object) => app.inject({ method: 'POST', url: '/jobs', payload });
  const cases: [object, string, string][] = [
    // A cap below the segment length, in every mode (fixed used to accept it silently).
    ...(['none', 'fixed', 'variable', 'randomized'] as const).map((mode): [object, string, string] => [
      { corpus: { text: CORPUS }, training: { seqLength: 64, truncation: { mode, maxLength: 16 } } },
      'RNNLM_INVALID_REQUEST',
      'body.training.truncation.maxLength',
    ]),
    // Untruncated streams of about 1100 characters over a cap of 128.
    [
      {
        corpus: { text: CORPUS },
        training: { batchSize: 4, seqLength: 8, truncation: { mode: 'none', maxLength: 128 } },
      },
      'RNNLM_SEQUENCE_TOO_LONG',
      'body.training.truncation.maxLength',
    ],
    // Seven characters cannot make one batch of 32 streams.
    [{ corpus: { text: 'abc def' } }, 'RNNLM_CORPUS_TOO_SMALL', 'body.corpus'],
  ];
  for (const [payload, code, field] of cases) {
    const res = await post(payload);
    assert.equal(res.statusCode, 400, `${JSON.stringify(payload).slice(0, 120)}: ${res.body}`);
    assertMatchesOpenApi(res, 'POST /jobs');
    const body = res.json<{ code: string; message: string; fields: { path: string }[] }>();
    assert.equal(body.code, code, res.body);
    assert.ok(body.message.startsWith(`${field}: `), res.body);
    assert.deepEqual(
      body.fields.map((f) => f.path),
      [field],
    );
  }
  const fits = await post({
    corpus: { text: CORPUS },
    training: { batchSize: 8, seqLength: 8, truncation: { mode: 'none', maxLength: 1000 } },
  });
  assert.equal(fits.statusCode, 202, fits.body);
});

test('one shape for every request refused for its content: RNNLM_INVALID_REQUEST, request paths, the message from the fields', async (t) => {
  const { app } = await build(t, { env: { RNNLM_MAX_BATCH: '64' } });
  const upload = (config: object) =>
    multipart([
      { name: 'config', value: JSON.stringify(config) },
      { name: 'corpus', value: Buffer.from(CORPUS), filename: 'corpus.txt' },
    ]);
  const cases: [string, InjectOptions, string][] = [
    // The route's schema refuses these...
    [
      'a bad value',
      { method: 'POST', url: '/jobs', payload: { corpus: { text: CORPUS }, model: { cell: 'x' } } },
      'body.model.cell',
    ],
    ['a bad query', { method: 'GET', url: '/jobs?limit=0' }, 'querystring.limit'],
    [
      'JSON that does not parse',
      {
        method: 'POST',
        url: '/jobs',
        headers: { 'content-type': 'application/json' },
        payload: '{"corpus":',
      },
      'body',
    ],
    // ...the job service these, by limits the schema does not carry.
    [
      'a limit in a JSON body',
      {
        method: 'POST',
        url: '/jobs',
        payload: { corpus: { text: CORPUS }, training: { evalBatchSize: 100 } },
      },
      'body.training.evalBatchSize',
    ],
    [
      'a limit in an upload',
      { method: 'POST', url: '/jobs', ...upload({ training: { evalBatchSize: 100 } }) },
      'body.config.training.evalBatchSize',
    ],
    ['a cursor it never gave', { method: 'GET', url: '/jobs?cursor=bm9wZQ' }, 'querystring.cursor'],
  ];
  for (const [what, request, path] of cases) {
    const res = await app.inject(request);
    assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
    const body = res.json<{ code: string; message: string; fields: { path: string; message: string }[] }>();
    assert.equal(body.code, 'RNNLM_INVALID_REQUEST', `${what}: ${res.body}`);
    assert.equal(body.fields[0]?.path, path, `${what}: ${res.body}`);
    assert.equal(
      body.message,
      body.fields.map((f) => `${f.path}: ${f.message}`).join('; '),
      `${what}: ${res.body}`,
    );
  }
});

test('404: unknown jobs and routes', async (t) => {
  const { app } = await build(t);
  const id = `job_${'a'.repeat(26)}`;
  for (const [method, url, operation] of [
    ['GET', `/jobs/${id}`, 'GET /jobs/{id}'],
    ['POST', `/jobs/${id}/cancel`, 'POST /jobs/{id}/cancel'],
    ['GET', `/jobs/${id}/events`, 'GET /jobs/{id}/events'],
    ['GET', `/jobs/${id}/events?format=json`, 'GET /jobs/{id}/events'],
  ] as const) {
    const res = await app.inject({ method, url });
    assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
    assertMatchesOpenApi(res, operation);
    assert.deepEqual(res.json(), {
      statusCode: 404,
      code: 'RNNLM_JOB_NOT_FOUND',
      error: 'Not Found',
      message: `job ${id} not found`,
    });
  }
  const route = await app.inject({ method: 'GET', url: '/nowhere' });
  assert.equal(route.statusCode, 404);
  assert.equal(route.json<{ code: string }>().code, 'RNNLM_ROUTE_NOT_FOUND');
});

test('413: a corpus over the limit, as JSON, as a file, or as a body over the body limit', async (t) => {
  const { app, jobs } = await build(t, { env: { RNNLM_MAX_CORPUS_BYTES: '1000' } });
  const big = 'x'.repeat(1001);
  const json = await app.inject({ method: 'POST', url: '/jobs', payload: { corpus: { text: big } } });
  assert.equal(json.statusCode, 413, json.body);
  assertMatchesOpenApi(json, 'POST /jobs');
  assert.equal(json.json<{ code: string }>().code, 'RNNLM_CORPUS_TOO_LARGE');
  // Multi-byte characters count as bytes.
  const wide = await app.inject({
    method: 'POST',
    url: '/jobs',
    payload: { corpus: { text: 'é'.repeat(501) } },
  });
  assert.equal(wide.statusCode, 413);

  const form = multipart([{ name: 'corpus', value: Buffer.from(big), filename: 'big.txt' }]);
  const file = await app.inject({ method: 'POST', url: '/jobs', ...form });
  assert.equal(file.statusCode, 413, file.body);
  assertMatchesOpenApi(file, 'POST /jobs');
  assert.equal(file.json<{ code: string }>().code, 'RNNLM_CORPUS_TOO_LARGE');

  const huge = await app.inject({
    method: 'POST',
    url: '/jobs',
    payload: { corpus: { text: 'x'.repeat(2 * 1024 * 1024) } },
  });
  assert.equal(huge.statusCode, 413);
  assert.equal(huge.json<{ code: string }>().code, 'RNNLM_CORPUS_TOO_LARGE');

  // Nothing was queued.
  assert.deepEqual((await jobs.list({ limit: 10 })).items, []);
});

test('415: a body that is neither JSON nor (on POST /jobs) multipart', async (t) => {
  const { app } = await build(t);
  for (const [url, operation] of [
    ['/jobs', 'POST /jobs'],
    ['/score', 'POST /score'],
    ['/generate', 'POST /generate'],
  ] as const) {
    const res = await app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'text/plain' },
      payload: 'hello',
    });
    assert.equal(res.statusCode, 415, `${url}: ${res.body}`);
    assertMatchesOpenApi(res, operation);
    const body = res.json<{ code: string; message: string }>();
    assert.equal(body.code, 'RNNLM_UNSUPPORTED_MEDIA_TYPE');
    assert.match(body.message, /text\/plain/);
  }
  // Forms are for corpus uploads only.
  const form = multipart([{ name: 'text', value: 'hello' }]);
  const res = await app.inject({ method: 'POST', url: '/score', ...form });
  assert.equal(res.statusCode, 415);
});

test("GET /healthz and GET /readyz answer 200 with Redis up; /readyz reports the serving thread's engine", async (t) => {
  const { app, models } = await build(t);
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(health.statusCode, 200);
  assertMatchesOpenApi(health, 'GET /healthz');
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200);
  assertMatchesOpenApi(ready, 'GET /readyz');
  // The inference thread's engine, which serves; a missing native engine is ready but warned about.
  const { inUse, ...kernels } = (await models.ready()).native;
  assert.equal(inUse, loadNativeKernels() !== null, 'the test set-up builds the native engine');
  const expected = inUse
    ? { status: 'ready', kernels: { native: inUse, ...kernels } }
    : {
        status: 'ready',
        warnings: [ready.json<{ warnings: string[] }>().warnings[0]],
        kernels: { native: inUse, ...kernels },
      };
  assert.deepEqual(ready.json(), expected);
  if (!inUse)
    assert.match(
      ready.json<{ warnings: string[] }>().warnings[0] ?? '',
      /native engine \(oneDNN\) is not in use/,
    );
});
