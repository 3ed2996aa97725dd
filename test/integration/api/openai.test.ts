/**
 * The OpenAI-compatible routes driven by OpenAI's own client (the `openai` package) against
 * the running service: models, completions plain and streamed, echo scoring that agrees with
 * /score, stop sequences, seeded sampling, logit bias, kept states, and every error in
 * OpenAI's shape.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import OpenAI from 'openai';

import { assertMatchesOpenApi, useSharedTinyModel, type BuildOptions } from '../../helpers/app.js';

const withModel = useSharedTinyModel();

/** The service listening on a free port, and an OpenAI client pointed at its /v1. */
async function serve(t: TestContext, options: BuildOptions = {}, apiKey = 'unused') {
  const built = await withModel(t, options);
  const url = await built.app.listen({ port: 0, host: '127.0.0.1' });
  const client = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 });
  return { ...built, url, client };
}

/** The APIError a call rejects with. */
async function apiError(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIError, String(err));
    return err;
  }
  assert.fail('the call succeeded');
}

const PROMPT = 'ROMEO:\nBut soft, what light';

test('models.list and models.retrieve show the published models as OpenAI does', async (t) => {
  const { client, id, app } = await serve(t);
  const page = await client.models.list();
  assert.deepEqual(
    page.data.map((m) => [m.id, m.object, m.owned_by]),
    [[id, 'model', 'rnnlm']],
  );
  const one = await client.models.retrieve(id);
  assert.equal(one.id, id);
  assert.ok(Math.abs(one.created * 1000 - Date.now()) < 24 * 3600 * 1000);
  assertMatchesOpenApi(await app.inject({ method: 'GET', url: '/v1/models' }), 'GET /v1/models');
  const missing = await apiError(client.models.retrieve('mdl_aaaaaaaaaaaaaaaaaaaaaaaaaa'));
  assert.equal(missing.status, 404);
  assert.equal(missing.code, 'RNNLM_MODEL_NOT_FOUND');
});

test('completions.create answers what POST /generate answers, with usage', async (t) => {
  const { client, id, app } = await serve(t);
  const completion = await client.completions.create({
    model: id,
    prompt: PROMPT,
    max_tokens: 20,
    temperature: 0,
  });
  assert.equal(completion.object, 'text_completion');
  assert.match(completion.id, /^cmpl-/);
  assert.equal(completion.model, id);
  const [choice] = completion.choices;
  const generated = await app.inject({
    method: 'POST',
    url: '/generate',
    payload: { model: id, prompt: PROMPT, maxTokens: 20, temperature: 0 },
  });
  assert.equal(choice?.text, generated.json<{ text: string }>().text);
  assert.equal(choice?.finish_reason, 'length');
  assert.equal(choice?.logprobs, null);
  assert.deepEqual(completion.usage, {
    prompt_tokens: PROMPT.length,
    completion_tokens: 20,
    total_tokens: PROMPT.length + 20,
  });
  const res = await app.inject({
    method: 'POST',
    url: '/v1/completions',
    payload: { model: id, prompt: PROMPT, max_tokens: 5, logprobs: 3 },
  });
  assert.equal(res.statusCode, 200);
  assertMatchesOpenApi(res, 'POST /v1/completions');
});

test('a streamed completion sends chunks whose text adds up to the completion, then usage, then [DONE]', async (t) => {
  const { client, id, url } = await serve(t);
  const request = { model: id, prompt: PROMPT, max_tokens: 25, temperature: 0, logprobs: 2 } as const;
  const whole = await client.completions.create(request);
  const stream = await client.completions.create({
    ...request,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  const tokens: string[] = [];
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.text;
      tokens.push(...(c.logprobs?.tokens ?? []));
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(text, whole.choices[0]?.text);
  assert.deepEqual(tokens, whole.choices[0]?.logprobs?.tokens);
  assert.equal(finish, 'length');
  assert.deepEqual(usage, whole.usage);
  // On the wire: data-only events, the last one `data: [DONE]`.
  const raw = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...request, stream: true }),
  });
  assert.match(raw.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events = (await raw.text()).split('\n\n').filter((e) => e.length > 0);
  assert.ok(events.every((e) => e.startsWith('data: ')));
  assert.equal(events.at(-1), 'data: [DONE]');
});

test("echo with max_tokens 0 scores the prompt: its log-probabilities sum to POST /score's -nll", async (t) => {
  const { client, id, app } = await serve(t);
  const text = 'To be, or not to be, that is the question:\nWhether tis nobler in the mind';
  const scored = await client.completions.create({
    model: id,
    prompt: text,
    max_tokens: 0,
    echo: true,
    logprobs: 5,
  });
  const [choice] = scored.choices;
  assert.equal(choice?.text, text);
  const logprobs = choice?.logprobs;
  assert.ok(logprobs?.token_logprobs !== undefined && logprobs.top_logprobs !== undefined);
  // 'q' is not in the tiny model's vocabulary: its token is <unk>, still at its place in the text.
  assert.equal(logprobs.tokens?.join(''), text.replace('q', '<unk>'));
  assert.deepEqual(
    logprobs.text_offset,
    [...text].map((_, i) => i),
  );
  for (const top of logprobs.top_logprobs)
    assert.ok(Object.keys(top).length >= 5 && Object.keys(top).length <= 6);
  const score = await app.inject({ method: 'POST', url: '/score', payload: { model: id, text } });
  const nll = score.json<{ nll: number }>().nll;
  const sum = logprobs.token_logprobs.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum + nll) < 1e-4, `echo sums to ${sum}, /score's nll is ${nll}`);
  assert.deepEqual(scored.usage, {
    prompt_tokens: text.length,
    completion_tokens: 0,
    total_tokens: text.length,
  });

  // Echo with a completion: the prompt's tokens, then the sampled ones, over the whole text.
  const both = await client.completions.create({
    model: id,
    prompt: text,
    max_tokens: 10,
    echo: true,
    logprobs: 0,
    temperature: 0,
  });
  const plain = await client.completions.create({ model: id, prompt: text, max_tokens: 10, temperature: 0 });
  assert.equal(both.choices[0]?.text, text + plain.choices[0]?.text);
  assert.equal(both.choices[0]?.logprobs?.tokens?.length, text.length + 10);
});

test('a stop sequence ends the completion before it, with finish_reason stop', async (t) => {
  const { client, id } = await serve(t);
  const request = { model: id, prompt: PROMPT, max_tokens: 40, temperature: 0.9, seed: 11 };
  const free = (await client.completions.create(request)).choices[0]!.text;
  const stop = free.slice(8, 10);
  const stopped = await client.completions.create({ ...request, stop: [stop, 'never there'] });
  assert.equal(stopped.choices[0]?.text, free.slice(0, free.indexOf(stop)));
  assert.equal(stopped.choices[0]?.finish_reason, 'stop');
});

test('a seed reproduces a sampled completion; its n choices use seed + i; prompts and n give their choices in order', async (t) => {
  const { client, id } = await serve(t);
  const request = { model: id, prompt: PROMPT, max_tokens: 30, temperature: 1.2, seed: 42, n: 3 };
  const a = await client.completions.create(request);
  const b = await client.completions.create(request);
  assert.deepEqual(a.choices, b.choices);
  assert.deepEqual(
    a.choices.map((c) => c.index),
    [0, 1, 2],
  );
  const second = await client.completions.create({ ...request, n: 1, seed: 43 });
  assert.equal(second.choices[0]?.text, a.choices[1]?.text);
  const other = await client.completions.create({ ...request, seed: 7 });
  assert.notDeepEqual(
    other.choices.map((c) => c.text),
    a.choices.map((c) => c.text),
  );
  const prompts = await client.completions.create({ ...request, prompt: [PROMPT, 'JULIET:'], n: 2 });
  assert.deepEqual(
    prompts.choices.map((c) => c.index),
    [0, 1, 2, 3],
  );
  assert.deepEqual(
    prompts.choices.slice(0, 2).map((c) => c.text),
    a.choices.slice(0, 2).map((c) => c.text),
  );
});

test('logit_bias steers greedy decoding to a token', async (t) => {
  const { client, id } = await serve(t);
  const completion = await client.completions.create({
    model: id,
    prompt: PROMPT,
    max_tokens: 8,
    temperature: 0,
    logprobs: 0,
    logit_bias: { '3': 100 },
  });
  const token = completion.choices[0]?.logprobs?.tokens?.[0];
  assert.ok(token !== undefined);
  assert.equal(completion.choices[0]?.text, token.repeat(8));
});

test('save_state and state continue a completion from where the last one left it', async (t) => {
  const { client, id } = await serve(t);
  const kept = await client.completions.create({
    model: id,
    prompt: PROMPT,
    max_tokens: 0,
    echo: true,
    save_state: true,
  } as OpenAI.CompletionCreateParamsNonStreaming);
  const state = (kept.choices[0] as unknown as { state?: { id: string; model: string } }).state;
  assert.equal(state?.model, id);
  const greedy = { model: id, max_tokens: 15, temperature: 0 };
  const continued = await client.completions.create({
    ...greedy,
    prompt: ' is',
    state: state?.id,
  } as OpenAI.CompletionCreateParamsNonStreaming);
  const whole = await client.completions.create({ ...greedy, prompt: `${PROMPT} is` });
  assert.equal(continued.choices[0]?.text, whole.choices[0]?.text);
  assert.equal(continued.usage?.prompt_tokens, 3);
  const gone = await apiError(
    client.completions.create({
      ...greedy,
      prompt: 'x',
      state: 'st_aaaaaaaaaaaaaaaaaaaaaaaaaa',
    } as OpenAI.CompletionCreateParamsNonStreaming),
  );
  assert.equal(gone.status, 404);
  assert.equal(gone.code, 'RNNLM_STATE_NOT_FOUND');
});

test('what rnnlm cannot do is a 400 in OpenAI\u2019s shape, naming the field', async (t) => {
  const { client, id, url } = await serve(t);
  const cases: [Record<string, unknown>, string][] = [
    [{ suffix: 'and then' }, 'suffix'],
    [{ best_of: 3 }, 'best_of'],
    [{ frequency_penalty: 0.5 }, 'frequency_penalty'],
    [{ prompt: [1, 2, 3] }, 'prompt'],
    [{ n: 33 }, 'n'],
    [{ max_tokens: 100_000 }, 'max_tokens'],
    [{ logprobs: 21 }, 'logprobs'],
    [{ logit_bias: { '99999': 1 } }, 'logit_bias'],
    [{ temperature: -1 }, 'temperature'],
  ];
  for (const [extra, param] of cases) {
    const err = await apiError(
      client.completions.create({
        model: id,
        prompt: 'x',
        ...extra,
      } as OpenAI.CompletionCreateParamsNonStreaming),
    );
    assert.equal(err.status, 400, JSON.stringify(extra));
    assert.equal(err.type, 'invalid_request_error');
    assert.equal(err.param, param, JSON.stringify(err.error));
    assert.equal(err.code, 'RNNLM_INVALID_REQUEST');
  }
  // A chat request is refused by its field; unknown routes and unknown models answer in the same shape.
  const post = (path: string, body: unknown) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const chat = await post('/v1/completions', { model: id, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(chat.status, 400);
  assert.equal(((await chat.json()) as { error: { param: string } }).error.param, 'messages');
  const route = await post('/v1/chat/completions', { model: id });
  assert.equal(route.status, 404);
  assert.deepEqual(Object.keys(((await route.json()) as { error: object }).error).sort(), [
    'code',
    'message',
    'param',
    'type',
  ]);
  const model = await apiError(client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x' }));
  assert.equal(model.status, 404);
  assert.equal(model.code, 'RNNLM_MODEL_NOT_FOUND');
});

test('a wrong key is a 401 and the shared rate limit a 429, both in OpenAI\u2019s shape', async (t) => {
  const { client, id, url } = await serve(
    t,
    { env: { API_KEYS: 'right-key', RNNLM_RATE_LIMIT_MAX: '2' } },
    'right-key',
  );
  const wrong = new OpenAI({ apiKey: 'wrong-key', baseURL: `${url}/v1`, maxRetries: 0 });
  const denied = await apiError(wrong.completions.create({ model: id, prompt: 'x', max_tokens: 1 }));
  assert.equal(denied.status, 401);
  assert.equal(denied.type, 'authentication_error');
  assert.equal(denied.code, 'RNNLM_UNAUTHORIZED');
  await client.completions.create({ model: id, prompt: 'x', max_tokens: 1 });
  await client.completions.create({ model: id, prompt: 'x', max_tokens: 1 });
  const limited = await apiError(client.completions.create({ model: id, prompt: 'x', max_tokens: 1 }));
  assert.equal(limited.status, 429);
  assert.equal(limited.type, 'rate_limit_error');
  assert.equal(limited.code, 'RNNLM_RATE_LIMITED');
  assert.ok(Number(limited.headers?.get('retry-after')) >= 1);
});
