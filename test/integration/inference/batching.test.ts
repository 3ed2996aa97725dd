/**
 * Continuous batching through the real API and its inference thread: answers do not depend
 * on the requests batched beside them, a client that goes away frees its row, a full queue
 * is a 503 with Retry-After, nothing grows over many batched requests, and the API's event
 * loop answers while generations run.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import type { InferenceStats } from '../../../src/contracts/models.js';
import type { ScoreResult } from '../../../src/ml/eval/score.js';
import type { GenerateOptions, GenerateResult } from '../../../src/ml/generate/generate.js';
import { loadNativeKernels } from '../../../src/ml/native.js';
import { assertMatchesOpenApi, useSharedTinyModel } from '../../helpers/app.js';

const withModel = useSharedTinyModel();

/** Waits until `check` holds, polling, for at most `ms`. */
async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await check()) return;
    await sleep(10);
  }
  assert.fail(`${what}: not within ${ms} ms`);
}

/** Rows of the batched forwards in `stats` of `kind`: the largest, and how many forwards. */
function forwards(stats: InferenceStats, kind: 'generate' | 'score'): { largest: number; count: number } {
  let largest = 0;
  let count = 0;
  for (const b of stats.batches) {
    if (b.kind !== kind) continue;
    largest = Math.max(largest, b.rows);
    count += b.count;
  }
  return { largest, count };
}

const GENERATIONS: Omit<GenerateOptions, 'signal'>[] = [
  { prompt: 'ROMEO:', maxTokens: 40, seed: 1 },
  { prompt: 'To be', maxTokens: 25, seed: 2, temperature: 0.7 },
  { prompt: '', maxTokens: 33, seed: 3, topK: 5 },
  { prompt: 'KING HENRY', maxTokens: 50, seed: 4, topP: 0.8, temperature: 1.3 },
  { prompt: 'a', maxTokens: 30, temperature: 0 },
  { prompt: 'the ', maxTokens: 60, seed: 6, stop: ['e '] },
  { prompt: 'JULIET', maxTokens: 1, seed: 7 },
  { prompt: 'x', maxTokens: 0, seed: 8 },
];

for (const native of ['auto', 'off'] as const) {
  test(`a seeded generation gives the same text alone and batched with others (native kernels ${native})`, async (t) => {
    const { models, id } = await withModel(t, { env: { RNNLM_NATIVE_KERNELS: native } });
    const alone: GenerateResult[] = [];
    for (const options of GENERATIONS) alone.push(await models.generate(id, options));
    await models.inferenceStats();
    const streamed = GENERATIONS.map(() => [] as string[]);
    const batched = await Promise.all(
      GENERATIONS.map((options, i) => models.generate(id, options, (delta) => void streamed[i]!.push(delta))),
    );
    assert.ok(
      forwards(await models.inferenceStats(), 'generate').largest > 1,
      'the generations were batched',
    );
    assert.deepEqual(batched, alone);
    batched.forEach((result, i) => assert.equal(streamed[i]!.join(''), result.text, `stream ${i}`));
  });
}

const SCORINGS = [
  { text: 'To be, or not to be, that is the question:', options: {} },
  { text: 'Whether tis nobler in the mind to suffer', options: { context: 'HAMLET:\n' } },
  { text: 'a', options: {} },
  { text: 'The slings and arrows of outrageous fortune, '.repeat(4), options: { details: true } },
  { text: 'Or to take arms', options: { context: 'x'.repeat(70) } },
];

for (const native of ['auto', 'off'] as const) {
  test(`scoring gives the same NLL alone and batched with texts of other lengths (native kernels ${native})`, async (t) => {
    const { models, id } = await withModel(t, { env: { RNNLM_NATIVE_KERNELS: native } });
    const alone: ScoreResult[] = [];
    for (const { text, options } of SCORINGS) alone.push(await models.score(id, text, options));
    await models.inferenceStats();
    const batched = await Promise.all(SCORINGS.map(({ text, options }) => models.score(id, text, options)));
    assert.ok(forwards(await models.inferenceStats(), 'score').largest > 1, 'the scorings were batched');
    batched.forEach((result, i) => {
      const expected = alone[i]!;
      assert.equal(result.tokens, expected.tokens);
      assert.ok(Math.abs(result.nll - expected.nll) <= 1e-5, `text ${i}: ${result.nll} vs ${expected.nll}`);
      // Details where asked for, on both sides, token for token; none where not.
      const details = 'details' in SCORINGS[i]!.options;
      assert.equal(result.tokenLogprobs !== undefined, details, `text ${i}: details batched`);
      assert.equal(expected.tokenLogprobs !== undefined, details, `text ${i}: details alone`);
      assert.equal(result.tokenLogprobs?.length, expected.tokenLogprobs?.length);
      result.tokenLogprobs?.forEach((lp, k) => {
        assert.equal(lp.id, expected.tokenLogprobs?.[k]?.id);
        assert.ok(Math.abs(lp.logprob - expected.tokenLogprobs![k]!.logprob) <= 1e-5);
      });
    });
  });
}

/** A long streamed generation over a real socket, and the first event it sent. */
async function startStream(
  base: string,
  id: string,
  abort: AbortController,
): Promise<{ response: Response; first: string }> {
  const response = await fetch(`${base}/generate?model=${id}&maxTokens=100000&seed=1&stream=true`, {
    signal: abort.signal,
  });
  assert.equal(response.status, 200);
  const reader = response.body!.getReader();
  const { value } = (await reader.read()) as { value: Uint8Array | undefined };
  return { response, first: new TextDecoder().decode(value) };
}

const LONG = { RNNLM_MAX_GENERATE_TOKENS: '100000' };

test('a client that goes away frees its row at once: no more tokens are computed for it', async (t) => {
  const { app, models, id } = await withModel(t, { env: LONG });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const abort = new AbortController();
  await startStream(base, id, abort);
  assert.equal((await models.inferenceStats()).active.generate, 1);
  abort.abort();
  await eventually(async () => (await models.inferenceStats()).active.generate === 0, 5000, 'row freed');
  const computed = forwards(await models.inferenceStats(), 'generate').count;
  assert.ok(computed < 100_000, `stopped early (${computed} steps)`);
  assert.equal((await models.memory()).stateBytes, 0);
  // A scoring through the same scheduler: once it is answered, the scheduler has stepped
  // since the row was freed, and a generation row still there would have stepped with it.
  await models.score(id, 'To be', {});
  assert.equal(forwards(await models.inferenceStats(), 'generate').count, 0, 'nothing stepped after');
});

test('every row busy and the queue full: 503 RNNLM_OVERLOADED with Retry-After, streamed or not; scoring has rows of its own', async (t) => {
  const { app, models, id } = await withModel(t, {
    env: { ...LONG, RNNLM_MAX_BATCH_ROWS: '1', RNNLM_MAX_QUEUED_REQUESTS: '1' },
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const running = new AbortController();
  const waiting = new AbortController();
  try {
    await startStream(base, id, running);
    const queued = fetch(`${base}/generate?model=${id}&maxTokens=10&seed=2`, { signal: waiting.signal });
    await eventually(async () => (await models.inferenceStats()).waiting.generate === 1, 5000, 'one waits');
    for (const request of [
      { method: 'POST' as const, url: '/generate', payload: { model: id, maxTokens: 3 } },
      { method: 'GET' as const, url: `/generate?model=${id}&maxTokens=3&stream=true` },
    ]) {
      const res = await app.inject(request);
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.json<{ code: string }>().code, 'RNNLM_OVERLOADED');
      assert.equal(res.headers['retry-after'], '1');
      assertMatchesOpenApi(res, `${request.method} /generate`);
    }
    const score = await app.inject({ method: 'POST', url: '/score', payload: { model: id, text: 'to be' } });
    assert.equal(score.statusCode, 200, score.body);
    running.abort();
    // The waiting generation gets the row and finishes; then there is room again.
    assert.equal((await queued).status, 200);
    const after = await app.inject({
      method: 'POST',
      url: '/generate',
      payload: { model: id, maxTokens: 3 },
    });
    assert.equal(after.statusCode, 200, after.body);
  } finally {
    running.abort();
    waiting.abort();
  }
});

for (const native of ['on', 'off'] as const) {
  test(
    `500 batched generations and scorings leave no tensors and no row state behind (native kernels ${native})`,
    {
      skip:
        native === 'on' && loadNativeKernels() === null && process.env.CI !== 'true'
          ? 'native/ is not built'
          : false,
    },
    async (t) => {
      const { models, id } = await withModel(t, { env: { RNNLM_NATIVE_KERNELS: native } });
      const wave = (n: number, offset: number) =>
        Promise.all(
          Array.from({ length: n }, (_, i) =>
            (i + offset) % 2 === 0
              ? models.generate(id, { prompt: 'AB', maxTokens: 12, seed: i + offset })
              : models.score(id, 'To be, or not'.slice(0, 3 + ((i + offset) % 10)), { details: true }),
          ),
        );
      await wave(10, 0);
      const before = await models.memory();
      for (let done = 0; done < 500; done += 50) await wave(50, done);
      assert.ok(forwards(await models.inferenceStats(), 'generate').largest > 1, 'the requests were batched');
      const after = await models.memory();
      assert.equal(after.numTensors, before.numTensors);
      assert.equal(after.numBytes, before.numBytes);
      assert.equal(after.stateBytes, 0);
      assert.equal(after.models, 1);
    },
  );
}

test('/healthz answers while generations run: the model runs off the API event loop', async (t) => {
  const { app, models, id } = await withModel(t, { env: LONG });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const abort = new AbortController();
  try {
    await Promise.all([0, 1, 2].map(() => startStream(base, id, abort)));
    for (let i = 0; i < 5; i++) {
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
    }
    assert.equal((await models.inferenceStats()).active.generate, 3, 'still generating');
  } finally {
    abort.abort();
  }
});
