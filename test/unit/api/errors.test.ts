import assert from 'node:assert/strict';
import { test } from 'node:test';

import { z } from 'zod';

import { invalidRequest, MAX_LISTED_FIELDS, toErrorBody } from '../../../src/api/errors.js';
import { RnnlmError, redactPaths } from '../../../src/errors.js';

test('absolute paths in messages are cut to their last part; routes and patterns are left alone', () => {
  assert.equal(
    redactPaths('/tmp/rnnlm-x/models/mdl_1/weights.bin: sha256 mismatch'),
    'weights.bin: sha256 mismatch',
  );
  assert.equal(
    redactPaths("ENOSPC: no space left on device, open '/data/corpora/.x.tmp'"),
    "ENOSPC: no space left on device, open '.x.tmp'",
  );
  assert.equal(redactPaths('Route GET /jobs/x not found'), 'Route GET /jobs/x not found');
  assert.equal(redactPaths('must match /^job_[a-z0-9]{26}$/'), 'must match /^job_[a-z0-9]{26}$/');
});

test('a 400 lists the first fields and counts the rest; a corrupt model names its file only', () => {
  const schema = z.object({}).strict();
  const input = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, 1]));
  const error = schema.safeParse(input).error;
  assert.ok(error !== undefined);
  const body = toErrorBody(invalidRequest('body', error));
  assert.equal(body.fields?.length, MAX_LISTED_FIELDS);
  assert.match(body.message, /; and 480 more$/);

  const corrupt = toErrorBody(
    new RnnlmError('RNNLM_ARTIFACT_CORRUPT', '/srv/rnnlm/data/models/mdl_1/weights.bin: sha256 mismatch'),
  );
  assert.equal(corrupt.message, 'weights.bin: sha256 mismatch');
});
