/**
 * Kept recurrent states over HTTP: `saveState` answers a handle, `state` continues from it as
 * one request of the whole text would, `/states` lists, shows and forgets them, and a handle
 * used with another model, after its model is deleted, or after it is gone is a clear 4xx.
 */
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { assertMatchesOpenApi, parseSse, publishTinyModel, useSharedTinyModel } from '../../helpers/app.js';

const withModel = useSharedTinyModel();

interface StateBody {
  id: string;
  model: string;
  tokens: number;
  expiresAt: string;
}
interface GenerateBody {
  text: string;
  tokens: number;
  promptTokens: number;
  state?: StateBody;
}
interface ScoreBody {
  nll: number;
  tokens: number;
  state?: StateBody;
}
interface ErrorBody {
  code: string;
  message: string;
}

const A = 'ROMEO:\nBut soft, what light through yonder window breaks?\n';
const B = 'JU';

test('POST /generate with saveState, then state: the continuation equals one request of the whole text', async (t) => {
  const { app, id } = await withModel(t);
  const post = (body: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/generate', payload: body });
  const first = await post({ model: id, prompt: A, maxTokens: 0, saveState: true });
  assert.equal(first.statusCode, 200, first.body);
  assertMatchesOpenApi(first, 'POST /generate');
  const kept = first.json<GenerateBody>().state;
  assert.ok(kept !== undefined);
  assert.match(kept.id, /^st_[a-z0-9]{26}$/);
  assert.equal(kept.model, id);
  assert.equal(kept.tokens, 1 + A.length);

  const greedy = { model: id, maxTokens: 30, temperature: 0 };
  const continued = await post({ ...greedy, prompt: B, state: kept.id, saveState: true });
  assert.equal(continued.statusCode, 200, continued.body);
  const whole = await post({ ...greedy, prompt: A + B });
  const body = continued.json<GenerateBody>();
  assert.equal(body.text, whole.json<GenerateBody>().text);
  assert.equal(body.promptTokens, B.length);
  assert.equal(body.state?.tokens, 1 + A.length + B.length + 30);
  assert.notEqual(body.state?.id, kept.id, 'each request keeps a new handle');

  // GET /generate takes the same fields, and the handle continues again (it is not used up).
  const get = await app.inject({
    method: 'GET',
    url: '/generate',
    query: { model: id, prompt: B, maxTokens: '30', temperature: '0', state: kept.id },
  });
  assert.equal(get.statusCode, 200, get.body);
  assertMatchesOpenApi(get, 'GET /generate');
  assert.equal(get.json<GenerateBody>().text, body.text);
  assert.equal(get.json<GenerateBody>().state, undefined);
});

test('a streamed generation answers its kept state in the done event', async (t) => {
  const { app, id } = await withModel(t);
  const res = await app.inject({
    method: 'POST',
    url: '/generate',
    payload: { model: id, prompt: A, maxTokens: 5, saveState: true, stream: true },
  });
  assert.equal(res.statusCode, 200);
  const done = parseSse(res.body).events.find((e) => e.event === 'done');
  const state = (done?.data as GenerateBody | undefined)?.state;
  assert.ok(state !== undefined, res.body);
  const shown = await app.inject({ method: 'GET', url: `/states/${state.id}` });
  assert.equal(shown.statusCode, 200);
  assertMatchesOpenApi(shown, 'GET /states/{id}');
  assert.deepEqual(shown.json(), state);
});

test('POST /score continues from a kept state: the two scores add up to the whole text', async (t) => {
  const { app, id } = await withModel(t);
  const score = (body: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/score', payload: body });
  const first = await score({ model: id, text: A, saveState: true });
  assert.equal(first.statusCode, 200, first.body);
  assertMatchesOpenApi(first, 'POST /score');
  const kept = first.json<ScoreBody>().state;
  assert.ok(kept !== undefined);
  const second = await score({ model: id, text: B, state: kept.id });
  assert.equal(second.statusCode, 200, second.body);
  const whole = (await score({ model: id, text: A + B })).json<ScoreBody>();
  assert.ok(Math.abs(first.json<ScoreBody>().nll + second.json<ScoreBody>().nll - whole.nll) < 1e-4);
  assert.equal(second.json<ScoreBody>().tokens, B.length);
});

test('GET /states lists the kept states (all, or one model\u2019s); DELETE /states/:id forgets one', async (t) => {
  const { app, id } = await withModel(t);
  const keep = async (text: string) =>
    (
      await app.inject({ method: 'POST', url: '/score', payload: { model: id, text, saveState: true } })
    ).json<ScoreBody>().state!;
  const a = await keep('abc');
  const b = await keep('def');
  const list = await app.inject({ method: 'GET', url: '/states' });
  assert.equal(list.statusCode, 200);
  assertMatchesOpenApi(list, 'GET /states');
  assert.deepEqual(
    list
      .json<{ items: StateBody[] }>()
      .items.map((s) => s.id)
      .sort(),
    [a.id, b.id].sort(),
  );
  const byModel = await app.inject({ method: 'GET', url: '/states', query: { model: id, limit: '1' } });
  assert.equal(byModel.json<{ items: StateBody[] }>().items.length, 1);

  const deleted = await app.inject({ method: 'DELETE', url: `/states/${a.id}` });
  assert.equal(deleted.statusCode, 204);
  assertMatchesOpenApi(deleted, 'DELETE /states/{id}');
  for (const res of [
    await app.inject({ method: 'DELETE', url: `/states/${a.id}` }),
    await app.inject({ method: 'GET', url: `/states/${a.id}` }),
    await app.inject({ method: 'POST', url: '/score', payload: { model: id, text: 'x', state: a.id } }),
  ]) {
    assert.equal(res.statusCode, 404, res.body);
    assert.equal(res.json<ErrorBody>().code, 'RNNLM_STATE_NOT_FOUND');
  }
  const malformed = await app.inject({ method: 'GET', url: '/states/st_nope' });
  assert.equal(malformed.statusCode, 400);
});

test('a handle used with another model is a 409; after its model is deleted the model is a 404 and the state is gone', async (t) => {
  const { app, id, modelsDir } = await withModel(t);
  const otherDir = join(modelsDir, '..', 'other');
  const other = await publishTinyModel(otherDir, 'other');
  await cp(join(otherDir, other), join(modelsDir, other), { recursive: true });
  const kept = (
    await app.inject({ method: 'POST', url: '/score', payload: { model: id, text: 'abc', saveState: true } })
  ).json<ScoreBody>().state!;

  const mismatch = await app.inject({
    method: 'POST',
    url: '/generate',
    payload: { model: other, prompt: 'x', state: kept.id },
  });
  assert.equal(mismatch.statusCode, 409, mismatch.body);
  assertMatchesOpenApi(mismatch, 'POST /generate');
  assert.equal(mismatch.json<ErrorBody>().code, 'RNNLM_STATE_MODEL_MISMATCH');
  assert.match(mismatch.json<ErrorBody>().message, new RegExp(id));

  assert.equal((await app.inject({ method: 'DELETE', url: `/models/${id}` })).statusCode, 204);
  const gone = await app.inject({
    method: 'POST',
    url: '/generate',
    payload: { model: id, prompt: 'x', state: kept.id },
  });
  assert.equal(gone.statusCode, 404);
  assert.equal(gone.json<ErrorBody>().code, 'RNNLM_MODEL_NOT_FOUND');
  const state = await app.inject({ method: 'GET', url: `/states/${kept.id}` });
  assert.equal(state.json<ErrorBody>().code, 'RNNLM_STATE_NOT_FOUND', 'the model took its states with it');
});
