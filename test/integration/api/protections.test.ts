import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';

import type { GenerateOptions } from '../../../src/ml/generate/generate.js';
import { newModelId } from '../../../src/ids.js';
import {
  assertMatchesOpenApi,
  build,
  closedPort,
  newTestPrefix,
  REDIS_URL,
  type TestApp,
  useSharedTinyModel,
} from '../../helpers/app.js';

interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
}

const withModel = useSharedTinyModel();

function assertError(res: LightMyRequestResponse, status: number, code: string, what: string): ErrorBody {
  assert.equal(res.statusCode, status, `${what}: ${res.body}`);
  const body = res.json<ErrorBody>();
  assert.equal(body.statusCode, status, what);
  assert.equal(body.code, code, what);
  assert.equal(typeof body.message, 'string', what);
  return body;
}

const KEYS = 'key-one-0123456789,key-two-abcdefghij';
const UNKNOWN_MODEL = newModelId();

test('with API_KEYS, every route but /healthz and /readyz needs a valid bearer key', async (t) => {
  const { app, id } = await withModel(t, { env: { API_KEYS: KEYS } });
  const guarded: [InjectOptions, string | undefined][] = [
    [{ method: 'GET', url: '/jobs' }, 'GET /jobs'],
    [{ method: 'GET', url: '/models' }, 'GET /models'],
    [{ method: 'GET', url: `/models/${id}` }, 'GET /models/{id}'],
    [{ method: 'GET', url: `/generate?model=${id}&maxTokens=3` }, 'GET /generate'],
    [{ method: 'POST', url: '/generate', payload: { model: id, maxTokens: 3 } }, 'POST /generate'],
    [{ method: 'POST', url: '/score', payload: { model: id, text: 'to be' } }, 'POST /score'],
    [{ method: 'POST', url: '/jobs', payload: { corpus: { text: 'some text' } } }, 'POST /jobs'],
    [{ method: 'GET', url: '/docs' }, 'GET /docs'],
    [{ method: 'GET', url: '/openapi.yaml' }, 'GET /openapi.yaml'],
    // Unknown routes are refused too, so they tell nothing about what exists.
    [{ method: 'GET', url: '/no-such-route' }, undefined],
  ];
  const wrong: [string, Record<string, string>][] = [
    ['no Authorization', {}],
    ['a wrong key', { authorization: 'Bearer key-one-012345678' }],
    ['a longer wrong key', { authorization: 'Bearer key-one-0123456789x' }],
    ['another scheme', { authorization: 'Basic a2V5LW9uZS0wMTIzNDU2Nzg5' }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ];
  for (const [request, operation] of guarded) {
    for (const [why, headers] of wrong) {
      const what = `${String(request.method)} ${String(operation ?? 'an unknown route')} with ${why}`;
      const res = await app.inject({ ...request, headers: { ...request.headers, ...headers } });
      const body = assertError(res, 401, 'RNNLM_UNAUTHORIZED', what);
      assert.equal(body.error, 'Unauthorized', what);
      assert.equal(res.headers['www-authenticate'], 'Bearer', what);
      if (operation !== undefined) assertMatchesOpenApi(res, operation);
    }
  }

  // The probes answer without a key.
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200, ready.body);

  // Either configured key opens every route; the scheme's case does not matter.
  for (const authorization of ['Bearer key-one-0123456789', 'bearer key-two-abcdefghij']) {
    const headers = { authorization };
    for (const url of ['/jobs', '/models', `/models/${id}`, '/docs', '/openapi.yaml', '/docs/json']) {
      const res = await app.inject({ method: 'GET', url, headers });
      assert.equal(res.statusCode, 200, `GET ${url} with ${authorization}: ${res.body}`);
    }
    const gen = await app.inject({
      method: 'POST',
      url: '/generate',
      headers,
      payload: { model: id, maxTokens: 3, seed: 1 },
    });
    assert.equal(gen.statusCode, 200, gen.body);
    assertMatchesOpenApi(gen, 'POST /generate');
    const score = await app.inject({
      method: 'POST',
      url: '/score',
      headers,
      payload: { model: id, text: 'to be' },
    });
    assert.equal(score.statusCode, 200, score.body);
  }
});

test('without API_KEYS, authentication is off', async (t) => {
  const { app } = await build(t, { env: { API_KEYS: ' , ' } });
  for (const url of ['/jobs', '/models', '/openapi.yaml']) {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 200, `GET ${url}: ${res.body}`);
  }
});

test('rate limit: the N+1th /generate or /score in a window is a 429 with retry-after', async (t) => {
  const { app } = await build(t, { env: { RNNLM_RATE_LIMIT_MAX: '3', RNNLM_RATE_LIMIT_WINDOW_MS: '60000' } });
  const score = (remoteAddress?: string) =>
    app.inject({
      method: 'POST',
      url: '/score',
      payload: { model: UNKNOWN_MODEL, text: 'to be' },
      ...(remoteAddress === undefined ? {} : { remoteAddress }),
    });
  for (let i = 1; i <= 3; i++) {
    const res = await score();
    assert.equal(res.statusCode, 404, `request ${i}: ${res.body}`);
    assert.equal(res.headers['x-ratelimit-limit'], '3');
    assert.equal(res.headers['x-ratelimit-remaining'], String(3 - i));
  }
  const limited = await score();
  const body = assertError(limited, 429, 'RNNLM_RATE_LIMITED', '4th /score');
  assert.equal(body.error, 'Too Many Requests');
  assertMatchesOpenApi(limited, 'POST /score');
  const retryAfter = Number(limited.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);

  // /generate shares the count; other routes are not limited.
  const gen = await app.inject({ method: 'GET', url: `/generate?model=${UNKNOWN_MODEL}` });
  assertError(gen, 429, 'RNNLM_RATE_LIMITED', 'GET /generate');
  assertMatchesOpenApi(gen, 'GET /generate');
  const post = await app.inject({ method: 'POST', url: '/generate', payload: { model: UNKNOWN_MODEL } });
  assertError(post, 429, 'RNNLM_RATE_LIMITED', 'POST /generate');
  assert.equal((await app.inject({ method: 'GET', url: '/models' })).statusCode, 200);

  // Another client has a count of its own.
  assert.equal((await score('10.9.8.7')).statusCode, 404);
});

test('rate limit: two API instances sharing the Redis prefix share the count', async (t) => {
  const prefix = newTestPrefix();
  const env = { RNNLM_RATE_LIMIT_MAX: '2', RNNLM_RATE_LIMIT_WINDOW_MS: '60000' };
  const a = await build(t, { env, prefix });
  const b = await build(t, { env, prefix });
  const score = (app: FastifyInstance) =>
    app.inject({ method: 'POST', url: '/score', payload: { model: UNKNOWN_MODEL, text: 'x' } });
  assert.equal((await score(a.app)).statusCode, 404);
  assert.equal((await score(b.app)).statusCode, 404);
  assertError(await score(a.app), 429, 'RNNLM_RATE_LIMITED', 'third request, on instance a');
  assertError(await score(b.app), 429, 'RNNLM_RATE_LIMITED', 'fourth request, on instance b');
  // The counter lives in Redis under the service's prefix, and expires with its window.
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  t.after(() => redis.disconnect());
  const keys = await redis.keys(`${prefix}:ratelimit:*`);
  assert.equal(keys.length, 1, String(keys));
  const ttl = await redis.pttl(keys[0] as string);
  assert.ok(ttl > 0 && ttl <= 60_000, `pttl ${ttl}`);
});

test('rate limit: the window ends and the count starts again', async (t) => {
  const { app } = await build(t, { env: { RNNLM_RATE_LIMIT_MAX: '1', RNNLM_RATE_LIMIT_WINDOW_MS: '300' } });
  const score = () =>
    app.inject({ method: 'POST', url: '/score', payload: { model: UNKNOWN_MODEL, text: 'x' } });
  assert.equal((await score()).statusCode, 404);
  const limited = await score();
  assertError(limited, 429, 'RNNLM_RATE_LIMITED', 'second in the window');
  assert.equal(limited.headers['retry-after'], '1');
  // Once the window's count expires in Redis the next request passes (and is counted anew).
  await eventually(async () => (await score()).statusCode === 404, 5000, 'the next window');
});

test('rate limit: with Redis down the limiter fails open, never a 500', async (t) => {
  const port = await closedPort();
  const { app } = await build(t, {
    env: { REDIS_URL: `redis://127.0.0.1:${port}`, RNNLM_RATE_LIMIT_MAX: '1' },
    expectRedisDown: true,
  });
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const res = await app.inject({
      method: 'POST',
      url: '/score',
      payload: { model: UNKNOWN_MODEL, text: 'x' },
    });
    // Scoring does not need Redis: the unknown model is a 404, as it would be with Redis up.
    assertError(res, 404, 'RNNLM_MODEL_NOT_FOUND', `request ${i + 1}`);
    assert.ok(performance.now() - started < 1500);
  }
});

test('helmet security headers on every answer; /docs keeps a CSP that lets Swagger UI load', async (t) => {
  const { app } = await build(t, { env: { API_KEYS: KEYS } });
  const authorization = 'Bearer key-one-0123456789';
  const answers = [
    await app.inject({ method: 'GET', url: '/healthz' }),
    await app.inject({ method: 'GET', url: '/jobs', headers: { authorization } }),
    await app.inject({ method: 'GET', url: '/jobs' }), // a 401
  ];
  for (const res of answers) {
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
    assert.match(String(res.headers['strict-transport-security']), /max-age=\d+/);
    assert.equal(res.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
    assert.equal(res.headers['x-powered-by'], undefined);
  }
  const page = await app.inject({ method: 'GET', url: '/docs', headers: { authorization } });
  assert.equal(page.statusCode, 200);
  const csp = String(page.headers['content-security-policy']);
  // Swagger UI's own policy: scripts from this server only, no inline script.
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.doesNotMatch(csp, /upgrade-insecure-requests/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  for (const asset of [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string)) {
    assert.doesNotMatch(asset, /^(https?:)?\/\//, asset);
    const url = new URL(asset, 'http://localhost/docs/').pathname;
    const res = await app.inject({ method: 'GET', url, headers: { authorization } });
    assert.equal(res.statusCode, 200, `${url}: ${res.statusCode}`);
  }
});

test('under pressure: 503 RNNLM_OVERLOADED with retry-after, but /healthz still answers', async (t) => {
  // A heap limit of one byte: overloaded from the first sample on (taken every second).
  const { app } = await build(t, { env: { RNNLM_MAX_HEAP_USED_BYTES: '1' } });
  await eventually(
    async () => (await app.inject({ method: 'GET', url: '/models' })).statusCode === 503,
    5000,
    'the first sample',
  );
  for (const [url, operation] of [
    ['/models', 'GET /models'],
    ['/jobs', 'GET /jobs'],
    ['/readyz', 'GET /readyz'],
  ] as const) {
    const res = await app.inject({ method: 'GET', url });
    const body = assertError(res, 503, 'RNNLM_OVERLOADED', url);
    assert.equal(body.error, 'Service Unavailable');
    assert.equal(body.message, 'The server is overloaded; retry after the time in Retry-After');
    assert.equal(res.headers['retry-after'], '10');
    assertMatchesOpenApi(res, operation);
  }
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(health.statusCode, 200, health.body);
});

/**
 * Holds every generation of `models` at its start until `release()`, or until its own signal
 * aborts (the client went away); `entered` resolves each time one is being held.
 */
function holdGenerations(models: TestApp['models']) {
  const original = models.generate.bind(models);
  let open: () => void = () => undefined;
  let gate = new Promise<void>((resolve) => (open = resolve));
  let entered: () => void = () => undefined;
  let enteredPromise = new Promise<void>((resolve) => (entered = resolve));
  let held = 0;
  models.generate = async (id: string, options: GenerateOptions, onText) => {
    held++;
    entered();
    try {
      await new Promise<void>((resolve, reject) => {
        const signal = options.signal;
        if (signal?.aborted === true) {
          reject(new Error('aborted before start'));
          return;
        }
        signal?.addEventListener('abort', () => reject(new Error('client went away')), { once: true });
        void gate.then(resolve);
      });
    } finally {
      held--;
    }
    return original(id, options, onText);
  };
  return {
    get held() {
      return held;
    },
    /** Resolves when the next generation is being held. */
    entered: () => enteredPromise,
    release() {
      open();
    },
    /** Holds the generations that start from now on. */
    rearm() {
      gate = new Promise<void>((resolve) => (open = resolve));
      enteredPromise = new Promise<void>((resolve) => (entered = resolve));
    },
  };
}

async function listen(app: FastifyInstance): Promise<string> {
  return app.listen({ host: '127.0.0.1', port: 0 });
}

/** Waits until `check` holds, polling, for at most `ms`. */
async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await check()) return;
    await sleep(25);
  }
  assert.fail(`${what}: not within ${ms} ms`);
}

test('in-flight cap: a generation over the cap is a 503 while one runs; the slot comes back after', async (t) => {
  const { app, models, id } = await withModel(t, { env: { RNNLM_MAX_INFLIGHT_GENERATIONS: '1' } });
  const base = await listen(app);
  const hold = holdGenerations(models);
  try {
    await inflightScenario(app, base, hold, id);
  } finally {
    // A held generation would keep app.close() waiting.
    hold.release();
  }
});

async function inflightScenario(
  app: FastifyInstance,
  base: string,
  hold: ReturnType<typeof holdGenerations>,
  id: string,
): Promise<void> {
  const generate = () =>
    app.inject({ method: 'POST', url: '/generate', payload: { model: id, maxTokens: 3, seed: 1 } });
  const overloaded = async (what: string) => {
    const res = await generate();
    assertError(res, 503, 'RNNLM_OVERLOADED', what);
    assert.equal(res.headers['retry-after'], '1', what);
    assertMatchesOpenApi(res, 'POST /generate');
    const get = await app.inject({ method: 'GET', url: `/generate?model=${id}&maxTokens=3` });
    assertError(get, 503, 'RNNLM_OVERLOADED', `${what} (GET)`);
  };

  // 1. A plain generation holds the slot until it finishes.
  const first = fetch(`${base}/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: id, maxTokens: 3, seed: 1 }),
  });
  await hold.entered();
  await overloaded('second generation while the first runs');
  // Scoring is not a generation: it still answers.
  const score = await app.inject({ method: 'POST', url: '/score', payload: { model: id, text: 'to be' } });
  assert.equal(score.statusCode, 200, score.body);
  hold.release();
  const done = await first;
  assert.equal(done.status, 200);
  assert.equal(((await done.json()) as { tokens: number }).tokens, 3);
  const after = await generate();
  assert.equal(after.statusCode, 200, after.body);

  // 2. A generation whose client goes away gives the slot back (plain, then streamed).
  for (const stream of [false, true]) {
    hold.rearm();
    const abort = new AbortController();
    const response = fetch(`${base}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: id, maxTokens: 3, stream }),
      signal: abort.signal,
    });
    if (stream) {
      // The stream is open (headers sent) before the generation is held.
      const res = await response;
      assert.equal(res.status, 200);
      assert.match(String(res.headers.get('content-type')), /^text\/event-stream/);
    }
    await hold.entered();
    await overloaded(`while a ${stream ? 'streamed' : 'plain'} generation is held`);
    abort.abort();
    await response.catch(() => undefined);
    await eventually(
      () => Promise.resolve(hold.held === 0),
      2000,
      'the held generation sees its client gone',
    );
    hold.release();
    await eventually(
      async () => (await generate()).statusCode === 200,
      2000,
      `the slot of an aborted ${stream ? 'streamed' : 'plain'} generation is released`,
    );
  }
}
