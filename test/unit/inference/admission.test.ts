import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isRnnlmError } from '../../../src/errors.js';
import { Admission, QUEUE_RETRY_AFTER_SECONDS } from '../../../src/inference/admission.js';

const overloaded = (err: unknown) =>
  isRnnlmError(err, 'RNNLM_OVERLOADED') && err.details?.retryAfterSeconds === QUEUE_RETRY_AFTER_SECONDS;

test('the first maxRows requests of a model and kind take rows, the next wait, then one more is refused', () => {
  const admission = new Admission(2, 1);
  admission.enter('generate', 'm1');
  admission.enter('generate', 'm1');
  assert.deepEqual(admission.snapshot().active, { generate: 2, score: 0 });
  admission.enter('generate', 'm1');
  assert.deepEqual(admission.snapshot().waiting, { generate: 1, score: 0 });
  assert.throws(() => admission.check('generate', 'm1'), overloaded);
  assert.throws(() => admission.enter('generate', 'm1'), overloaded);
  // Another model, and scoring, have rows of their own; the wait queue is shared.
  admission.enter('generate', 'm2');
  admission.enter('score', 'm1');
  assert.deepEqual(admission.snapshot(), {
    active: { generate: 3, score: 1 },
    waiting: { generate: 1, score: 0 },
  });
});

test('a request that leaves gives its row to the first waiter, and leaving twice counts once', () => {
  const admission = new Admission(1, 4);
  const first = admission.enter('score', 'm');
  const second = admission.enter('score', 'm');
  assert.deepEqual(admission.snapshot(), {
    active: { generate: 0, score: 1 },
    waiting: { generate: 0, score: 1 },
  });
  first();
  first();
  assert.deepEqual(admission.snapshot(), {
    active: { generate: 0, score: 1 },
    waiting: { generate: 0, score: 0 },
  });
  second();
  assert.deepEqual(admission.snapshot(), {
    active: { generate: 0, score: 0 },
    waiting: { generate: 0, score: 0 },
  });
  // All rows free again: a full batch is admitted without waiting.
  admission.enter('score', 'm');
  assert.doesNotThrow(() => admission.check('score', 'm'));
});

test('with no wait queue a request beyond the rows is refused at once', () => {
  const admission = new Admission(1, 0);
  const leave = admission.enter('generate', 'm');
  assert.throws(() => admission.enter('generate', 'm'), overloaded);
  leave();
  assert.doesNotThrow(() => admission.enter('generate', 'm'));
});
