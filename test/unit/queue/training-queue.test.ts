import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeError, encodeError } from '../../../src/queue/training-queue.js';

test('a coded failure reason decodes to its code and message', () => {
  assert.deepEqual(decodeError(encodeError('RNNLM_NONFINITE_LOSS', 'diverged: at step 3')), {
    code: 'RNNLM_NONFINITE_LOSS',
    message: 'diverged: at step 3',
  });
  assert.deepEqual(decodeError('something else'), { code: 'RNNLM_INTERNAL', message: 'something else' });
});

test('BullMQ’s words for a sandboxed processor that died say how it ended', () => {
  assert.deepEqual(decodeError('Unexpected exit code: null signal: SIGKILL'), {
    code: 'RNNLM_INTERNAL',
    message:
      'the training process was killed by SIGKILL before it finished (out of memory, or stopped from outside)',
  });
  assert.deepEqual(decodeError('Unexpected exit code: 134 signal: null'), {
    code: 'RNNLM_INTERNAL',
    message: 'the training process exited with code 134 before it finished',
  });
});
