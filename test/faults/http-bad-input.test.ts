/**
 * Fault suite, item 10: a matrix of bad input sent over HTTP to a listening server (fetch,
 * and node:http where a path must reach the server byte for byte, unnormalised). Every answer
 * is a 4xx with a stable code, nothing is queued, and no file outside the data directory is
 * ever read.
 */
import assert from 'node:assert/strict';
import { access, cp } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';

import type { LightMyRequestResponse } from 'fastify';

import { assertMatchesOpenApi, multipart, useSharedTinyModel } from '../helpers/app.js';

const KEY = 'fault-suite-key-0123456789';
const AUTH = { authorization: `Bearer ${KEY}` };
const CORPUS = 'To be, or not to be, that is the question.\n'.repeat(20);
const TINY = {
  model: { layers: 1, hiddenSize: 16, embeddingSize: 8 },
  training: { batchSize: 4, seqLength: 8, maxSteps: 5, seed: 1 },
};

const withModel = useSharedTinyModel();

interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** One request with the path sent exactly as given (fetch would resolve `..` segments). */
function raw(
  base: URL,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: base.hostname, port: base.port, method, path, headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: Object.fromEntries(
              Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
            ),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

async function send(base: URL, method: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(new URL(path, base), {
    ...init,
    method,
    headers: { ...AUTH, ...(init.headers as object) },
  });
  return { status: res.status, headers: Object.fromEntries(res.headers), text: await res.text() };
}

/** The answer as app.inject would give it, for the openapi.yaml check. */
function asInjected(a: Answer): LightMyRequestResponse {
  return {
    statusCode: a.status,
    headers: a.headers,
    body: a.text,
    json: () => JSON.parse(a.text) as unknown,
  } as unknown as LightMyRequestResponse;
}

function assertAnswer(a: Answer, status: number, code: string, what: string, operation?: string): void {
  assert.equal(a.status, status, `${what}: ${a.text}`);
  const body = JSON.parse(a.text) as { code: string; statusCode: number };
  assert.equal(body.code, code, `${what}: ${a.text}`);
  assert.equal(body.statusCode, status, what);
  if (operation !== undefined) assertMatchesOpenApi(asInjected(a), operation);
}

const json = (body: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

test('10. bad input over HTTP: sizes, encodings, content types, limits, ids, keys, fields', async (t) => {
  const { app, jobs, dataDir, modelsDir, id } = await withModel(t, {
    env: { API_KEYS: KEY, RNNLM_MAX_CORPUS_BYTES: '20000', RNNLM_MAX_GENERATE_TOKENS: '50' },
  });
  const base = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
  const queued = () => jobs.queue.count();

  // A body over the limit: 413, for a corpus and for any other body.
  const huge = 'x'.repeat(2 * 1024 * 1024);
  assertAnswer(
    await send(base, 'POST', '/jobs', json({ corpus: { text: huge } })),
    413,
    'RNNLM_CORPUS_TOO_LARGE',
    'a 2 MB JSON corpus',
    'POST /jobs',
  );
  assertAnswer(
    await send(base, 'POST', '/jobs', json({ corpus: { text: 'y'.repeat(20_001) } })),
    413,
    'RNNLM_CORPUS_TOO_LARGE',
    'a corpus one byte over the limit',
    'POST /jobs',
  );
  assertAnswer(
    await send(base, 'POST', '/score', json({ model: id, text: huge })),
    413,
    'RNNLM_PAYLOAD_TOO_LARGE',
    'a 2 MB body to /score',
  );

  // Broken JSON, the wrong content type.
  for (const body of ['{"corpus":', '{"corpus": {"text": "a"}', '', 'null x']) {
    assertAnswer(
      await send(base, 'POST', '/jobs', { headers: { 'content-type': 'application/json' }, body }),
      400,
      'RNNLM_INVALID_REQUEST',
      `broken JSON ${JSON.stringify(body)}`,
      'POST /jobs',
    );
  }
  for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
    for (const [path, operation] of [
      ['/jobs', 'POST /jobs'],
      ['/score', 'POST /score'],
      ['/generate', 'POST /generate'],
    ] as const) {
      assertAnswer(
        await send(base, 'POST', path, { headers: { 'content-type': type }, body: 'corpus=hello' }),
        415,
        'RNNLM_UNSUPPORTED_MEDIA_TYPE',
        `${type} to ${path}`,
        operation,
      );
    }
  }

  // An empty corpus; bytes that are not UTF-8 (ff fe), as a file and inside a JSON body.
  for (const text of ['', '   \n\t\n']) {
    const a = await send(base, 'POST', '/jobs', json({ corpus: { text }, ...TINY }));
    assert.equal(a.status, 400, `corpus ${JSON.stringify(text)}: ${a.text}`);
  }
  const emptyFile = multipart([{ name: 'corpus', value: Buffer.alloc(0), filename: 'empty.txt' }]);
  assert.equal(
    (await send(base, 'POST', '/jobs', { headers: emptyFile.headers, body: emptyFile.payload })).status,
    400,
  );
  const notUtf8 = multipart([
    { name: 'corpus', value: Buffer.from([0xff, 0xfe, 0x41, 0x42]), filename: 'bom.txt' },
  ]);
  assertAnswer(
    await send(base, 'POST', '/jobs', { headers: notUtf8.headers, body: notUtf8.payload }),
    400,
    'RNNLM_INVALID_REQUEST',
    'a corpus file starting ff fe',
    'POST /jobs',
  );
  const notUtf8Json = Buffer.concat([
    Buffer.from('{"corpus":{"text":"'),
    Buffer.from([0xff, 0xfe, 0x41]),
    Buffer.from('"}}'),
  ]);
  assertAnswer(
    await send(base, 'POST', '/jobs', { headers: { 'content-type': 'application/json' }, body: notUtf8Json }),
    400,
    'RNNLM_INVALID_REQUEST',
    'a JSON body with the bytes ff fe in the corpus',
    'POST /jobs',
  );

  // Sizes over the limits, and a model whose estimate is over them: 400, nothing queued.
  for (const [over, code] of [
    [{ model: { hiddenSize: 100_000 } }, 'RNNLM_INVALID_REQUEST'],
    [{ model: { layers: 100 } }, 'RNNLM_INVALID_REQUEST'],
    [{ training: { batchSize: 1_000_000 } }, 'RNNLM_INVALID_REQUEST'],
    [{ model: { layers: 8, hiddenSize: 2048 } }, 'RNNLM_MODEL_TOO_LARGE'],
    [
      { tokenizer: { type: 'word' }, model: { hiddenSize: 2048 }, training: { batchSize: 1024 } },
      'RNNLM_MODEL_TOO_LARGE',
    ],
  ] as const) {
    const a = await send(base, 'POST', '/jobs', json({ corpus: { text: CORPUS }, ...over }));
    assertAnswer(a, 400, code, JSON.stringify(over), 'POST /jobs');
    if (code === 'RNNLM_MODEL_TOO_LARGE') {
      const body = JSON.parse(a.text) as { message: string; details: Record<string, number> };
      assert.match(body.message, /parameters \(limit 100,000,000\)/);
      assert.match(body.message, /GiB \(.* bytes; limit 4\.00 GiB, 4,294,967,296 bytes\)/);
      assert.equal(body.details.maxParameters, 100_000_000);
      assert.equal(body.details.maxTrainingMemoryBytes, 4 * 1024 ** 3);
      assert.ok(
        body.details.parameters! > 100_000_000 || body.details.trainingMemoryBytes! > 4 * 1024 ** 3,
        a.text,
      );
    }
  }
  assert.equal(await queued(), 0, 'nothing over a limit was queued');

  // Traversal in ids, raw and percent-encoded: 400 or 404, never a file. A complete model
  // planted just outside the models directory must stay unreachable.
  await cp(join(modelsDir, id), join(dataDir, 'planted'), { recursive: true });
  const traversals = [
    '../../etc/passwd',
    '..%2F..%2Fetc%2Fpasswd',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '%2E%2E/%2E%2E/etc/passwd',
    '..%252F..%252Fetc%252Fpasswd',
    '....//....//etc/passwd',
    '..%2Fplanted',
    '..%5Cplanted',
    '%2fetc%2fpasswd',
  ];
  for (const bad of traversals) {
    for (const [method, path] of [
      ['GET', `/models/${bad}`],
      ['DELETE', `/models/${bad}`],
      ['GET', `/jobs/${bad}`],
      ['POST', `/jobs/${bad}/cancel`],
      ['GET', `/jobs/${bad}/events`],
      ['GET', `/generate?model=${bad}`],
    ] as const) {
      const a = await raw(base, method, path, { headers: AUTH });
      assert.ok(a.status === 400 || a.status === 404, `${method} ${path}: ${a.status} ${a.text}`);
      assert.match(
        (JSON.parse(a.text) as { code: string }).code,
        /^RNNLM_(INVALID_REQUEST|ROUTE_NOT_FOUND|JOB_NOT_FOUND|MODEL_NOT_FOUND)$/,
      );
      assert.doesNotMatch(
        a.text,
        /root:|mdl_[a-z0-9]{26}|"parameters"/,
        `${method} ${path} leaked a file or a model`,
      );
    }
    const score = await send(base, 'POST', '/score', json({ model: decodeURIComponent(bad), text: 'hello' }));
    assert.equal(score.status, 400, `POST /score model ${bad}: ${score.text}`);
  }
  await access(join(dataDir, 'planted', 'meta.json'));

  // A missing or wrong key: 401 with WWW-Authenticate, on every kind of route.
  for (const [method, path] of [
    ['GET', '/jobs'],
    ['POST', '/jobs'],
    ['GET', `/models/${id}`],
    ['GET', `/generate?model=${id}`],
    ['POST', '/score'],
  ] as const) {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-key-0123456789' },
      { authorization: KEY },
    ];
    for (const headers of attempts) {
      const res = await fetch(new URL(path, base), {
        method,
        headers: { ...headers, 'content-type': 'application/json' },
        ...(method === 'POST'
          ? { body: JSON.stringify({ model: id, text: 'hi', corpus: { text: CORPUS } }) }
          : {}),
      });
      const text = await res.text();
      assert.equal(res.status, 401, `${method} ${path} with ${JSON.stringify(headers)}: ${text}`);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      assert.equal((JSON.parse(text) as { code: string }).code, 'RNNLM_UNAUTHORIZED');
    }
  }

  // A prompt of characters the model never saw: answered (they map to <unk>), not refused.
  const prompt = '日本語 😀 ∑ Ωmega \u0000';
  const generated = await send(
    base,
    'GET',
    `/generate?model=${id}&prompt=${encodeURIComponent(prompt)}&maxTokens=5&seed=1`,
  );
  assert.equal(generated.status, 200, generated.text);
  assertMatchesOpenApi(asInjected(generated), 'GET /generate');
  // JSON can carry a lone surrogate, which is not Unicode text: a 400 naming the field.
  const posted = await send(
    base,
    'POST',
    '/generate',
    json({ model: id, prompt: `${prompt} \ud83d`, maxTokens: 5, seed: 1 }),
  );
  assert.equal(posted.status, 400, posted.text);
  assert.match(posted.text, /body\.prompt: not valid Unicode/);
  const scored = await send(base, 'POST', '/score', json({ model: id, text: prompt }));
  assert.equal(scored.status, 200, scored.text);
  assertMatchesOpenApi(asInjected(scored), 'POST /score');

  // maxTokens over the cap.
  assertAnswer(
    await send(base, 'GET', `/generate?model=${id}&maxTokens=51`),
    400,
    'RNNLM_INVALID_REQUEST',
    'GET maxTokens over the cap',
    'GET /generate',
  );
  assertAnswer(
    await send(base, 'POST', '/generate', json({ model: id, maxTokens: 51 })),
    400,
    'RNNLM_INVALID_REQUEST',
    'POST maxTokens over the cap',
    'POST /generate',
  );

  // Unknown fields, wherever they are.
  for (const [method, path, init, operation] of [
    ['POST', '/jobs', json({ corpus: { text: CORPUS }, colour: 'red' }), 'POST /jobs'],
    ['POST', '/jobs', json({ corpus: { text: CORPUS }, model: { hiddenSize: 16, wings: 2 } }), 'POST /jobs'],
    ['POST', '/jobs', json({ corpus: { text: CORPUS, path: '/etc/passwd' } }), 'POST /jobs'],
    ['POST', '/score', json({ model: id, text: 'hello', extra: true }), 'POST /score'],
    ['POST', '/generate', json({ model: id, extra: true }), 'POST /generate'],
    ['GET', `/generate?model=${id}&extra=1`, {}, 'GET /generate'],
  ] as const) {
    const a = await send(base, method, path, init);
    assertAnswer(a, 400, 'RNNLM_INVALID_REQUEST', `${method} ${path}`, operation);
    assert.match((JSON.parse(a.text) as { message: string }).message, /Unrecognized key/, a.text);
  }

  assert.equal(await queued(), 0, 'no bad request queued anything');
  const good = await send(base, 'POST', '/jobs', json({ corpus: { text: CORPUS }, ...TINY }));
  assert.equal(good.status, 202, `a good request after all that is accepted: ${good.text}`);
  assert.equal(await queued(), 1);
});
