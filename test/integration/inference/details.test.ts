/**
 * Generation details (like TGI's `details=true`): each sampled token with the log-probability
 * the model gave it and, with `topN`, the step's most likely tokens, in JSON and streamed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertMatchesOpenApi, parseSse, useSharedTinyModel } from '../../helpers/app.js';

const withModel = useSharedTinyModel();

interface Detail {
  token: string;
  id: number;
  logprob: number;
  top?: { token: string; id: number; logprob: number }[];
}
interface Generated {
  text: string;
  tokens: number;
  finishReason: string;
  details?: { tokens: Detail[] };
}

test('details=true: every sampled token with its log-probability, and the top-n of each step', async (t) => {
  const { app, id } = await withModel(t);
  const plain = await app.inject({ method: 'GET', url: `/generate?model=${id}&maxTokens=12&seed=3` });
  const res = await app.inject({
    method: 'GET',
    url: `/generate?model=${id}&maxTokens=12&seed=3&details=true&topN=3`,
  });
  assert.equal(res.statusCode, 200, res.body);
  assertMatchesOpenApi(res, 'GET /generate');
  const body = res.json<Generated>();
  // Details change nothing about the text.
  assert.equal(body.text, plain.json<Generated>().text);
  assert.equal(plain.json<Generated>().details, undefined);
  const tokens = body.details!.tokens;
  assert.equal(tokens.length, body.tokens);
  assert.equal(tokens.map((d) => d.token).join(''), body.text);
  for (const d of tokens) {
    assert.ok(d.logprob <= 0 && Number.isFinite(d.logprob));
    assert.equal(d.top?.length, 3);
    const [first, second, third] = d.top;
    assert.ok(first!.logprob >= second!.logprob && second!.logprob >= third!.logprob);
    assert.ok(d.logprob <= first!.logprob);
    // The chosen token's logprob is the one the top list gives it, where it is listed.
    const listed = d.top.find((a) => a.id === d.id);
    if (listed !== undefined) assert.equal(listed.logprob, d.logprob);
  }
  // Greedy decoding picks the top token every step.
  const greedy = await app.inject({
    method: 'POST',
    url: '/generate',
    payload: { model: id, maxTokens: 8, temperature: 0, details: true, topN: 1 },
  });
  assertMatchesOpenApi(greedy, 'POST /generate');
  for (const d of greedy.json<Generated>().details!.tokens) assert.equal(d.id, d.top![0]!.id);
  const noTop = await app.inject({
    method: 'POST',
    url: '/generate',
    payload: { model: id, maxTokens: 4, seed: 1, details: true },
  });
  assert.ok(noTop.json<Generated>().details!.tokens.every((d) => d.top === undefined));
  const tooMany = await app.inject({ method: 'GET', url: `/generate?model=${id}&details=true&topN=21` });
  assert.equal(tooMany.statusCode, 400);
});

test('details streamed: each token event carries the tokens sampled since the previous one', async (t) => {
  const { app, id } = await withModel(t);
  const res = await app.inject({
    method: 'GET',
    url: `/generate?model=${id}&maxTokens=15&seed=4&details=true&topN=2&stream=true`,
  });
  assert.equal(res.statusCode, 200);
  const { events } = parseSse(res.body);
  const done = events.at(-1)!;
  assert.equal(done.event, 'done');
  const result = done.data as Generated;
  const streamed = events
    .filter((e) => e.event === 'token')
    .flatMap((e) => (e.data as { tokens: Detail[] }).tokens);
  // Tokens whose text was held back (a stop sequence could start there) come with the final
  // result only; here no stop is set, so every token was streamed.
  assert.deepEqual(streamed, result.details!.tokens);
  assert.equal(result.details!.tokens.length, result.tokens);
});
