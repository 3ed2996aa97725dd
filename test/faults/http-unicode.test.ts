/**
 * Item 2 of issue 14: text that is not valid Unicode is a 400 naming its field wherever it
 * comes in: a lone UTF-16 surrogate escaped in a JSON body (`"\ud800"`) or a multipart config,
 * and a percent-encoded invalid UTF-8 sequence in a query string. Nothing is stored, and the
 * job listing stays JSON that strict parsers accept.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CORPUS, jobServiceEnv, startMain } from './harness.js';

/** A JSON body as text, with `\ud800`-style escapes left for the server's JSON parser. */
function jobBody(name: string, corpus = 'CORPUS'): string {
  return JSON.stringify({
    name: 'NAME',
    corpus: { text: 'CORPUS' },
    model: { layers: 1, hiddenSize: 16, embeddingSize: 8 },
    training: { batchSize: 4, seqLength: 8, maxSteps: 5, seed: 1 },
  })
    .replace('"NAME"', `"${name}"`)
    .replace('"CORPUS"', corpus === 'CORPUS' ? JSON.stringify(CORPUS) : `"${corpus}"`);
}

async function send(url: string, path: string, init: RequestInit = {}) {
  const res = await fetch(`${url}${path}`, { ...init, signal: AbortSignal.timeout(20_000) });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as { code?: string; message?: string } };
}

const json = (payload: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: payload,
});

test('2. lone surrogates in JSON and invalid UTF-8 escapes in query strings are 400s naming the field', async (t) => {
  const { env } = await jobServiceEnv(t);
  const api = await startMain(env, 'api');
  const url = api.url;
  assert.ok(url !== undefined, api.out.stdout);
  const model = 'mdl_00000000000000000000000000';

  const refused: [string, Promise<Awaited<ReturnType<typeof send>>>, RegExp][] = [
    ['job name', send(url, '/jobs', json(jobBody('a\\ud800b'))), /^body\.name: /],
    ['corpus', send(url, '/jobs', json(jobBody('ok', `${'x'.repeat(200)}\\udc00`))), /^body\.corpus\.text: /],
    ['scoring text', send(url, '/score', json(`{"model":"${model}","text":"ab\\ud800"}`)), /^body\.text: /],
    [
      'prompt (POST)',
      send(url, '/generate', json(`{"model":"${model}","prompt":"\\udbff"}`)),
      /^body\.prompt: /,
    ],
    ['prompt (GET)', send(url, `/generate?model=${model}&prompt=ab%ED%A0%80cd`), /^querystring\.prompt: /],
  ];
  const form = new FormData();
  form.set('corpus', new Blob([CORPUS]), 'corpus.txt');
  form.set('config', '{"name":"x\\ud800"}');
  refused.push([
    'multipart config',
    send(url, '/jobs', { method: 'POST', body: form }),
    /^body\.config\.name: /,
  ]);

  for (const [what, pending, field] of refused) {
    const res = await pending;
    assert.equal(res.status, 400, `${what}: ${res.text}`);
    assert.equal(res.json.code, 'RNNLM_INVALID_REQUEST', what);
    assert.match(String(res.json.message), field, what);
    assert.match(String(res.json.message), /not valid Unicode/, what);
  }

  // A surrogate pair is a valid character; the listing is strict JSON.
  const emoji = await send(url, '/jobs', json(jobBody('ok \\ud83d\\ude00')));
  assert.equal(emoji.status, 202, emoji.text);
  const listing = await send(url, '/jobs');
  assert.equal(listing.status, 200);
  assert.doesNotMatch(listing.text, /\\ud[89a-f]/i, 'no escaped surrogates in the listing');
  const names = (listing.json as unknown as { items: { name: string }[] }).items.map((j) => j.name);
  assert.deepEqual(names, ['ok \u{1F600}']);
});
