/**
 * `GET /metrics` against real Redis: the text is strict Prometheus exposition format (parsed
 * by test/helpers/prometheus.ts, whose strictness is checked first), every metric the README
 * lists is there with its type, requests are counted by route pattern, generations and
 * scorings move their histograms and the model cache's counters, and a job trained by an
 * in-process TrainingWorker moves the job metrics, once across two API instances.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';

import type { Job } from '../../../src/queue/contracts.js';
import { newJobId, newModelId } from '../../../src/ids.js';
import { TrainingWorker } from '../../../src/worker/training-worker.js';
import { assertMatchesOpenApi, build, newTestPrefix, useSharedTinyModel } from '../../helpers/app.js';
import { parsePrometheusText, sample, valueOr0, type MetricFamily } from '../../helpers/prometheus.js';
import { CORPUS } from '../queue/harness.js';

const withModel = useSharedTinyModel();

type Families = Map<string, MetricFamily>;

async function scrape(app: FastifyInstance, headers: Record<string, string> = {}): Promise<Families> {
  const res = await app.inject({ method: 'GET', url: '/metrics', headers });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assertMatchesOpenApi(res, 'GET /metrics');
  return parsePrometheusText(res.body);
}

/** The metrics the README's "### Metrics" table lists: name → type. */
function documentedMetrics(): Map<string, string> {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = /^### Metrics\n([\s\S]*?)(?=^##)/m.exec(readme)?.[1];
  assert.ok(section !== undefined, 'README.md has no "### Metrics" section');
  const rows = [...section.matchAll(/^\| `(rnnlm_\w+)`\s*\| (counter|gauge|histogram)\s*\|/gm)];
  return new Map(rows.map((m) => [m[1] as string, m[2] as string]));
}

test('the exposition parser refuses text that breaks the format', () => {
  const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n';
  assert.equal(sample(parsePrometheusText(ok), 'a_total', { x: '1' }).value, 2);
  // prom-client writes NaN as `Nan`; Go's ParseFloat, which Prometheus uses, takes any case.
  const nan = parsePrometheusText('# HELP g G.\n# TYPE g gauge\ng{a="x\\"y\\n"} Nan\ng{a="2"} -Inf\n');
  assert.ok(Number.isNaN(sample(nan, 'g', { a: 'x"y\n' }).value));
  assert.equal(sample(nan, 'g', { a: '2' }).value, -Infinity);
  const histogram = (buckets: string, count: number) =>
    `# HELP h H.\n# TYPE h histogram\n${buckets}h_sum 1\nh_count ${count}\n`;
  assert.doesNotThrow(() => parsePrometheusText(histogram('h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\n', 2)));
  const bad: [string, string, RegExp][] = [
    ['no final line feed', ok.slice(0, -1), /line feed/],
    ['no TYPE', '# HELP a A.\na 1\n', /no TYPE/],
    ['no HELP', '# TYPE a gauge\na 1\n', /no HELP/],
    ['a bad escape', '# HELP a A.\n# TYPE a gauge\na{x="\\t"} 1\n', /bad escape/],
    ['an unquoted value', '# HELP a A.\n# TYPE a gauge\na{x=1} 1\n', /not quoted/],
    ['a bad value', '# HELP a A.\n# TYPE a gauge\na 1,5\n', /not a float/],
    ['a repeated series', '# HELP a A.\n# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n', /twice/],
    ['a negative counter', '# HELP a_total A.\n# TYPE a_total counter\na_total -1\n', /counter/],
    [
      'a split family',
      '# HELP a A.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b gauge\nb 1\na{x="2"} 1\n',
      /apart/,
    ],
    ['falling buckets', histogram('h_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\n', 2), /below/],
    ['no +Inf bucket', histogram('h_bucket{le="1"} 2\n', 2), /\+Inf/],
    ['+Inf is not the count', histogram('h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\n', 3), /_count/],
  ];
  for (const [what, text, error] of bad) assert.throws(() => parsePrometheusText(text), error, what);
});

test('GET /metrics: strict exposition text with every documented metric, process metrics and requests by route', async (t) => {
  const { app } = await build(t);
  assert.equal((await app.inject({ method: 'GET', url: `/jobs/${newJobId()}` })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: '/no/such/route' })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);

  const first = await scrape(app);
  const documented = documentedMetrics();
  assert.ok(documented.size >= 15, `README lists ${documented.size} metrics`);
  const exposed = [...first.values()].filter((f) => f.name.startsWith('rnnlm_'));
  assert.deepEqual(
    exposed.map((f) => [f.name, f.type]).sort(),
    [...documented.entries()].sort(),
    'the rnnlm_ metrics exposed are the ones README.md lists, with the same types',
  );
  for (const f of exposed) assert.ok(f.help.length > 10, `${f.name} has a HELP text`);
  // Process metrics from prom-client's default collectors.
  assert.equal(first.get('process_cpu_user_seconds_total')?.type, 'counter');
  assert.ok(sample(first, 'process_resident_memory_bytes').value > 0);
  assert.ok(sample(first, 'nodejs_heap_size_used_bytes').value > 0);
  assert.equal(first.get('nodejs_eventloop_lag_seconds')?.type, 'gauge');

  // Requests by route pattern and status; a URL that matched no route does not become a label.
  const http = 'rnnlm_http_request_duration_seconds';
  const count = (f: Families, route: string, status: string) =>
    valueOr0(f, `${http}_count`, { method: 'GET', route, status_code: status });
  assert.equal(count(first, '/jobs/:id', '404'), 1);
  assert.equal(count(first, '/healthz', '200'), 1);
  assert.equal(count(first, '(unmatched)', '404'), 1);
  const routes = new Set(first.get(http)?.samples.map((s) => s.labels.route));
  assert.ok(![...routes].some((r) => r?.includes('job_') === true || r?.includes('/no/such') === true));
  // The scrape itself is counted once it has been answered.
  const second = await scrape(app);
  assert.equal(count(second, '/metrics', '200'), 1);
  assert.ok(sample(second, `${http}_sum`, { route: '/metrics' }).value > 0);

  // The queue is read at scrape time: every BullMQ state, nothing running yet.
  assert.equal(sample(first, 'rnnlm_queue_up').value, 1);
  const states = first.get('rnnlm_jobs')?.samples.map((s) => s.labels.state);
  assert.deepEqual(states?.sort(), [
    'active',
    'completed',
    'delayed',
    'failed',
    'prioritized',
    'waiting',
    'waiting-children',
  ]);
  assert.equal(sample(first, 'rnnlm_model_cache_capacity').value, 4);
});

test('with API_KEYS, /metrics needs the key like every other route', async (t) => {
  const { app } = await build(t, { env: { API_KEYS: 'metrics-key-0123456789' } });
  const refused = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(refused.statusCode, 401);
  assert.equal(refused.headers['www-authenticate'], 'Bearer');
  assertMatchesOpenApi(refused, 'GET /metrics');
  const families = await scrape(app, { authorization: 'Bearer metrics-key-0123456789' });
  // The refused scrape was counted too.
  assert.equal(
    sample(families, 'rnnlm_http_request_duration_seconds_count', { route: '/metrics', status_code: '401' })
      .value,
    1,
  );
});

test('an overloaded server still answers its scrapes', async (t) => {
  // A heap limit of one byte: overloaded from the first sample on (taken every second).
  const { app } = await build(t, { env: { RNNLM_MAX_HEAP_USED_BYTES: '1' } });
  // Refused once the first sample is taken (probed on another route: /models is counted below).
  const deadline = Date.now() + 5000;
  while ((await app.inject({ method: 'GET', url: '/readyz' })).statusCode !== 503) {
    assert.ok(Date.now() < deadline, 'not overloaded within 5 s');
    await sleep(25);
  }
  assert.equal((await app.inject({ method: 'GET', url: '/models' })).statusCode, 503);
  const families = await scrape(app);
  assert.equal(
    sample(families, 'rnnlm_http_request_duration_seconds_count', { route: '/models', status_code: '503' })
      .value,
    1,
  );
});

test('without Redis, /metrics still answers at once: queue_up 0 and no job series', async (t) => {
  const { closedPort } = await import('../../helpers/app.js');
  const { app } = await build(t, {
    env: { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` },
    expectRedisDown: true,
  });
  const started = Date.now();
  const families = await scrape(app);
  assert.ok(Date.now() - started < 3000, 'the scrape did not wait on Redis for long');
  assert.equal(sample(families, 'rnnlm_queue_up').value, 0);
  assert.equal(families.get('rnnlm_jobs')?.samples.length, 0);
  assert.ok(sample(families, 'process_resident_memory_bytes').value > 0);
});

test('generations and scorings move their histograms and token counters, and the model cache counts', async (t) => {
  const { app, id } = await withModel(t);
  const before = await scrape(app);
  const gen = 'rnnlm_generation_duration_seconds_count';
  assert.equal(valueOr0(before, gen), 0);
  assert.equal(sample(before, 'rnnlm_model_cache_misses_total').value, 0);

  const plain = await app.inject({ method: 'GET', url: `/generate?model=${id}&maxTokens=5&seed=1` });
  assert.equal(plain.statusCode, 200, plain.body);
  const tokens = plain.json<{ tokens: number }>().tokens;
  let now = await scrape(app);
  assert.equal(sample(now, gen, { stream: 'false', outcome: 'ok' }).value, 1);
  assert.equal(sample(now, 'rnnlm_generated_tokens_total').value, tokens);
  assert.equal(sample(now, 'rnnlm_model_cache_misses_total').value, 1);
  assert.equal(sample(now, 'rnnlm_model_cache_hits_total').value, 0);
  assert.equal(sample(now, 'rnnlm_model_cache_size').value, 1);
  const bucket = sample(now, 'rnnlm_generation_duration_seconds_bucket', {
    stream: 'false',
    outcome: 'ok',
    le: '+Inf',
  });
  assert.equal(bucket.value, 1);

  const streamed = await app.inject({
    method: 'GET',
    url: `/generate?model=${id}&maxTokens=4&seed=1&stream=true`,
  });
  assert.equal(streamed.statusCode, 200);
  const scored = await app.inject({
    method: 'POST',
    url: '/score',
    payload: { model: id, text: 'To be, or not' },
  });
  assert.equal(scored.statusCode, 200, scored.body);
  now = await scrape(app);
  assert.equal(sample(now, gen, { stream: 'true', outcome: 'ok' }).value, 1);
  assert.equal(sample(now, 'rnnlm_scoring_duration_seconds_count', { outcome: 'ok' }).value, 1);
  assert.equal(sample(now, 'rnnlm_scored_tokens_total').value, scored.json<{ tokens: number }>().tokens);
  assert.equal(sample(now, 'rnnlm_model_cache_hits_total').value, 2);
  assert.equal(sample(now, 'rnnlm_model_cache_misses_total').value, 1);

  // A model whose weights fail their hash: the generation is an error, and a miss that leaves
  // nothing cached (the entry of the first model stays).
  const { app: other, id: otherId, modelsDir: otherDir } = await withModel(t);
  const file = join(otherDir, otherId, 'weights.bin');
  const weights = await readFile(file);
  weights[0] = (weights[0] ?? 0) ^ 0xff;
  await writeFile(file, weights);
  const failed = await other.inject({ method: 'GET', url: `/generate?model=${otherId}&maxTokens=3` });
  assert.equal(failed.statusCode, 409, failed.body);
  const after = await scrape(other);
  assert.equal(sample(after, gen, { stream: 'false', outcome: 'error' }).value, 1);
  assert.equal(valueOr0(after, gen, { outcome: 'ok' }), 0);
  assert.equal(sample(after, 'rnnlm_model_cache_misses_total').value, 1);
  assert.equal(sample(after, 'rnnlm_model_cache_size').value, 0);
});

test('a cache of one model evicts the other model each time they alternate', async (t) => {
  const { app, id, modelsDir } = await withModel(t, { env: { RNNLM_MODEL_CACHE_SIZE: '1' } });
  const second = newModelId();
  await cp(join(modelsDir, id), join(modelsDir, second), { recursive: true });
  for (const model of [id, second, second, id]) {
    const res = await app.inject({ method: 'GET', url: `/generate?model=${model}&maxTokens=2&seed=1` });
    assert.equal(res.statusCode, 200, res.body);
  }
  const families = await scrape(app);
  assert.equal(sample(families, 'rnnlm_model_cache_misses_total').value, 3);
  assert.equal(sample(families, 'rnnlm_model_cache_hits_total').value, 1);
  assert.equal(sample(families, 'rnnlm_model_cache_evictions_total').value, 2);
  assert.equal(sample(families, 'rnnlm_model_cache_size').value, 1);
  assert.equal(sample(families, 'rnnlm_model_cache_capacity').value, 1);
});

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

async function waitForJob(app: FastifyInstance, id: string, done: (job: Job) => boolean): Promise<Job> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const job = (await app.inject({ method: 'GET', url: `/jobs/${id}` })).json<Job>();
    if (done(job)) return job;
    assert.ok(Date.now() < deadline, `job ${id} is still ${job.status}`);
    await sleep(100);
  }
}

async function submit(app: FastifyInstance, training: Record<string, unknown>): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/jobs',
    payload: {
      corpus: { text: CORPUS },
      model: { layers: 1, hiddenSize: 16, embeddingSize: 8 },
      training: { batchSize: 4, seqLength: 8, seed: 3, ...training },
    },
  });
  assert.equal(res.statusCode, 202, res.body);
  return res.json<Job>().id;
}

test('a running job reports tokens/s; finished jobs move the job metrics, once across two API instances', async (t) => {
  const prefix = newTestPrefix();
  const a = await build(t, { prefix });
  const b = await build(t, { prefix });
  const worker = new TrainingWorker({ config: a.config, logger: pino({ level: 'silent' }) });
  t.after(() => worker.close(10_000));
  await worker.waitUntilReady();
  const finished = async (status: string) => {
    const [fa, fb] = [await scrape(a.app), await scrape(b.app)];
    const total = (name: string) => valueOr0(fa, name, { status }) + valueOr0(fb, name, { status });
    return {
      counted: total('rnnlm_jobs_finished_total'),
      timed: total('rnnlm_job_duration_seconds_count'),
      fa,
    };
  };

  // A long job: running, with its throughput on the gauge, then cancelled.
  const long = await submit(a.app, { epochs: 1000 });
  const deadline = Date.now() + 60_000;
  let running: Families;
  for (;;) {
    running = await scrape(b.app);
    if (valueOr0(running, 'rnnlm_training_tokens_per_second', { job_id: long }) > 0) break;
    assert.ok(Date.now() < deadline, 'the running job never reported its tokens/s');
    await sleep(200);
  }
  assert.equal(sample(running, 'rnnlm_jobs', { state: 'active' }).value, 1);
  assert.equal((await a.app.inject({ method: 'POST', url: `/jobs/${long}/cancel` })).statusCode, 202);
  assert.equal((await waitForJob(a.app, long, (j) => FINISHED.has(j.status))).status, 'cancelled');
  const cancelled = await finished('cancelled');
  assert.deepEqual([cancelled.counted, cancelled.timed], [1, 1]);
  assert.equal(valueOr0(cancelled.fa, 'rnnlm_training_tokens_per_second', { job_id: long }), 0);

  // A short job that succeeds.
  const short = await submit(b.app, { maxSteps: 20 });
  const job = await waitForJob(b.app, short, (j) => FINISHED.has(j.status));
  assert.equal(job.status, 'succeeded');
  const succeeded = await finished('succeeded');
  assert.deepEqual([succeeded.counted, succeeded.timed], [1, 1]);
  // Scraped again, neither instance counts either job a second time.
  const again = await finished('succeeded');
  assert.deepEqual([again.counted, again.timed], [1, 1]);
  assert.equal((await finished('cancelled')).counted, 1);
  assert.equal(valueOr0(again.fa, 'rnnlm_jobs_finished_total', { status: 'failed' }), 0);

  // Its duration is the time it ran, as the job itself says.
  const fa = await scrape(a.app);
  const fb = await scrape(b.app);
  const sum = (f: Families) => valueOr0(f, 'rnnlm_job_duration_seconds_sum', { status: 'succeeded' });
  const ran = (Date.parse(job.finishedAt ?? '') - Date.parse(job.startedAt ?? '')) / 1000;
  assert.ok(
    Math.abs(sum(fa) + sum(fb) - ran) < 0.01,
    `${sum(fa) + sum(fb)} s observed, the job ran ${ran} s`,
  );
  assert.equal(sample(fa, 'rnnlm_jobs', { state: 'completed' }).value, 1);
  // BullMQ keeps a job cancelled while it ran as failed.
  assert.equal(sample(fa, 'rnnlm_jobs', { state: 'failed' }).value, 1);
  assert.equal(sample(fa, 'rnnlm_jobs', { state: 'active' }).value, 0);
});

test('GET /metrics reports bytes and entries under the data directory by kind, from a walk kept for a minute', async (t) => {
  const { app, dataDir } = await build(t);
  const file = async (path: string, bytes: number) => {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, Buffer.alloc(bytes, 1));
  };
  const job = newJobId();
  const sha = 'a'.repeat(64);
  await file(join(dataDir, 'models', newModelId(), 'weights.bin'), 100);
  await file(join(dataDir, 'checkpoints', job, 'weights.bin'), 50);
  await file(join(dataDir, 'checkpoints', `.${job}.tmp-12-AbCdEf`, 'state.json'), 30);
  await file(join(dataDir, 'corpora', `${sha}.txt`), 20);
  await file(join(dataDir, 'corpora', `.${sha}.12.0a1b2c3d4e5f.tmp`), 5);

  const data = (f: Families) =>
    Object.fromEntries(
      ['models', 'checkpoints', 'corpora', 'debris'].map((kind) => [
        kind,
        [sample(f, 'rnnlm_data_bytes', { kind }).value, sample(f, 'rnnlm_data_entries', { kind }).value],
      ]),
    );
  const expected = { models: [100, 1], checkpoints: [50, 1], corpora: [20, 1], debris: [35, 2] };
  assert.deepEqual(data(await scrape(app)), expected);
  // Within the minute the walk is not repeated: a scrape costs no walk of a large volume.
  await file(join(dataDir, 'checkpoints', `.${job}.old-12-0a1b2c3d4e5f`, 'state.json'), 1000);
  assert.deepEqual(data(await scrape(app)), expected);
});
