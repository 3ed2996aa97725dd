/**
 * RedisJobService against a real Redis, without a worker: what submit refuses and stores,
 * idempotency, listing, cancelling queued jobs and the event log.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import { isRnnlmError } from '../../../src/errors.js';
import { RedisJobService } from '../../../src/queue/job-service.js';
import { withServiceCaps } from '../../../src/queue/limits.js';
import { appendEvent } from '../../../src/queue/training-queue.js';
import { CORPUS, keysUnder, testEnv, tinyRequest, type TestEnv } from './harness.js';

async function service(t: TestContext, overrides: Record<string, string> = {}) {
  const env = await testEnv(t, overrides);
  const jobs = new RedisJobService({ config: env.config, logger: env.logger });
  env.defer(() => jobs.close());
  await jobs.ready();
  return { env, jobs };
}

async function queueSize(jobs: RedisJobService): Promise<number> {
  return jobs.queue.count();
}

async function corpusFiles(env: TestEnv): Promise<string[]> {
  try {
    return await readdir(join(env.dataDir, 'corpora'));
  } catch {
    return [];
  }
}

test('submit queues a job whose data references the corpus on disk by sha256, never the text', async (t) => {
  const { env, jobs } = await service(t);
  const { job, created } = await jobs.submit(tinyRequest({}, { name: 'tiny' }));
  assert.equal(created, true);
  assert.match(job.id, /^job_[a-z0-9]{26}$/);
  assert.equal(job.status, 'queued');
  assert.equal(job.name, 'tiny');
  assert.deepEqual(job.progress, {
    epoch: 0,
    step: 0,
    totalSteps: 0,
    fraction: 0,
    learningRate: null,
    trainedTokens: 0,
    elapsedSeconds: 0,
    etaSeconds: null,
  });
  assert.deepEqual(job.validation, { fraction: 0.1 });
  assert.equal(job.stopReason, undefined);
  assert.equal(job.config.model.hiddenSize, 16);
  assert.equal(job.config.training.maxSteps, 20);

  const queued = await jobs.queue.getJob(job.id);
  assert.ok(queued !== undefined);
  const sha = createHash('sha256').update(CORPUS, 'utf8').digest('hex');
  assert.deepEqual(queued.data.corpus, { sha256: sha, bytes: Buffer.byteLength(CORPUS) });
  assert.deepEqual(queued.data.validation, { fraction: 0.1 });
  assert.ok(!JSON.stringify(queued.data).includes(CORPUS.slice(0, 200)), 'the text is not in Redis');
  assert.equal(await readFile(join(env.dataDir, 'corpora', `${sha}.txt`), 'utf8'), CORPUS);

  // The same text again is stored once.
  await jobs.submit(tinyRequest());
  assert.deepEqual(await corpusFiles(env), [`${sha}.txt`]);
  assert.equal(await queueSize(jobs), 2);
});

test('submit takes the corpus as bytes and refuses bytes that are not UTF-8', async (t) => {
  const { env, jobs } = await service(t);
  const { job } = await jobs.submit({ ...tinyRequest(), corpus: { bytes: Buffer.from(CORPUS, 'utf8') } });
  assert.equal(job.status, 'queued');
  await assert.rejects(
    jobs.submit({ ...tinyRequest(), corpus: { bytes: Uint8Array.from([0x68, 0x69, 0xff, 0xfe]) } }),
    (err) => isRnnlmError(err, 'RNNLM_INVALID_CONFIG') && /UTF-8/.test(err.message),
  );
  assert.equal(await queueSize(jobs), 1);
  assert.equal((await corpusFiles(env)).length, 1);
});

test('requests over the configured limits are refused before anything is queued or stored', async (t) => {
  const { env, jobs } = await service(t, { RNNLM_MAX_CORPUS_BYTES: '5000', RNNLM_MAX_LAYERS: '2' });
  assert.equal(await queueSize(jobs), 0);
  const before = (await keysUnder(env.redis, env.config.RNNLM_QUEUE_PREFIX)).sort();
  const cases: [string, ReturnType<typeof tinyRequest>, string, string | undefined][] = [
    [
      'layers',
      { ...tinyRequest(), model: { ...tinyRequest().model!, layers: 3 } },
      'RNNLM_INVALID_CONFIG',
      'model.layers',
    ],
    ['seqLength', tinyRequest({ seqLength: 2048 }), 'RNNLM_INVALID_CONFIG', 'training.seqLength'],
    ['batchSize', tinyRequest({ batchSize: 5000 }), 'RNNLM_INVALID_CONFIG', 'training.batchSize'],
    ['maxSteps', tinyRequest({ maxSteps: 2_000_000 }), 'RNNLM_INVALID_CONFIG', 'training.maxSteps'],
    [
      'vocabulary',
      { ...tinyRequest(), tokenizer: { type: 'bpe', vocabSize: 60_000 } },
      'RNNLM_INVALID_CONFIG',
      'tokenizer.vocabSize',
    ],
    ['schema', tinyRequest({ learningRate: -1 }), 'RNNLM_INVALID_CONFIG', 'training.learningRate'],
    [
      'corpus size',
      { ...tinyRequest(), corpus: { text: 'x'.repeat(5001) } },
      'RNNLM_CORPUS_TOO_LARGE',
      'corpus',
    ],
    ['empty corpus', { ...tinyRequest(), corpus: { text: ' \n ' } }, 'RNNLM_CORPUS_EMPTY', 'corpus'],
  ];
  for (const [what, request, code, field] of cases) {
    await assert.rejects(
      jobs.submit(request),
      (err) => isRnnlmError(err, code as never) && err.details?.field === field,
      what,
    );
  }
  assert.equal(await queueSize(jobs), 0);
  assert.deepEqual((await keysUnder(env.redis, env.config.RNNLM_QUEUE_PREFIX)).sort(), before);
  assert.deepEqual(await corpusFiles(env), []);
});

test('the config echo never shows a service limit as a setting: no vocabulary cap, step budget or unroll cap', async (t) => {
  const { jobs } = await service(t, {
    RNNLM_MAX_VOCAB: '500',
    RNNLM_MAX_STEPS: '1000',
    RNNLM_MAX_SEQ_LENGTH: '1000',
  });
  const { job } = await jobs.submit({
    ...tinyRequest({ maxSteps: undefined, truncation: { mode: 'none' } }),
    tokenizer: { type: 'word' },
  });
  assert.equal(job.config.tokenizer.vocabSize, undefined);
  assert.equal(job.config.training.maxSteps, undefined);
  assert.equal(job.config.training.truncation.maxLength, undefined);
  // The worker applies them when it trains.
  const capped = withServiceCaps(
    { RNNLM_MAX_VOCAB: 500, RNNLM_MAX_STEPS: 1000, RNNLM_MAX_SEQ_LENGTH: 1000 },
    job.config,
  );
  assert.equal(capped.tokenizer.vocabSize, 500);
  assert.equal(capped.training.maxSteps, 1000);
  assert.equal(capped.training.truncation.maxLength, 1000);
});

test('the config echo shows the validation the job uses and the service default for checkpoints', async (t) => {
  const { jobs } = await service(t, { RNNLM_CHECKPOINT_EVERY: '50' });
  const { job } = await jobs.submit(tinyRequest());
  assert.equal(job.config.training.checkpointEvery, 50);
  assert.deepEqual(job.validation, { fraction: 0.1 });
  const chosen = await jobs.submit({ ...tinyRequest(), validation: { fraction: 0.25 } });
  assert.deepEqual(chosen.job.validation, { fraction: 0.25 });
  const text = await jobs.submit({ ...tinyRequest(), validation: { text: 'héllo\n' } });
  assert.deepEqual(text.job.validation, { textBytes: 7 });
  const explicit = await jobs.submit(tinyRequest({ checkpointEvery: 7 }));
  assert.equal(explicit.job.config.training.checkpointEvery, 7);
});

test('50 concurrent submits with one Idempotency-Key create one job', async (t) => {
  const { jobs } = await service(t);
  const results = await Promise.all(
    Array.from({ length: 50 }, () => jobs.submit(tinyRequest(), 'same-key-123')),
  );
  const ids = new Set(results.map((r) => r.job.id));
  assert.equal(ids.size, 1);
  assert.equal(results.filter((r) => r.created).length, 1);
  assert.equal(await queueSize(jobs), 1);
  const again = await jobs.submit(tinyRequest(), 'same-key-123');
  assert.equal(again.created, false);
  assert.equal(again.job.id, [...ids][0]);
  const other = await jobs.submit(tinyRequest(), 'another-key');
  assert.equal(other.created, true);
  assert.notEqual(other.job.id, again.job.id);
});

test('a refused request does not claim its Idempotency-Key', async (t) => {
  const { jobs } = await service(t);
  await assert.rejects(jobs.submit(tinyRequest({ batchSize: 999_999 }), 'k1'));
  const { created } = await jobs.submit(tinyRequest(), 'k1');
  assert.equal(created, true);
});

test('list pages newest first with a cursor, without gaps or repeats, and filters by status', async (t) => {
  const { jobs } = await service(t);
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) ids.push((await jobs.submit(tinyRequest({}, { name: `j${i}` }))).job.id);
  const newestFirst = [...ids].reverse();

  const seen: string[] = [];
  let cursor: string | undefined;
  const sizes: number[] = [];
  for (;;) {
    const page = await jobs.list({ limit: 3, cursor });
    sizes.push(page.items.length);
    seen.push(...page.items.map((j) => j.id));
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
    // A job submitted while paging appears on no later page (it is newer than the cursor).
    if (sizes.length === 1) await jobs.submit(tinyRequest());
  }
  assert.deepEqual(sizes, [3, 3, 1]);
  assert.deepEqual(seen, newestFirst);

  await jobs.cancel(ids[2]!);
  await jobs.cancel(ids[5]!);
  const cancelled = await jobs.list({ status: 'cancelled', limit: 10 });
  assert.deepEqual(
    cancelled.items.map((j) => j.id),
    [ids[5], ids[2]],
  );
  assert.equal(cancelled.nextCursor, null);
  const firstCancelled = await jobs.list({ status: 'cancelled', limit: 1 });
  assert.deepEqual(
    firstCancelled.items.map((j) => j.id),
    [ids[5]],
  );
  assert.notEqual(firstCancelled.nextCursor, null);
  const queued = await jobs.list({ status: 'queued', limit: 100 });
  assert.equal(queued.items.length, 6);

  await assert.rejects(jobs.list({ limit: 3, cursor: 'bogus' }), (err) =>
    isRnnlmError(err, 'RNNLM_INVALID_REQUEST'),
  );
});

test('cancelling a queued job removes it from the queue and ends it cancelled', async (t) => {
  const { env, jobs } = await service(t);
  const { job } = await jobs.submit(tinyRequest());
  // As if a worker that shut down had handed it back with a checkpoint.
  const checkpoint = join(env.dataDir, 'checkpoints', job.id);
  await mkdir(checkpoint, { recursive: true });
  await writeFile(join(checkpoint, 'checksums.json'), '{}');
  const cancelled = await jobs.cancel(job.id);
  assert.equal(existsSync(checkpoint), false, 'the checkpoint is removed');
  assert.equal(cancelled?.status, 'cancelled');
  assert.equal(cancelled?.error?.code, 'RNNLM_ABORTED');
  assert.ok(cancelled?.finishedAt !== undefined);
  assert.equal(await jobs.queue.getJob(job.id), undefined);
  assert.equal(await queueSize(jobs), 0);
  assert.equal((await jobs.get(job.id))?.status, 'cancelled');
  // Cancelling again is refused, naming the status, and changes nothing.
  await assert.rejects(
    () => jobs.cancel(job.id),
    (err: unknown) => isRnnlmError(err, 'RNNLM_JOB_FINISHED') && err.details?.status === 'cancelled',
  );
  assert.equal((await jobs.get(job.id))?.status, 'cancelled');
  const events = await jobs.events(job.id);
  assert.deepEqual(
    events.map((e) => [e.type, e.data.status]),
    [
      ['status', 'queued'],
      ['status', 'cancelled'],
    ],
  );
  // The record and the events are kept for a while, not forever.
  const ttl = await env.redis.ttl(`${env.config.RNNLM_QUEUE_PREFIX}:training:svc:events:${job.id}`);
  assert.ok(ttl > 0, `events expire (ttl ${ttl})`);
});

test('unknown and malformed ids are not found, and nothing is looked up for them', async (t) => {
  const { jobs } = await service(t);
  for (const id of ['job_aaaaaaaaaaaaaaaaaaaaaaaaaa', '../../etc/passwd', 'job_*', '']) {
    assert.equal(await jobs.get(id), undefined, id);
    assert.equal(await jobs.cancel(id), undefined, id);
    assert.deepEqual(await jobs.events(id), [], id);
  }
});

test('events after an id are the later ones; waitForEvents blocks until one arrives', async (t) => {
  const { jobs } = await service(t);
  const { job } = await jobs.submit(tinyRequest());
  const [first] = await jobs.events(job.id);
  assert.equal(first?.type, 'status');
  assert.deepEqual(await jobs.events(job.id, first.id), []);

  await appendEvent(jobs['redis'], jobs.keys, job.id, 'log', { message: 'one' });
  await appendEvent(jobs['redis'], jobs.keys, job.id, 'log', { message: 'two' });
  const later = await jobs.events(job.id, first.id);
  assert.deepEqual(
    later.map((e) => e.data.message),
    ['one', 'two'],
  );
  assert.deepEqual(
    (await jobs.events(job.id, undefined, 2)).map((e) => e.id),
    [first.id, later[0]!.id],
  );
  await assert.rejects(jobs.events(job.id, 'nope'), (err) => isRnnlmError(err, 'RNNLM_INVALID_REQUEST'));

  // Nothing new: returns empty after the timeout.
  const last = later[1]!.id;
  let started = Date.now();
  assert.deepEqual(await jobs.waitForEvents(job.id, last, 300), []);
  assert.ok(Date.now() - started >= 250);

  // Something new arrives while it waits.
  started = Date.now();
  const waiting = jobs.waitForEvents(job.id, last, 5000);
  setTimeout(() => void appendEvent(jobs['redis'], jobs.keys, job.id, 'log', { message: 'three' }), 200);
  const got = await waiting;
  assert.deepEqual(
    got.map((e) => e.data.message),
    ['three'],
  );
  assert.ok(Date.now() - started < 4000);

  // An abort ends the wait at once.
  const controller = new AbortController();
  started = Date.now();
  const aborted = jobs.waitForEvents(job.id, got[0]!.id, 10_000, controller.signal);
  setTimeout(() => controller.abort(), 100);
  assert.deepEqual(await aborted, []);
  assert.ok(Date.now() - started < 2000);
});

test('with Redis down, ping and submit fail fast with RNNLM_REDIS_UNAVAILABLE-like errors', async (t) => {
  const env = await testEnv(t, { REDIS_URL: 'redis://127.0.0.1:1' });
  const jobs = new RedisJobService({ config: env.config, logger: env.logger });
  env.defer(() => jobs.close());
  const started = Date.now();
  await assert.rejects(jobs.ready(500), (err) => isRnnlmError(err, 'RNNLM_REDIS_UNAVAILABLE'));
  await assert.rejects(jobs.ping(), (err) => isRnnlmError(err, 'RNNLM_REDIS_UNAVAILABLE'));
  await assert.rejects(jobs.submit(tinyRequest()));
  await assert.rejects(jobs.get('job_aaaaaaaaaaaaaaaaaaaaaaaaaa'));
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
});
