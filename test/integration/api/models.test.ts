import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { newModelId } from '../../../src/ids.js';
import {
  assertMatchesOpenApi,
  build,
  compileOpenApiSchema,
  openapi,
  parseSse,
  useSharedTinyModel,
} from '../../helpers/app.js';

interface GenerateBody {
  model: string;
  prompt: string;
  text: string;
  tokens: number;
  finishReason: string;
}

const withModel = useSharedTinyModel();

test('GET /models lists the published models; GET /models/:id describes one', async (t) => {
  const { app, id } = await withModel(t);
  const list = await app.inject({ method: 'GET', url: '/models' });
  assert.equal(list.statusCode, 200);
  assertMatchesOpenApi(list, 'GET /models');
  assert.deepEqual(
    list.json<{ items: { id: string }[] }>().items.map((m) => m.id),
    [id],
  );
  const one = await app.inject({ method: 'GET', url: `/models/${id}` });
  assert.equal(one.statusCode, 200);
  assertMatchesOpenApi(one, 'GET /models/{id}');
  const model = one.json<{ id: string; tokenizer: { type: string; vocabSize: number }; config: unknown }>();
  assert.equal(model.id, id);
  assert.equal(model.tokenizer.type, 'char');
  assert.ok(model.tokenizer.vocabSize > 10);
});

test('GET and POST /generate: text from the model, reproducible with a seed, bounded by maxTokens', async (t) => {
  const { app, id } = await withModel(t);
  const get = await app.inject({
    method: 'GET',
    url: '/generate',
    query: { model: id, prompt: 'ROMEO:', maxTokens: '12', temperature: '0.8', topK: '5', seed: '3' },
  });
  assert.equal(get.statusCode, 200, get.body);
  assertMatchesOpenApi(get, 'GET /generate');
  const body = get.json<GenerateBody>();
  assert.equal(body.model, id);
  assert.equal(body.prompt, 'ROMEO:');
  assert.equal(body.tokens, 12);
  assert.equal(body.finishReason, 'length');

  const post = await app.inject({
    method: 'POST',
    url: '/generate',
    payload: { model: id, prompt: 'ROMEO:', maxTokens: 12, temperature: 0.8, topK: 5, seed: 3 },
  });
  assert.equal(post.statusCode, 200, post.body);
  assertMatchesOpenApi(post, 'POST /generate');
  assert.deepEqual(post.json(), body);

  // A stop sequence that the greedy text contains ends generation before it.
  const greedy = await app.inject({
    method: 'POST',
    url: '/generate',
    payload: { model: id, prompt: 'a', maxTokens: 30, temperature: 0 },
  });
  const text = greedy.json<GenerateBody>().text;
  assert.equal(text.length, 30);
  const stopAt = text.slice(3, 5);
  const stopped = await app.inject({
    method: 'GET',
    url: `/generate?model=${id}&prompt=a&maxTokens=30&temperature=0&stop=${encodeURIComponent(stopAt)}&stop=zzz`,
  });
  assert.equal(stopped.statusCode, 200, stopped.body);
  const s = stopped.json<GenerateBody>();
  assert.equal(s.finishReason, 'stop');
  assert.equal(s.text, text.slice(0, text.indexOf(stopAt)));
});

test('streaming /generate: one token event per piece of text, then done', async (t) => {
  const { app, id } = await withModel(t);
  const expected = (
    await app.inject({ method: 'POST', url: '/generate', payload: { model: id, maxTokens: 8, seed: 9 } })
  ).json<GenerateBody>();

  for (const request of [
    { method: 'GET' as const, url: `/generate?model=${id}&maxTokens=8&seed=9&stream=true` },
    {
      method: 'POST' as const,
      url: '/generate',
      headers: { accept: 'text/event-stream' },
      payload: { model: id, maxTokens: 8, seed: 9 },
    },
  ]) {
    const res = await app.inject(request);
    assert.equal(res.statusCode, 200, res.body);
    assertMatchesOpenApi(res, `${request.method} /generate`);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    const { events } = parseSse(res.body);
    const tokens = events.filter((e) => e.event === 'token');
    const last = events.at(-1);
    assert.equal(last?.event, 'done');
    assert.deepEqual(last?.data, expected);
    const result = compileOpenApiSchema(
      openapi.components.schemas.GenerateResult,
      'component GenerateResult',
    );
    assert.ok(result(last?.data), JSON.stringify(result.errors));
    assert.ok(tokens.length >= 1 && tokens.length <= 8);
    assert.equal(tokens.map((e) => (e.data as { text: string }).text).join(''), expected.text);
  }
});

test('POST /score: nll, perplexity, bits per character, and per-token details', async (t) => {
  const { app, id } = await withModel(t);
  const res = await app.inject({
    method: 'POST',
    url: '/score',
    payload: { model: id, text: 'To be, or not to be', context: 'HAMLET:\n', details: true },
  });
  assert.equal(res.statusCode, 200, res.body);
  assertMatchesOpenApi(res, 'POST /score');
  const s = res.json<{
    model: string;
    tokens: number;
    characters: number;
    nll: number;
    meanNll: number;
    perplexity: number;
    bitsPerChar: number;
    tokenLogprobs: { token: string; logprob: number }[];
  }>();
  assert.equal(s.model, id);
  assert.equal(s.characters, 19);
  assert.equal(s.tokens, 19);
  assert.ok(Math.abs(s.meanNll - s.nll / s.tokens) < 1e-9);
  assert.ok(Math.abs(s.perplexity - Math.exp(s.meanNll)) < 1e-6);
  assert.equal(s.tokenLogprobs.length, 19);
  assert.equal(s.tokenLogprobs.map((x) => x.token).join(''), 'To be, or not to be');

  const plain = await app.inject({ method: 'POST', url: '/score', payload: { model: id, text: 'To be' } });
  assert.equal(plain.statusCode, 200);
  assert.equal('tokenLogprobs' in plain.json<object>(), false);
});

test('/generate and /score say how much of the prompt or text the vocabulary did not cover', async (t) => {
  const { app, id } = await withModel(t);
  // A character model of English: the two Han characters are outside its vocabulary.
  const generated = await app.inject({
    method: 'POST',
    url: '/generate',
    payload: { model: id, prompt: 'To 漢字 be', maxTokens: 3, seed: 1 },
  });
  assert.equal(generated.statusCode, 200, generated.body);
  assertMatchesOpenApi(generated, 'POST /generate');
  assert.equal(generated.json<{ unknownTokens: number }>().unknownTokens, 2);
  const known = await app.inject({ method: 'GET', url: `/generate?model=${id}&prompt=To&maxTokens=1` });
  assert.equal(known.json<{ unknownTokens: number }>().unknownTokens, 0);
  const scored = await app.inject({
    method: 'POST',
    url: '/score',
    payload: { model: id, text: 'To 漢字 be', context: '漢' },
  });
  assert.equal(scored.statusCode, 200, scored.body);
  assertMatchesOpenApi(scored, 'POST /score');
  // The context's unknown character is not the text's.
  assert.equal(scored.json<{ unknownTokens: number }>().unknownTokens, 2);
});

test('400 on inference requests: maxTokens over the limit, unknown fields, bad model ids', async (t) => {
  const { app, id } = await withModel(t, { env: { RNNLM_MAX_GENERATE_TOKENS: '50' } });
  const over = await app.inject({ method: 'GET', url: `/generate?model=${id}&maxTokens=51` });
  assert.equal(over.statusCode, 400);
  assertMatchesOpenApi(over, 'GET /generate');
  assert.match(over.json<{ message: string }>().message, /^querystring\.maxTokens: Too big: .*50/);

  const overPost = await app.inject({
    method: 'POST',
    url: '/generate',
    payload: { model: id, maxTokens: 51 },
  });
  assert.equal(overPost.statusCode, 400);
  assert.match(overPost.json<{ message: string }>().message, /^body\.maxTokens: /);

  const unknown = await app.inject({
    method: 'POST',
    url: '/score',
    payload: { model: id, text: 'x', colour: 1 },
  });
  assert.equal(unknown.statusCode, 400);
  assertMatchesOpenApi(unknown, 'POST /score');
  assert.equal(unknown.json<{ message: string }>().message, 'body.colour: Unrecognized key');

  const unknownQuery = await app.inject({ method: 'GET', url: `/generate?model=${id}&temp=1` });
  assert.equal(unknownQuery.statusCode, 400);
  assert.match(unknownQuery.json<{ message: string }>().message, /^querystring\.temp: Unrecognized key/);

  const badTemp = await app.inject({ method: 'GET', url: `/generate?model=${id}&temperature=hot` });
  assert.equal(badTemp.statusCode, 400);
  assert.match(badTemp.json<{ message: string }>().message, /^querystring\.temperature: /);

  const badId = await app.inject({ method: 'GET', url: '/models/mdl_NOT_LOWER_CASE' });
  assert.equal(badId.statusCode, 400);
  assertMatchesOpenApi(badId, 'GET /models/{id}');
  assert.match(badId.json<{ message: string }>().message, /^params\.id: /);
  const badModel = await app.inject({ method: 'POST', url: '/score', payload: { model: 'gpt', text: 'x' } });
  assert.equal(badModel.statusCode, 400);
  assert.match(badModel.json<{ message: string }>().message, /^body\.model: /);

  const empty = await app.inject({ method: 'POST', url: '/score', payload: { model: id, text: '' } });
  assert.equal(empty.statusCode, 400);
  assert.match(empty.json<{ message: string }>().message, /^body\.text: /);
});

test('404 for an unknown model on every model route', async (t) => {
  const { app } = await build(t);
  const id = newModelId();
  for (const [request, operation] of [
    [{ method: 'GET', url: `/models/${id}` }, 'GET /models/{id}'],
    [{ method: 'DELETE', url: `/models/${id}` }, 'DELETE /models/{id}'],
    [{ method: 'GET', url: `/generate?model=${id}` }, 'GET /generate'],
    [{ method: 'GET', url: `/generate?model=${id}&stream=true` }, 'GET /generate'],
    [{ method: 'POST', url: '/generate', payload: { model: id } }, 'POST /generate'],
    [{ method: 'POST', url: '/score', payload: { model: id, text: 'x' } }, 'POST /score'],
  ] as const) {
    const res = await app.inject(request);
    assert.equal(res.statusCode, 404, `${request.method} ${request.url}: ${res.body}`);
    assertMatchesOpenApi(res, operation);
    assert.equal(res.json<{ code: string }>().code, 'RNNLM_MODEL_NOT_FOUND');
  }
});

test('409 for a model whose directory is not complete', async (t) => {
  const { app, modelsDir } = await build(t);
  const empty = newModelId();
  await mkdir(join(modelsDir, empty));
  const torn = newModelId();
  await mkdir(join(modelsDir, torn));
  await writeFile(join(modelsDir, torn, 'meta.json'), '{"createdAt": "2026-01-01T00:00:00.000Z"');
  for (const id of [empty, torn]) {
    for (const [request, operation] of [
      [{ method: 'GET', url: `/models/${id}` }, 'GET /models/{id}'],
      [{ method: 'GET', url: `/generate?model=${id}` }, 'GET /generate'],
      [{ method: 'POST', url: '/score', payload: { model: id, text: 'x' } }, 'POST /score'],
    ] as const) {
      const res = await app.inject(request);
      assert.equal(res.statusCode, 409, `${request.method} ${request.url}: ${res.body}`);
      assertMatchesOpenApi(res, operation);
      assert.match(res.json<{ code: string }>().code, /^RNNLM_(ARTIFACT_CORRUPT|MODEL_NOT_READY)$/);
    }
  }
  // A listing skips what it cannot read.
  const list = await app.inject({ method: 'GET', url: '/models' });
  assert.deepEqual(list.json(), { items: [] });
  // An incomplete model can still be deleted.
  const deleted = await app.inject({ method: 'DELETE', url: `/models/${torn}` });
  assert.equal(deleted.statusCode, 204);
  assert.equal((await app.inject({ method: 'GET', url: `/models/${torn}` })).statusCode, 404);
});

test('DELETE /models/:id: 204, then the model is gone', async (t) => {
  const { app, id } = await withModel(t);
  const res = await app.inject({ method: 'DELETE', url: `/models/${id}` });
  assert.equal(res.statusCode, 204);
  assertMatchesOpenApi(res, 'DELETE /models/{id}');
  assert.equal(res.body, '');
  const gone = await app.inject({ method: 'GET', url: `/models/${id}` });
  assert.equal(gone.statusCode, 404);
  const again = await app.inject({ method: 'DELETE', url: `/models/${id}` });
  assert.equal(again.statusCode, 404);
});
