/**
 * Two API processes of one deployment (one Redis, one model store): a state one of them kept
 * continues on the other, with the output one request of the whole text gives, and each sees
 * and forgets the other's states.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import { jobServiceEnv, startMain } from '../../faults/harness.js';
import { publishTinyModel } from '../../helpers/app.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function post(url: string, path: string, body: unknown, method = 'POST'): Promise<Answer> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

test('a state kept through one API process continues through another with the same output', async (t) => {
  const { env } = await jobServiceEnv(t);
  const model = await publishTinyModel(join(env.dataDir, 'models'));
  const [first, second] = await Promise.all([startMain(env, 'api'), startMain(env, 'api')]);
  assert.ok(first.url !== undefined && second.url !== undefined);
  assert.notEqual(first.url, second.url);

  const A = 'ROMEO:\nBut soft, what light through yonder window breaks?\n';
  const greedy = { model, maxTokens: 30, temperature: 0, details: true };
  const kept = await post(first.url, '/generate', { model, prompt: A, maxTokens: 0, saveState: true });
  assert.equal(kept.status, 200, JSON.stringify(kept.body));
  const handle = (kept.body.state as { id: string }).id;

  const continued = await post(second.url, '/generate', { ...greedy, prompt: 'JU', state: handle });
  assert.equal(continued.status, 200, JSON.stringify(continued.body));
  const whole = await post(first.url, '/generate', { ...greedy, prompt: `${A}JU` });
  assert.equal(continued.body.text, whole.body.text);
  // Equal up to float32 rounding of products of other shapes (see test/integration/inference/sessions.test.ts).
  const tokens = (answer: Answer) =>
    (answer.body.details as { tokens: { id: number; logprob: number }[] }).tokens;
  assert.deepEqual(
    tokens(continued).map((x) => x.id),
    tokens(whole).map((x) => x.id),
  );
  tokens(continued).forEach((x, i) => assert.ok(Math.abs(x.logprob - tokens(whole)[i]!.logprob) < 1e-5));

  // The OpenAI route of the second process continues it too.
  const completion = await post(second.url, '/v1/completions', {
    model,
    prompt: 'JU',
    max_tokens: 30,
    temperature: 0,
    state: handle,
  });
  assert.equal(completion.status, 200, JSON.stringify(completion.body));
  assert.equal((completion.body.choices as { text: string }[])[0]?.text, whole.body.text);

  // Each lists what the other kept, and a state forgotten through one is gone for both.
  const listed = await post(second.url, '/states', undefined, 'GET');
  assert.deepEqual(
    (listed.body.items as { id: string }[]).map((s) => s.id),
    [handle],
  );
  assert.equal((await post(second.url, `/states/${handle}`, undefined, 'DELETE')).status, 204);
  const gone = await post(first.url, '/generate', { ...greedy, prompt: 'JU', state: handle });
  assert.equal(gone.status, 404);
  assert.equal(gone.body.code, 'RNNLM_STATE_NOT_FOUND');
});
