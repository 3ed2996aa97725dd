/**
 * Fault suite: a Redis that is full, or that may evict keys. Each test runs its own
 * redis-server (test/helpers/redis-server.ts), never touching the shared one.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';

import type { Redis } from 'ioredis';
import { pino } from 'pino';

import { loadConfig } from '../../src/config.js';
import { RedisJobService } from '../../src/queue/job-service.js';
import { assertMatchesOpenApi, build, newTestPrefix } from '../helpers/app.js';
import { RedisServer } from '../helpers/redis-server.js';

const CORPUS = 'To be, or not to be, that is the question.\n'.repeat(20);
const TINY = {
  model: { layers: 1, hiddenSize: 16, embeddingSize: 8 },
  training: { batchSize: 4, seqLength: 8, maxSteps: 5, seed: 1 },
};

/** Writes 64 kB values under `filler:*` until Redis answers OOM; returns how many it took. */
async function fill(redis: Redis): Promise<number> {
  const value = 'x'.repeat(64 * 1024);
  for (let i = 0; i < 10_000; i++) {
    try {
      await redis.set(`filler:${i}`, value);
    } catch (err) {
      assert.match((err as Error).message, /^OOM /);
      return i;
    }
  }
  assert.fail('Redis never reported OOM');
}

async function startFullable(t: TestContext): Promise<RedisServer> {
  return RedisServer.start(t, { args: ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'] });
}

/**
 * The API on a private Redis. That server stops before the app's own clean-up runs, so the
 * clean-up must not reach for it (its keys go with it); the app waits for it here instead.
 */
async function buildOn(t: TestContext, server: RedisServer) {
  const built = await build(t, { env: { REDIS_URL: server.url }, expectRedisDown: true });
  await built.jobs.ready(5000);
  return built;
}

test('6. Redis at maxmemory (noeviction): POST /jobs is a 503 RNNLM_REDIS_OUT_OF_MEMORY, never a 500, and works again once memory frees', async (t) => {
  const server = await startFullable(t);
  const admin = server.client(t);
  const { app, jobs } = await buildOn(t, server);
  const submit = (key?: string) =>
    app.inject({
      method: 'POST',
      url: '/jobs',
      headers: key === undefined ? {} : { 'idempotency-key': key },
      payload: { corpus: { text: CORPUS }, ...TINY },
    });

  assert.ok((await fill(admin)) > 0, 'the filler took some memory before Redis was full');
  // Both ways a submission writes first: the record's transaction, and the idempotency claim.
  for (const key of [undefined, 'oom-key']) {
    const res = await submit(key);
    assert.equal(res.statusCode, 503, res.body);
    assertMatchesOpenApi(res, 'POST /jobs');
    assert.deepEqual(res.json(), {
      statusCode: 503,
      code: 'RNNLM_REDIS_OUT_OF_MEMORY',
      error: 'Service Unavailable',
      message: 'The job store (Redis) is out of memory; try again later',
    });
  }
  assert.equal(await jobs.queue.count(), 0, 'nothing was queued');
  // Reads still work on a full Redis.
  const list = await app.inject({ method: 'GET', url: '/jobs' });
  assert.equal(list.statusCode, 200, list.body);
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200, ready.body);

  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', 'filler:*', 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await admin.del(...keys);
  } while (cursor !== '0');

  const again = await submit('oom-key');
  assert.equal(again.statusCode, 202, again.body);
  assert.equal(await jobs.queue.count(), 1);
  const repeat = await submit('oom-key');
  assert.equal(repeat.statusCode, 200, 'the key the refused request tried is usable: it maps to the new job');
  assert.equal(repeat.json<{ id: string }>().id, again.json<{ id: string }>().id);
});

test('6. a maxmemory-policy other than noeviction is a warning in /readyz and in the start-up log', async (t) => {
  const server = await RedisServer.start(t, { args: ['--maxmemory-policy', 'allkeys-lru'] });
  const { app } = await buildOn(t, server);
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200, ready.body);
  assertMatchesOpenApi(ready, 'GET /readyz');
  const body = ready.json<{ status: string; warnings?: string[] }>();
  assert.equal(body.status, 'ready');
  assert.equal(body.warnings?.length, 1);
  assert.match(body.warnings?.[0] ?? '', /maxmemory-policy is allkeys-lru, not noeviction/);

  const lines: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    }),
  );
  const config = loadConfig({ REDIS_URL: server.url, RNNLM_QUEUE_PREFIX: newTestPrefix() });
  const jobs = new RedisJobService({ config, logger });
  t.after(() => jobs.close());
  await jobs.ready(5000);
  const warned = lines.map((l) => JSON.parse(l) as { level: number; msg: string; maxmemoryPolicy?: string });
  assert.ok(
    warned.some((l) => l.level === 40 && l.maxmemoryPolicy === 'allkeys-lru' && /noeviction/.test(l.msg)),
    `no warning logged at start: ${lines.join('')}`,
  );
});

test('6. a Redis that refuses CONFIG GET (managed Redis): the policy is "unknown", a warning, not a failure', async (t) => {
  const server = await RedisServer.start(t, { args: ['--rename-command', 'CONFIG', '""'] });
  const { app, jobs } = await buildOn(t, server);
  assert.equal(await jobs.maxmemoryPolicy(), 'unknown');
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200, ready.body);
  assertMatchesOpenApi(ready, 'GET /readyz');
  assert.match(ready.json<{ warnings?: string[] }>().warnings?.[0] ?? '', /maxmemory-policy is unknown/);
  // Jobs are still taken.
  const res = await app.inject({
    method: 'POST',
    url: '/jobs',
    payload: { corpus: { text: CORPUS }, ...TINY },
  });
  assert.equal(res.statusCode, 202, res.body);
});

test('6. with noeviction, /readyz carries no warning', async (t) => {
  const server = await startFullable(t);
  const { app, jobs } = await buildOn(t, server);
  assert.equal(await jobs.maxmemoryPolicy(), 'noeviction');
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200, ready.body);
  assert.equal(ready.json<{ warnings?: string[] }>().warnings, undefined);
});
