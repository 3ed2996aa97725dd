/**
 * Continuing from a kept state through the inference thread (src/ml/state.ts): text A
 * and then B from A's state read what A + B reads in one request, so greedy text and
 * log-probabilities match; scoring and generation continue each other; a state of another
 * shape is refused before it runs.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import { isRnnlmError } from '../../../src/errors.js';
import type { TokenLogprob } from '../../../src/ml/logprobs.js';
import type { RecurrentState } from '../../../src/ml/state.js';
import { useSharedTinyModel } from '../../helpers/app.js';

const withModel = useSharedTinyModel();

const A = 'ROMEO:\nBut soft, what light through yonder window breaks? ';
const B = 'It is the east, and Juliet is the sun.';
/** A continuation short enough that what the state holds still shows in the next logits. */
const SHORT_B = 'It';

/**
 * Float32 products of different shapes (a prompt read in one forward or two) may round
 * differently in the last bits; greedy text must match exactly, log-probabilities to this.
 */
const LOGPROB_TOLERANCE = 1e-5;

function assertClose(t: TestContext, actual: TokenLogprob[], expected: TokenLogprob[]): void {
  assert.deepEqual(
    actual.map((x) => x.id),
    expected.map((x) => x.id),
  );
  let worst = 0;
  actual.forEach((x, i) => (worst = Math.max(worst, Math.abs(x.logprob - expected[i]!.logprob))));
  t.diagnostic(`largest log-probability difference ${worst.toExponential(2)}`);
  assert.ok(worst <= LOGPROB_TOLERANCE, `log-probabilities differ by ${worst}`);
}

for (const native of ['auto', 'off'] as const) {
  test(`scoring A, then B from A's state, scores A + B token for token (native kernels ${native})`, async (t) => {
    const { models, id } = await withModel(t, { env: { RNNLM_NATIVE_KERNELS: native } });
    const whole = await models.score(id, A + B, { details: true });
    const first = await models.score(id, A, { details: true, keepState: true });
    assert.ok(first.state !== undefined);
    assert.equal(first.state.tokens, 1 + A.length, 'the line break and every character of A');
    const second = await models.score(id, B, { details: true, state: first.state, keepState: true });
    assert.equal(second.state?.tokens, 1 + A.length + B.length);
    assertClose(t, [...first.tokenLogprobs!, ...second.tokenLogprobs!], whole.tokenLogprobs!);
    assert.ok(Math.abs(first.nll + second.nll - whole.nll) < 1e-4);
  });

  test(`greedy generation from A's state equals one request of A + B (native kernels ${native})`, async (t) => {
    const { models, id } = await withModel(t, { env: { RNNLM_NATIVE_KERNELS: native } });
    const options = { maxTokens: 30, temperature: 0, details: true };
    const whole = await models.generate(id, { ...options, prompt: A + SHORT_B });
    // A read without sampling (maxTokens 0), then B and the generation from its state.
    const read = await models.generate(id, { prompt: A, maxTokens: 0, keepState: true });
    const continued = await models.generate(id, { ...options, prompt: SHORT_B, state: read.state });
    assert.equal(continued.text, whole.text);
    assertClose(t, continued.details!.tokens, whole.details!.tokens);
    // The same from a scoring's state: both leave the last token of A pending.
    const scored = await models.score(id, A, { keepState: true });
    const fromScore = await models.generate(id, { ...options, prompt: SHORT_B, state: scored.state });
    assert.equal(fromScore.text, whole.text);
    assertClose(t, fromScore.details!.tokens, whole.details!.tokens);
  });

  test(`a generation continued from its own state goes on as one longer generation (native kernels ${native})`, async (t) => {
    const { models, id } = await withModel(t, { env: { RNNLM_NATIVE_KERNELS: native } });
    const options = { prompt: A, temperature: 0, details: true };
    const whole = await models.generate(id, { ...options, maxTokens: 40 });
    const half = await models.generate(id, { ...options, maxTokens: 20, keepState: true });
    const rest = await models.generate(id, {
      prompt: '',
      maxTokens: 20,
      temperature: 0,
      details: true,
      state: half.state,
    });
    assert.equal(half.text + rest.text, whole.text);
    assertClose(t, [...half.details!.tokens, ...rest.details!.tokens], whole.details!.tokens);
    assert.equal(rest.state, undefined, 'no state unless asked for');
  });
}

test('states from several requests continue side by side in one batch, each as it would alone', async (t) => {
  const { models, id } = await withModel(t);
  const prompts = ['First Citizen:\n', 'MENENIUS:\nWhat work', 'x', 'To be or not '];
  const states = await Promise.all(
    prompts.map((prompt) => models.generate(id, { prompt, maxTokens: 0, keepState: true })),
  );
  const options = { prompt: 'a', maxTokens: 25, temperature: 0, details: true };
  const batched = await Promise.all(states.map((s) => models.generate(id, { ...options, state: s.state })));
  for (const [i, prompt] of prompts.entries()) {
    const alone = await models.generate(id, { ...options, prompt: `${prompt}a` });
    assert.equal(batched[i]!.text, alone.text);
    assertClose(t, batched[i]!.details!.tokens, alone.details!.tokens);
  }
});

test("a state of another model's shape is refused with RNNLM_STATE_MODEL_MISMATCH", async (t) => {
  const { models, id } = await withModel(t);
  const { state } = await models.score(id, 'abc', { keepState: true });
  assert.ok(state !== undefined);
  const narrow: RecurrentState = { ...state, h: state.h.map((h) => h.subarray(1)) };
  const shallow: RecurrentState = { ...state, c: state.c.slice(1) };
  const alien: RecurrentState = { ...state, pending: 1_000_000 };
  for (const bad of [narrow, shallow, alien]) {
    await assert.rejects(models.generate(id, { prompt: 'x', maxTokens: 3, state: bad }), (err) =>
      isRnnlmError(err, 'RNNLM_STATE_MODEL_MISMATCH'),
    );
    await assert.rejects(models.score(id, 'x', { state: bad }), (err) =>
      isRnnlmError(err, 'RNNLM_STATE_MODEL_MISMATCH'),
    );
  }
  const memory = await models.memory();
  assert.equal(memory.stateBytes, 0, 'refused requests hold no row state');
});
