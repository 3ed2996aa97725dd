import assert from 'node:assert/strict';
import { test } from 'node:test';

import { z } from 'zod';

import { invalidRequest, MAX_LISTED_FIELDS, toErrorBody } from '../../../src/api/errors.js';
import { errors, redactPaths } from '../../../src/errors.js';

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
    errors.corrupt('/srv/rnnlm/data/models/mdl_1/weights.bin', 'weights.bin', 'sha256 mismatch'),
  );
  assert.equal(corrupt.message, 'weights.bin: sha256 mismatch');
});

test("an unknown route is answered through the error body, its path (the client's own) whole", () => {
  assert.deepEqual(toErrorBody(errors.routeNotFound('POST', '/models/mdl_1/no/such')), {
    statusCode: 404,
    code: 'RNNLM_ROUTE_NOT_FOUND',
    error: 'Not Found',
    message: 'Route POST /models/mdl_1/no/such not found',
  });
});

test('one failure, one message: a model not found by id or in its directory says the same', () => {
  const byId = toErrorBody(errors.modelNotFound('mdl_1'));
  const byDir = toErrorBody(errors.modelNotFound('/srv/rnnlm/data/models/mdl_1'));
  assert.deepEqual(byDir, byId);
  assert.deepEqual(byId, {
    statusCode: 404,
    code: 'RNNLM_MODEL_NOT_FOUND',
    error: 'Not Found',
    message: 'model mdl_1 not found',
  });
});

test('the registry merges its modules without one factory hiding another of the same name', async () => {
  const modules = await Promise.all([
    import('../../../src/errors/service.js').then((m) => m.serviceErrors),
    import('../../../src/errors/engine.js').then((m) => m.engineErrors),
    import('../../../src/errors/files.js').then((m) => m.fileErrors),
  ]);
  const names = modules.flatMap((m) => Object.keys(m));
  assert.equal(new Set(names).size, names.length, 'a factory name is declared twice');
  assert.equal(Object.keys(errors).length, names.length);
});
