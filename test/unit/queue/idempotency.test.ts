import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  idempotencyClaim,
  parseIdempotencyClaim,
  requestFingerprint,
} from '../../../src/queue/idempotency.js';
import type { SubmitInput } from '../../../src/queue/types.js';

const base = {
  name: 'a',
  corpus: { text: 'hello world' },
  model: { layers: 1, hiddenSize: 16 },
} as unknown as SubmitInput;

test('the fingerprint ignores key order and how the corpus was sent, and sees every other difference', () => {
  const reordered = { model: { hiddenSize: 16, layers: 1 }, corpus: { text: 'hello world' }, name: 'a' };
  assert.equal(requestFingerprint(reordered as unknown as SubmitInput), requestFingerprint(base));
  const uploaded = { ...base, corpus: { bytes: new TextEncoder().encode('hello world') } };
  assert.equal(requestFingerprint(uploaded), requestFingerprint(base));
  assert.notEqual(requestFingerprint({ ...base, name: 'b' }), requestFingerprint(base));
  assert.notEqual(
    requestFingerprint({ ...base, corpus: { text: 'hello worlds' } }),
    requestFingerprint(base),
  );
});

test('a claim reads back as job id and fingerprint; a claim stored before fingerprints has none', () => {
  assert.deepEqual(parseIdempotencyClaim(idempotencyClaim('job_x', 'f00')), {
    id: 'job_x',
    fingerprint: 'f00',
  });
  assert.deepEqual(parseIdempotencyClaim('job_x'), { id: 'job_x', fingerprint: undefined });
  assert.equal(parseIdempotencyClaim(null), undefined);
});
