import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isRnnlmError } from '../../../src/errors.js';
import { ModelScheduler, type RequestSink } from '../../../src/inference/scheduler.js';
import type { GenerateRequest } from '../../../src/inference/protocol.js';
import { CharTokenizer } from '../../../src/ml/tokenizers/char.js';
import { FakeEngine } from '../../helpers/fake-engine.js';

const tokenizer = CharTokenizer.train('abcdefgh ijklmnop\nqrstuvwxyz.,\n');
const SHAPE = { layers: 2, hidden: 4 };

/** A sink that settles a promise: the request's result, or its error. */
function sink<T>(): { sink: RequestSink<T>; result: Promise<T>; texts: string[] } {
  const texts: string[] = [];
  let settle!: { resolve: (v: T) => void; reject: (e: unknown) => void };
  const result = new Promise<T>((resolve, reject) => (settle = { resolve, reject }));
  return {
    texts,
    result,
    sink: {
      text: (delta) => texts.push(delta),
      done: (value) => settle.resolve(value),
      fail: (e) => settle.reject(e),
    },
  };
}

function scheduler(maxRows: number, engine = new FakeEngine(tokenizer.vocabSize, SHAPE.hidden)) {
  const batches: { kind: string; rows: number }[] = [];
  const s = new ModelScheduler(engine, tokenizer, SHAPE, maxRows, {
    batch: (kind, rows) => batches.push({ kind, rows }),
  });
  return { s, engine, batches };
}

const REQUESTS: GenerateRequest[] = [
  { prompt: 'abc', maxTokens: 12, temperature: 0 },
  { prompt: 'hello', maxTokens: 7, seed: 3 },
  { prompt: '', maxTokens: 20, seed: 9, temperature: 0.8 },
];

test('rows stepped side by side answer as each would alone, in one batched forward per token', async () => {
  const alone = [];
  for (const [i, options] of REQUESTS.entries()) {
    const { s } = scheduler(4);
    const r = sink<{ text: string; tokens: number }>();
    s.generate(i, options, r.sink);
    alone.push(await r.result);
  }
  const { s, batches } = scheduler(4);
  const together = REQUESTS.map((options, i) => {
    const r = sink<{ text: string; tokens: number }>();
    s.generate(i, options, r.sink);
    return r.result;
  });
  assert.deepEqual(
    (await Promise.all(together)).map((r) => [r.text, r.tokens]),
    alone.map((r) => [r.text, r.tokens]),
  );
  assert.equal(Math.max(...batches.map((b) => b.rows)), REQUESTS.length, 'the rows were batched');
  assert.deepEqual(s.load, { active: 0, waiting: 0, stateBytes: 0 });
});

test('beyond maxRows a request waits, first come first served, and takes the row another leaves', async () => {
  const { s, batches } = scheduler(1);
  const first = sink<{ text: string }>();
  const second = sink<{ text: string }>();
  s.generate(1, { prompt: 'ab', maxTokens: 5, temperature: 0 }, first.sink);
  s.generate(2, { prompt: 'cd', maxTokens: 5, temperature: 0 }, second.sink);
  assert.deepEqual(s.load, { active: 0, waiting: 2, stateBytes: 0 });
  const order: number[] = [];
  await Promise.all([first.result.then(() => order.push(1)), second.result.then(() => order.push(2))]);
  assert.deepEqual(order, [1, 2]);
  assert.ok(
    batches.every((b) => b.rows === 1),
    'never more rows than maxRows',
  );
});

test('a cancelled generation fails with RNNLM_ABORTED, computes nothing more and gives its state back', async () => {
  const { s, engine } = scheduler(2);
  const long = sink<unknown>();
  let cancelled = false;
  s.generate(
    1,
    { prompt: 'a', maxTokens: 100_000, seed: 1 },
    {
      ...long.sink,
      // As the inference thread does: the cancel arrives after the step that sent the text.
      text: () => {
        if (cancelled) return;
        cancelled = true;
        queueMicrotask(() => assert.equal(s.cancel(1), true));
      },
    },
  );
  await assert.rejects(long.result, (err) => isRnnlmError(err, 'RNNLM_ABORTED'));
  const steps = engine.calls.length;
  assert.deepEqual(s.load, { active: 0, waiting: 0, stateBytes: 0 });
  // A request through the same scheduler: once it is answered the scheduler has stepped since.
  const next = sink<unknown>();
  s.generate(2, { prompt: 'b', maxTokens: 1, temperature: 0 }, next.sink);
  await next.result;
  assert.equal(engine.calls.length, steps + 1, 'only the next request was computed');
  assert.equal(s.cancel(1), false, 'a finished request is not there to cancel');
});

test('an engine that fails fails every row of its batch; the scheduler serves the next request', async () => {
  const { s, engine } = scheduler(4);
  engine.failing = true;
  const rows = [sink<unknown>(), sink<unknown>()];
  rows.forEach((r, i) => s.generate(i, { prompt: 'ab', maxTokens: 3 }, r.sink));
  for (const r of rows) await assert.rejects(r.result, /the fake engine failed/);
  assert.deepEqual(s.load, { active: 0, waiting: 0, stateBytes: 0 });
  engine.failing = false;
  const next = sink<{ tokens: number }>();
  s.generate(3, { prompt: 'ab', maxTokens: 3, temperature: 0 }, next.sink);
  assert.equal((await next.result).tokens, 3);
});

test('keepState hands back the state after every token read; continuing from it equals one longer request', async () => {
  const { s } = scheduler(2);
  const whole = sink<{ text: string }>();
  s.generate(1, { prompt: 'abcdef', maxTokens: 0 }, whole.sink);
  const kept = sink<{ state?: { tokens: number; pending: number } }>();
  s.generate(2, { prompt: 'abc', maxTokens: 0, keepState: true }, kept.sink);
  const { state } = await kept.result;
  assert.ok(state !== undefined);
  // The line break a generation starts after, then the prompt (the pending last one included).
  assert.equal(state.tokens, 1 + 'abc'.length);
  const a = sink<{ text: string }>();
  const b = sink<{ text: string }>();
  s.generate(3, { prompt: 'abcdef', maxTokens: 8, temperature: 0 }, a.sink);
  s.generate(4, { prompt: 'def', maxTokens: 8, temperature: 0, state: state as never }, b.sink);
  assert.equal((await b.result).text, (await a.result).text);
  await whole.result;
});

test('a state of another shape is refused before the request waits', () => {
  const { s } = scheduler(1);
  const state = { h: [new Float32Array(3)], c: [new Float32Array(3)], pending: 0, tail: '', tokens: 1 };
  assert.throws(
    () => s.generate(1, { prompt: 'a', maxTokens: 1, state }, sink<unknown>().sink),
    (err) => isRnnlmError(err, 'RNNLM_STATE_MODEL_MISMATCH'),
  );
  assert.deepEqual(s.load, { active: 0, waiting: 0, stateBytes: 0 });
});

test('scorings of different lengths batched score as each does alone', async () => {
  const texts = ['abc def', 'a', 'hello world. '.repeat(6), 'xyz'];
  const alone = [];
  for (const text of texts) {
    const { s } = scheduler(4);
    const r = sink<{ nll: number; tokens: number }>();
    s.score(0, text, {}, r.sink);
    alone.push(await r.result);
  }
  const { s, batches } = scheduler(4);
  const together = await Promise.all(
    texts.map((text, i) => {
      const r = sink<{ nll: number; tokens: number }>();
      s.score(i, text, {}, r.sink);
      return r.result;
    }),
  );
  assert.deepEqual(
    together.map((r) => [r.tokens, r.nll]),
    alone.map((r) => [r.tokens, r.nll]),
  );
  assert.ok(batches.some((b) => b.kind === 'score' && b.rows === texts.length));
});
