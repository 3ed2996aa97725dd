/**
 * Kept recurrent states survive a Redis crash: Redis (append-only file, fsync always) is
 * SIGKILLed and started again, and the API process, never restarted, continues the states it
 * kept before, with the output one request of the whole text gives. While Redis is down a
 * request naming a state is a 503 within a second, not a hang.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import { publishTinyModel } from '../helpers/app.js';
import { RedisServer } from '../helpers/redis-server.js';
import { jobServiceEnv, startMain, waitFor } from './harness.js';

async function post(url: string, path: string, body: unknown) {
  const started = performance.now();
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    ms: performance.now() - started,
  };
}

test('states kept before Redis is killed and restarted from its AOF continue after it', async (t) => {
  const redis = await RedisServer.start(t, { args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  const { env } = await jobServiceEnv(t, { REDIS_URL: redis.url });
  const model = await publishTinyModel(join(env.dataDir, 'models'));
  const api = await startMain(env, 'api');
  assert.ok(api.url !== undefined, api.out.stdout);

  const A = 'ROMEO:\nBut soft, what light through yonder window breaks?\n';
  const kept = await post(api.url, '/generate', { model, prompt: A, maxTokens: 0, saveState: true });
  assert.equal(kept.status, 200, JSON.stringify(kept.body));
  const handle = (kept.body.state as { id: string }).id;
  const completion = await post(api.url, '/v1/completions', {
    model,
    prompt: A,
    max_tokens: 10,
    temperature: 0,
    save_state: true,
  });
  assert.equal(completion.status, 200, JSON.stringify(completion.body));
  const choice = (completion.body.choices as { text: string; state: { id: string } }[])[0]!;

  await redis.stop();
  const during = await post(api.url, '/generate', { model, prompt: 'JU', state: handle });
  assert.equal(during.status, 503, JSON.stringify(during.body));
  assert.equal(during.body.code, 'RNNLM_REDIS_UNAVAILABLE');
  assert.ok(during.ms < 1000, `a 503 after ${Math.round(during.ms)} ms`);
  await redis.restart();

  const greedy = { model, maxTokens: 30, temperature: 0 };
  const after = await waitFor(
    () => post(api.url!, '/generate', { ...greedy, prompt: 'JU', state: handle }),
    (r) => r.status !== 503,
    15_000,
    'the API to reach Redis again',
  );
  assert.equal(after.status, 200, JSON.stringify(after.body));
  const whole = await post(api.url, '/generate', { ...greedy, prompt: `${A}JU` });
  assert.equal(after.body.text, whole.body.text);

  // The completion's state holds its sampled tokens too: it goes on as one longer completion.
  const rest = await post(api.url, '/v1/completions', {
    model,
    prompt: '',
    max_tokens: 10,
    temperature: 0,
    state: choice.state.id,
  });
  assert.equal(rest.status, 200, JSON.stringify(rest.body));
  const longer = await post(api.url, '/v1/completions', { model, prompt: A, max_tokens: 20, temperature: 0 });
  assert.equal(
    choice.text + (rest.body.choices as { text: string }[])[0]?.text,
    (longer.body.choices as { text: string }[])[0]?.text,
  );
});
